"""Batch normalisation over the valid frames of a sequence (the multi-scale CNN-LSTM of #16/#17 after each
convolution, catalog §4.6; DBoF's frame projections, Table 2).

Batch statistics come from the valid frames only and padding comes out 0, so that how much a batch is padded
changes nothing. [DIFF-detail] The authors' slim ``batch_norm`` also counts the padding. Centre and scale,
epsilon 1e-3 as slim; moving averages with momentum 0.01 rather than slim's decay 0.999 (momentum 0.001),
which needs thousands of steps before evaluation statistics settle: more than the tiny and small presets run.

Under DDP (``y8m_models.distributed``) the statistics are those of the whole batch, all ranks' frames: each
sum is all-reduced (differentiably, so the gradient through them is the single process's too).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
from torch import nn


class MaskedBatchNorm(nn.Module):
    """(x [B, T, N], valid [B, T]) -> [B, T, N] normalised, 0 on padding."""

    def __init__(self, channels: int, eps: float = 1e-3, momentum: float = 0.01, warm_start: bool = False):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        # warm_start: the n-th update (from 0) moves the averages by max(momentum, 1 / (n + 1)), so they are the
        # plain mean of the batches seen until 1 / momentum of them, and then the moving average: evaluation
        # statistics are those of the data from the first update on, not a blend with the start's 0 and 1.
        self.register_buffer("batches_seen", torch.zeros((), dtype=torch.long) if warm_start else None)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args) -> None:
        # DBoF's video-level norm was an nn.BatchNorm1d, whose checkpoints also hold a step counter.
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def per_video(self, x_BN: torch.Tensor) -> torch.Tensor:
        """[B, N] -> [B, N]: one vector per video, every video counted (a sequence of length 1 each)."""
        every_B1 = torch.ones_like(x_BN[:, :1], dtype=torch.bool)
        return self(x_BN[:, None], every_B1)[:, 0]

    def forward(self, x_BTN: torch.Tensor, valid_BT: torch.Tensor) -> torch.Tensor:
        valid_BT1 = valid_BT[..., None].to(x_BTN.dtype)
        if self.training:
            sums = _over_ranks(torch.cat([(x_BTN * valid_BT1).sum(dim=(0, 1)), valid_BT1.sum()[None]]))
            count = sums[-1]
            mean_N = sums[:-1] / count.clamp(min=1)
            var_N = _over_ranks(((x_BTN - mean_N) ** 2 * valid_BT1).sum(dim=(0, 1))) / count.clamp(min=1)
            with torch.no_grad():  # no update from a batch with fewer than 2 valid frames (no host sync)
                keep = count < 2
                unbiased_N = var_N * count / (count - 1).clamp(min=1)
                momentum = self.momentum
                if self.batches_seen is not None:
                    momentum = torch.clamp(1.0 / (self.batches_seen + 1).to(self.running_mean.dtype), min=self.momentum)
                    self.batches_seen += (~keep).long()
                self.running_mean.lerp_(torch.where(keep, self.running_mean, mean_N), momentum)
                self.running_var.lerp_(torch.where(keep, self.running_var, unbiased_N), momentum)
        else:
            mean_N, var_N = self.running_mean, self.running_var
        normalized_BTN = (x_BTN - mean_N) * torch.rsqrt(var_N + self.eps)
        return (normalized_BTN * self.weight + self.bias) * valid_BT1


def _over_ranks(sum_N: torch.Tensor) -> torch.Tensor:
    """The sum over the DDP ranks (differentiable); itself in one process."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return funcol.all_reduce(sum_N, "sum", dist.group.WORLD)  # with its backward: the gradients' sum
    return sum_N
