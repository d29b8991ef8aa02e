"""Chaining (paper Section 5, Fig. 3; catalog §4.4, the authors' wh "Deep Combine Chain").

Stage t predicts ``p_t = MoE_t(s_t)``, projects it ``r_t = L2norm(ReLU(W_t p_t + b_t))`` to P dimensions and
appends it to its input, ``s_{t+1} = [s_t; r_t]``, so every later stage sees the representation and all
earlier projections; the final MoE predicts from ``s_S``. S auxiliary MoEs + 1 main MoE. The auxiliary
predictions feed the multitask loss (catalog §4.7). The zt variant (§4.5: ELU projections of p and 1 - p)
is not implemented yet.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.layers.moe import MoE


class Chaining(nn.Module):
    """[B, D] -> (predictions [B, C], stage predictions [B, S, C])."""

    def __init__(self, in_features: int, num_classes: int, num_mixtures: int, stages: int, projection: int):
        super().__init__()
        if stages < 1 or projection < 1:
            raise ValueError(f"Chaining needs stages >= 1 and projection >= 1, got {stages} and {projection}")
        widths = [in_features + t * projection for t in range(stages + 1)]
        self.stage_moes = nn.ModuleList(MoE(w, num_classes, num_mixtures) for w in widths[:-1])
        self.projections = nn.ModuleList(nn.Linear(num_classes, projection) for _ in range(stages))
        self.final_moe = MoE(widths[-1], num_classes, num_mixtures)

    def forward(self, x_BD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stage_predictions = []
        s_BD = x_BD
        for moe, projection in zip(self.stage_moes, self.projections, strict=True):
            p_BC = moe(s_BD)
            stage_predictions.append(p_BC)
            s_BD = torch.cat([s_BD, F.normalize(F.relu(projection(p_BC)), dim=-1)], dim=-1)
        return self.final_moe(s_BD), torch.stack(stage_predictions, dim=1)
