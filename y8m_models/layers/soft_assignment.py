"""Soft assignment of frames to K learned clusters: the first step of NetVLAD, NetRVLAD, NetFV and Soft-DBoF
(Arandjelović et al. 2016; Miech, Laptev, Sivic 2017, arXiv 1706.06905).

``a_k(x_i) = exp(w_k^T x_i + b_k) / sum_k' exp(w_k'^T x_i + b_k')``, a softmax over the clusters for every frame.
[DIFF-detail] The papers write the bias ``b_k``; WILLOW's released models batch-normalise the logits ``w_k^T x_i``
instead (learned scale and shift), which spreads them from the first step: so do we, over the valid frames only
(``MaskedBatchNorm``), so that padding changes nothing. Padded frames get weight 0.
"""

from __future__ import annotations

import torch
from torch import nn

from y8m_models.layers.masked_batch_norm import MaskedBatchNorm


class SoftAssignment(nn.Module):
    """(x [B, T, D], valid [B, T]) -> a [B, T, K]: each valid frame's weights over the K clusters (sum 1), 0 on
    padding."""

    def __init__(self, features: int, clusters: int):
        super().__init__()
        if min(features, clusters) < 1:
            raise ValueError(f"SoftAssignment needs positive sizes, got features={features}, clusters={clusters}")
        self.logits = nn.Linear(features, clusters, bias=False)  # the batch norm's shift is the bias
        self.norm = MaskedBatchNorm(clusters, warm_start=True)
        nn.init.normal_(self.logits.weight, std=features ** -0.5)

    def forward(self, x_BTD: torch.Tensor, valid_BT: torch.Tensor) -> torch.Tensor:
        e_BTK = self.norm(self.logits(x_BTD), valid_BT).float()  # weights in float32 under any autocast
        return e_BTK.softmax(dim=-1) * valid_BT[..., None]
