"""Shifted-concat temporal convolution (paper Section 5, Fig. 4; catalog §4.6).

For each width w, every frame t is represented by the concatenation ``[x_t, x_{t-1}, ..., x_{t-w+1}]``
(zeros before the first frame) times a ``(w*D) x n_w`` matrix, without bias or activation; the outputs of
all widths are concatenated on the channel axis. That is a causal 1-D convolution of kernel w with w-1
zeros of front padding; its weights are kept as ``nn.Conv1d`` weights (kernel tap j multiplies
``x_{t-(w-1)+j}``, i.e. the authors' matrix with its w row blocks in reverse order).

It is computed as one matrix product of the frames with every tap of every width, then each tap's output
shifted in time and summed: the same products as the convolution, without its layout conversions, which at
the tiny preset's few channels took 80% of a #18 step on the CPU (BENCHMARKS.md, "The training engine").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ShiftedConcatCNN(nn.Module):
    """[B, T, D] -> [B, T, sum(channels)]; ``channels[i]`` filters of width ``widths[i]``."""

    def __init__(self, in_features: int, widths: Sequence[int] = (1, 2, 3), channels: Sequence[int] = (1024,) * 3):
        super().__init__()
        if len(widths) != len(channels) or min(widths) < 1 or min(channels) < 1:
            raise ValueError(f"widths {tuple(widths)} and channels {tuple(channels)} must be positive and pair up")
        self.widths = tuple(widths)
        self.convs = nn.ModuleList(nn.Conv1d(in_features, n, w, bias=False)
                                   for w, n in zip(widths, channels, strict=True))
        for conv in self.convs:  # the authors' truncated normal, sigma 0.1
            nn.init.trunc_normal_(conv.weight, std=0.1, a=-0.2, b=0.2)

    def forward(self, x_BTD: torch.Tensor) -> torch.Tensor:
        steps = x_BTD.shape[1]
        # K = sum over widths of w * n_w: every tap's filters, width by width, tap 0 first
        taps_KD = torch.cat([conv.weight[:, :, j] for w, conv in zip(self.widths, self.convs, strict=True)
                             for j in range(w)])
        z_BTK = F.linear(x_BTD, taps_KD)
        outs, k = [], 0
        for w, conv in zip(self.widths, self.convs, strict=True):
            n, y_BTN = conv.out_channels, None
            for j in range(w):  # tap j sees frame t - (w - 1 - j): its output moves that many frames later
                z_BTN, shift = z_BTK[..., k:k + n], w - 1 - j
                k += n
                if shift:
                    z_BTN = F.pad(z_BTN, (0, 0, shift, 0))[:, :steps]
                y_BTN = z_BTN if y_BTN is None else y_BTN + z_BTN
            outs.append(y_BTN)
        return torch.cat(outs, dim=-1)
