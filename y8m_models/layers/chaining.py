"""Chaining (paper Section 3, Fig. 2; catalog §4.4, the authors' wh "Deep Combine Chain").

A chain of S + 1 MoE units. Unit t sees a feature vector and the projections of all earlier units'
predictions: ``p_t = MoE_t([f_t; r_0; ...; r_{t-1}])`` with ``r_t = L2norm(ReLU(W_t p_t + b_t))`` of P
dimensions. The last unit's prediction is the output; the S earlier ones feed the auxiliary loss
(catalog §4.7). With one feature for every unit this is exactly the authors' DCC, where the stage input
grows as ``s_{t+1} = [s_t; r_t]``; a separate feature per unit is the paper's chain of heterogeneous
representations (e.g. #21: a separate LSTM per stage). The zt variant (§4.5: ELU projections of p and
1 - p, used by #1 and #29) is not implemented yet.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.layers.moe import MoE


class Chaining(nn.Module):
    """feature [B, D] (or one per unit, S + 1 of them) -> (predictions [B, C], stage predictions [B, S, C])."""

    def __init__(self, in_features: int | Sequence[int], num_classes: int, num_mixtures: int, stages: int,
                 projection: int):
        super().__init__()
        if stages < 1 or projection < 1:
            raise ValueError(f"Chaining needs stages >= 1 and projection >= 1, got {stages} and {projection}")
        widths = [in_features] * (stages + 1) if isinstance(in_features, int) else list(in_features)
        if len(widths) != stages + 1:
            raise ValueError(f"{stages} stages need {stages + 1} feature widths (one per MoE), got {len(widths)}")
        self.stages = stages
        self.stage_moes = nn.ModuleList(MoE(w + t * projection, num_classes, num_mixtures)
                                        for t, w in enumerate(widths[:-1]))
        self.projections = nn.ModuleList(nn.Linear(num_classes, projection) for _ in range(stages))
        self.final_moe = MoE(widths[-1] + stages * projection, num_classes, num_mixtures)

    def forward(self, features: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        per_unit = [features] * (self.stages + 1) if isinstance(features, torch.Tensor) else list(features)
        if len(per_unit) != self.stages + 1:
            raise ValueError(f"expected {self.stages + 1} features (one per MoE), got {len(per_unit)}")
        projected: list[torch.Tensor] = []
        stage_predictions = []
        for f_BD, moe, projection in zip(per_unit[:-1], self.stage_moes, self.projections, strict=True):
            p_BC = moe(torch.cat([f_BD, *projected], dim=-1))
            stage_predictions.append(p_BC)
            projected.append(F.normalize(F.relu(projection(p_BC)), dim=-1))
        final_BC = self.final_moe(torch.cat([per_unit[-1], *projected], dim=-1))
        return final_BC, torch.stack(stage_predictions, dim=1)
