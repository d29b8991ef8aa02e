"""Mixture-of-experts classifier (paper Section 4; catalog §4.1, the authors' ``MoeModel``).

Per class l: a softmax gate over K experts plus a dummy expert whose output is always 0, and K logistic
experts: ``p_l = sum_{k<K} softmax(G_l)_k * sigmoid(E_{l,k})``. Gate logits have no bias, expert logits do.
Both weight matrices are laid out class-major (row ``l*(K+1)+k`` of the gate, ``l*K+k`` of the experts),
as in the authors' reshape, so a checkpoint's rows mean the same thing here.

``start_at(prior_C)`` sets the expert biases so that the untrained MoE predicts about ``prior_C`` (the label
frequencies) instead of the zero biases' K/(2(K+1)) for every class; see ``models.base.start_at_label_prior``.
"""

from __future__ import annotations

import torch
from torch import nn


class MoE(nn.Module):
    """[..., D] -> probabilities [..., C] (any leading dimensions: videos, or frames of videos)."""

    def __init__(self, in_features: int, num_classes: int, num_mixtures: int):
        super().__init__()
        if min(in_features, num_classes, num_mixtures) < 1:
            raise ValueError(f"MoE needs positive sizes, got in_features={in_features}, "
                             f"num_classes={num_classes}, num_mixtures={num_mixtures}")
        self.num_classes, self.num_mixtures = num_classes, num_mixtures
        self.gates = nn.Linear(in_features, num_classes * (num_mixtures + 1), bias=False)
        self.experts = nn.Linear(in_features, num_classes * num_mixtures)
        # The authors' slim default: Glorot-uniform weights, zero bias.
        nn.init.xavier_uniform_(self.gates.weight)
        nn.init.xavier_uniform_(self.experts.weight)
        nn.init.zeros_(self.experts.bias)

    @torch.no_grad()
    def start_at(self, prior_C: torch.Tensor) -> None:
        """Expert biases logit(prior * (K+1)/K): with the gates near uniform at initialisation (K real experts
        and the dummy), the output is then ~``prior_C``; priors above K/(K+1) are capped just below it."""
        share_C = (prior_C.to(self.experts.bias) * (self.num_mixtures + 1) / self.num_mixtures).clamp(1e-6, 0.99)
        self.experts.bias.copy_(torch.logit(share_C).repeat_interleave(self.num_mixtures))

    def forward(self, x_ND: torch.Tensor) -> torch.Tensor:
        lead = x_ND.shape[:-1]
        # probabilities in float32 under any autocast (numerics.py)
        gates_NCK1 = self.gates(x_ND).float().view(*lead, self.num_classes, self.num_mixtures + 1).softmax(dim=-1)
        experts_NCK = torch.sigmoid(self.experts(x_ND).float().view(*lead, self.num_classes, self.num_mixtures))
        return (gates_NCK1[..., : self.num_mixtures] * experts_NCK).sum(dim=-1)  # dummy expert adds 0


class Sigmoid32(nn.Sigmoid):
    """The logistic head's sigmoid, in float32 under any autocast (numerics.py)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x.float())
