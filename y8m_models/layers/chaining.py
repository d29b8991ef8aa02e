"""Chaining (paper Section 3, Fig. 2; catalog §4.4, the authors' wh "Deep Combine Chain").

A chain of S + 1 MoE units. Unit t sees a feature vector and the projections of all earlier units'
predictions: ``p_t = MoE_t([f_t; r_0; ...; r_{t-1}])`` with ``r_t = L2norm(ReLU(W_t p_t + b_t))`` of P
dimensions. The last unit's prediction is the output; the S earlier ones feed the auxiliary loss
(catalog §4.7). With one feature for every unit this is exactly the authors' DCC, where the stage input
grows as ``s_{t+1} = [s_t; r_t]``; a separate feature per unit is the paper's chain of heterogeneous
representations (e.g. #21: a separate LSTM per stage).

``ComplementChaining`` is the authors' zt variant (§4.5, #1 and #29): after ``p_0 = MoE_0(x)`` each stage
appends two ELU projections, of ``p_i`` and of ``1 - p_i`` (or, for #29.3, of the vertical-aggregated
``p_i V``), each L2-normalised and scaled by ``sqrt(P / D)`` for video-level input, and predicts
``p_{i+1} = MoE_{i+1}(running input)``. Its units come from a head factory ``(in_features, num_classes,
num_mixtures) -> module`` (MoE by default; #29.4 puts the sigmoid+softmax split head in every unit), and
``running_input`` exposes the final unit's input for heads that read it (#29.3's vertical head).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.layers.moe import MoE


class Chaining(nn.Module):
    """feature [B, D] (or one per unit, S + 1 of them) -> (predictions [B, C], stage predictions [B, S, C])."""

    def __init__(self, in_features: int | Sequence[int], num_classes: int, num_mixtures: int, stages: int,
                 projection: int, aux_dropout: float = 0.0):
        super().__init__()
        if stages < 1 or projection < 1:
            raise ValueError(f"Chaining needs stages >= 1 and projection >= 1, got {stages} and {projection}")
        if not 0.0 <= aux_dropout < 1.0:
            raise ValueError(f"aux_dropout must be in [0, 1), got {aux_dropout}")
        widths = [in_features] * (stages + 1) if isinstance(in_features, int) else list(in_features)
        if len(widths) != stages + 1:
            raise ValueError(f"{stages} stages need {stages + 1} feature widths (one per MoE), got {len(widths)}")
        self.stages = stages
        self.stage_moes = nn.ModuleList(MoE(w + t * projection, num_classes, num_mixtures)
                                        for t, w in enumerate(widths[:-1]))
        self.projections = nn.ModuleList(nn.Linear(num_classes, projection) for _ in range(stages))
        self.final_moe = MoE(widths[-1] + stages * projection, num_classes, num_mixtures)
        # The authors' DCC ``--dropout``: dropout on each auxiliary MoE's input only (the chain itself and the
        # main MoE see the undropped features); active in training mode only.
        self.aux_dropout = nn.Dropout(aux_dropout)

    def forward(self, features: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        per_unit = [features] * (self.stages + 1) if isinstance(features, torch.Tensor) else list(features)
        if len(per_unit) != self.stages + 1:
            raise ValueError(f"expected {self.stages + 1} features (one per MoE), got {len(per_unit)}")
        projected: list[torch.Tensor] = []
        stage_predictions = []
        for f_BD, moe, projection in zip(per_unit[:-1], self.stage_moes, self.projections, strict=True):
            p_BC = moe(self.aux_dropout(torch.cat([f_BD, *projected], dim=-1)))
            stage_predictions.append(p_BC)
            projected.append(F.normalize(F.relu(projection(p_BC)), dim=-1))
        final_BC = self.final_moe(torch.cat([per_unit[-1], *projected], dim=-1))
        return final_BC, torch.stack(stage_predictions, dim=1)


class ComplementChaining(nn.Module):
    """x [B, D] -> (predictions [B, C], stage predictions [B, S, C]); S + 1 MoEs in all."""

    def __init__(self, in_features: int, num_classes: int, num_mixtures: int, stages: int, projection: int,
                 vertical_matrix: torch.Tensor | None = None, scale_to_input: bool = True,
                 head: Callable[[int, int, int], nn.Module] = MoE):
        super().__init__()
        if stages < 1 or projection < 1:
            raise ValueError(f"Chaining needs stages >= 1 and projection >= 1, got {stages} and {projection}")
        if vertical_matrix is not None and vertical_matrix.shape[0] != num_classes:
            raise ValueError(f"vertical_matrix has {vertical_matrix.shape[0]} rows, expected {num_classes} classes")
        self.register_buffer("vertical_CV", None if vertical_matrix is None else vertical_matrix.float())
        second = num_classes if vertical_matrix is None else vertical_matrix.shape[1]
        self.scale = (projection / in_features) ** 0.5 if scale_to_input else None
        self.moes = nn.ModuleList(head(in_features + 2 * t * projection, num_classes, num_mixtures)
                                  for t in range(stages + 1))
        self.from_p = nn.ModuleList(nn.Linear(num_classes, projection) for _ in range(stages))
        self.from_second = nn.ModuleList(nn.Linear(second, projection) for _ in range(stages))

    def _project(self, layer: nn.Linear, v: torch.Tensor) -> torch.Tensor:
        out = F.elu(layer(v))
        return out if self.scale is None else F.normalize(out, dim=-1) * self.scale

    def running_input(self, x_BD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, D] -> (the final unit's input [B, D + 2 S P], stage predictions [B, S, C])."""
        running = x_BD
        stage_predictions = []
        for moe, from_p, from_second in zip(self.moes[:-1], self.from_p, self.from_second, strict=True):
            p_BC = moe(running)
            stage_predictions.append(p_BC)
            second = 1 - p_BC if self.vertical_CV is None else p_BC @ self.vertical_CV
            running = torch.cat([running, self._project(from_p, p_BC), self._project(from_second, second)], dim=-1)
        return running, torch.stack(stage_predictions, dim=1)

    def forward(self, x_BD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        running, stage_predictions_BSC = self.running_input(x_BD)
        return self.moes[-1](running), stage_predictions_BSC
