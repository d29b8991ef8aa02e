"""Soft-DBoF, the soft bag of frames (Miech, Laptev, Sivic 2017, arXiv 1706.06905): a histogram of the frames'
soft assignments to K learned clusters.

``BoW(k) = sum_i a_k(x_i)`` over the valid frames (``layers.soft_assignment``), L2-normalised: [B, K].
``max_pool=True`` appends the max over frames of the same assignments, L2-normalised on its own: [B, 2K] (the
released models' option, off in their runs). A video without frames pools to zeros.

Shape suffixes: B batch, T frames, D features, K clusters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.layers.soft_assignment import SoftAssignment
from y8m_models.layers.temporal_pooling import max_over_time


class SoftDBoF(nn.Module):
    """(x [B, T, D], valid [B, T]) -> ([B, K] (or [B, 2K] with ``max_pool``), the soft assignments [B, T, K])."""

    def __init__(self, features: int, clusters: int, max_pool: bool = False):
        super().__init__()
        self.assignment = SoftAssignment(features, clusters)
        self.max_pool = max_pool
        self.out_features = clusters * (2 if max_pool else 1)

    def forward(self, x_BTD: torch.Tensor, valid_BT: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a_BTK = self.assignment(x_BTD, valid_BT)
        pooled = [F.normalize(a_BTK.sum(dim=1), dim=-1)]
        if self.max_pool:
            pooled.append(F.normalize(max_over_time(a_BTK, valid_BT.sum(dim=1)), dim=-1))
        return torch.cat(pooled, dim=-1), a_BTK
