"""Deep Bag of Frames, the paper's Table 2 "DBoF" baseline (Section 2; catalog §7: the authors' wh
``DbofModel``, the YouTube-8M starter code's defaults; no paper configuration number).

Each sampled frame is batch-normalised, projected to ``cluster_size`` units (no bias: batch norm supplies
the shift) with batch norm and ReLU6; the frames are max-pooled; the pooled vector goes through a
``hidden_size`` layer with batch norm and ReLU6, then an MoE.

Frames: while training, ``sample_frames`` frames are drawn uniformly with replacement from each video's
valid frames (the starter code's ``SampleRandomFrames``). At evaluation the model pools over all valid
frames instead, so predictions are deterministic; the starter code draws a random sample at evaluation too.

Padding: batch norm over frames computes its statistics over the valid frames only
(``layers.masked_batch_norm``, whose moving-average momentum is also used for the hidden layer's batch
norm), and pooling skips padding; a video with no frames pools to zeros.

Shape suffixes: B batch, T frames (all, or the samples), S samples, D features, H cluster or hidden units.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.architectures import (
    DBoFParams,
)
from y8m_models.layers.masked_batch_norm import MaskedBatchNorm
from y8m_models.layers.moe import MoE
from y8m_models.layers.temporal_pooling import max_over_time
from y8m_models.models.base import (
    ModelInputs,
    ModelOutput,
    frame_inputs,
    register,
    valid_mask,
)

# --- blocks ------------------------------------------------------------------------------------------------

def sample_frames(x_BTD: torch.Tensor, num_frames_B: torch.Tensor, samples: int) -> torch.Tensor:
    """[B, samples, D]: frames drawn uniformly with replacement from each video's valid ones (frame 0, which
    is padding, for a video without frames)."""
    draws_BS = torch.rand(x_BTD.shape[0], samples, device=x_BTD.device)
    index_BS = (draws_BS * num_frames_B.clamp(min=1)[:, None]).long().clamp(max=x_BTD.shape[1] - 1)
    return x_BTD.gather(1, index_BS[:, :, None].expand(-1, -1, x_BTD.shape[2]))


# --- model -------------------------------------------------------------------------------------------------

class DBoF(nn.Module):
    """frames [B, T, D] -> predictions [B, C]."""

    def __init__(self, feature_sizes: tuple[int, ...], num_classes: int, *, max_frames: int, normalize: str,
                 sample_frames: int, cluster_size: int, hidden_size: int, mixtures: int):
        super().__init__()
        self.max_frames, self.normalize, self.feature_sizes = max_frames, normalize, feature_sizes
        self.sample_count = sample_frames
        dim = sum(feature_sizes)
        self.input_norm = MaskedBatchNorm(dim)
        self.cluster = nn.Linear(dim, cluster_size, bias=False)
        self.cluster_norm = MaskedBatchNorm(cluster_size)
        self.hidden = nn.Linear(cluster_size, hidden_size, bias=False)
        self.hidden_norm = MaskedBatchNorm(hidden_size)  # every video counts: a sequence of length 1 each
        self.moe = MoE(hidden_size, num_classes, mixtures)
        # The starter code's initialisation: N(0, 1 / fan_in).
        nn.init.normal_(self.cluster.weight, std=dim ** -0.5)
        nn.init.normal_(self.hidden.weight, std=cluster_size ** -0.5)

    def forward(self, batch: dict) -> ModelOutput:
        x_BTD, num_frames_B = frame_inputs(batch, self.max_frames, self.normalize, self.feature_sizes)
        if self.training:
            x_BTD = sample_frames(x_BTD, num_frames_B, self.sample_count)
            # Every sample is a valid frame, except in a video that has none.
            num_frames_B = torch.where(num_frames_B > 0, self.sample_count, 0)
        valid_BT = valid_mask(num_frames_B, x_BTD.shape[1])
        h_BTH = F.relu6(self.cluster_norm(self.cluster(self.input_norm(x_BTD, valid_BT)), valid_BT))
        pooled_BH = max_over_time(h_BTH, num_frames_B)
        hidden_BH = F.relu6(self.hidden_norm.per_video(self.hidden(pooled_BH)))
        return ModelOutput(predictions=self.moe(hidden_BH))


# --- builder -----------------------------------------------------------------------------------------------

@register("dbof")
def _build_dbof(p: DBoFParams, inputs: ModelInputs) -> nn.Module:
    return DBoF(inputs.feature_sizes, inputs.num_classes, max_frames=p.max_frames, normalize=p.normalize,
                sample_frames=p.sample_frames, cluster_size=p.cluster_size, hidden_size=p.hidden_size,
                mixtures=p.mixtures)
