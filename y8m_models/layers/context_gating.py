"""Context Gating (Miech, Laptev, Sivic 2017, arXiv 1706.06905) and its squeeze-and-excitation form (NeXtVLAD,
Lin, Xiao, Fan 2018, arXiv 1811.05014).

Context Gating re-weights each activation by a gate computed from all of them: ``Y = sigmoid(W X + b) * X``
(element-wise product; W is N x N). WILLOW places one on the features a classifier reads and one on the classes'
probabilities it outputs (the label dependencies). [DIFF-detail] WILLOW's released models batch-normalise ``W X``
in place of the bias; the equation's bias is used here, so that a gate does not depend on the batch.

SE Context Gating (NeXtVLAD) computes the gate through a bottleneck of N / r units:
``Y = sigmoid(W2 relu(W1 X)) * X``. [DIFF-detail] The released NeXtVLAD batch-normalises ``W1 X``; not here,
for the same reason.

``GatedHead`` puts Context Gating before and/or after any classifier head (an MoE): the option
``model.context_gating`` of every single model with an MoE over the labels (``configs.build.build_model``). The
gate on the probabilities starts open (bias 4: ~0.98), so that a head started at the label frequencies
(``models.base.start_at_label_prior``) is not halved by it; [DIFF-detail] the released models start it at 0.5.

Shape suffixes: B batch (or any leading dimensions), N features, C classes.
"""

from __future__ import annotations

import torch
from torch import nn

from y8m_models.layers.moe import MoE


class ContextGating(nn.Module):
    """[..., N] -> [..., N]: ``sigmoid(W x + b) * x``."""

    def __init__(self, features: int):
        super().__init__()
        self.gate = nn.Linear(features, features)
        nn.init.normal_(self.gate.weight, std=features ** -0.5)  # WILLOW's initialisation
        nn.init.zeros_(self.gate.bias)

    def forward(self, x_BN: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.gate(x_BN).float()).to(x_BN.dtype) * x_BN


class SEContextGating(nn.Module):
    """[..., N] -> [..., N]: ``sigmoid(W2 relu(W1 x)) * x`` with a bottleneck of N // reduction units (no biases)."""

    def __init__(self, features: int, reduction: int):
        super().__init__()
        if not 1 <= reduction <= features:
            raise ValueError(f"SE context gating needs 1 <= reduction <= features, got {reduction} for {features}")
        self.squeeze = nn.Linear(features, features // reduction, bias=False)
        self.excite = nn.Linear(features // reduction, features, bias=False)

    def forward(self, x_BN: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.excite(torch.relu(self.squeeze(x_BN))).float()).to(x_BN.dtype) * x_BN


class GatedHead(nn.Module):
    """A classifier head ([..., N] -> probabilities [..., C]) with Context Gating on its input (``features``), on
    its output probabilities (``probabilities``), or both."""

    def __init__(self, head: nn.Module, in_features: int, num_classes: int, where: str):
        super().__init__()
        if where not in ("features", "probabilities", "both"):
            raise ValueError(f"context gating goes on 'features', 'probabilities' or 'both', not {where!r}")
        self.head = head
        self.features = ContextGating(in_features) if where in ("features", "both") else None
        self.probabilities = ContextGating(num_classes) if where in ("probabilities", "both") else None
        if self.probabilities is not None:  # starts open (gates ~0.98), so the MoE's start at the label prior stands
            nn.init.constant_(self.probabilities.gate.bias, 4.0)

    def forward(self, x_BN: torch.Tensor) -> torch.Tensor:
        p_BC = self.head(x_BN if self.features is None else self.features(x_BN))
        return p_BC if self.probabilities is None else self.probabilities(p_BC)


def gate_heads(model: nn.Module, where: str, num_classes: int) -> int:
    """Wrap every MoE of ``model`` that predicts the ``num_classes`` labels (Chaining stages and scales included;
    not the vertical head) in a ``GatedHead``; returns how many were wrapped. ``ValueError`` if none."""
    wrapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, MoE) and child.num_classes == num_classes:
                setattr(parent, name, GatedHead(child, child.gates.in_features, num_classes, where))
                wrapped += 1
    if not wrapped:
        raise ValueError(f"context_gating={where!r}: {type(model).__name__} has no MoE over the labels to gate")
    return wrapped
