"""The sigmoid+softmax split head (paper App. A.6, #29.4 "predicts infrequent labels with softmax"; catalog
§4.5, the authors' zt ``MoeSoftmaxModel``).

Labels are ordered by training frequency, so the first F are the frequent ones. Those get an ordinary
sigmoid MoE (``layers/moe.py``). The infrequent labels [F, C) plus one "none of them" slot, P = C - F + 1
positions, get a mixture of K softmaxes: per position n a gate softmax over K experts plus a dummy expert
(as in the MoE), and each expert k a softmax across the P positions,
``q_n = sum_{k<K} softmax(G_n)_k * softmax_n(E_k)_n``, renormalised to sum 1 over n (the dummy expert
leaves the mixture short of 1). The "none" slot (last) is dropped from the class probabilities; the full
distribution is what a softmax loss trains.

Shape suffixes: N any leading dimensions (videos), C classes, P infrequent positions (C - F + 1), K experts.
"""

from __future__ import annotations

import torch
from torch import nn

from y8m_models.layers.moe import MoE


class SigmoidSoftmaxMoE(nn.Module):
    """x [..., D] -> probabilities [..., C]; ``distribution`` also gives the infrequent softmax [..., P]."""

    def __init__(self, in_features: int, num_classes: int, num_mixtures: int, frequent_classes: int):
        super().__init__()
        if not 1 <= frequent_classes < num_classes:
            raise ValueError(f"frequent_classes must be in [1, {num_classes - 1}] for {num_classes} classes, "
                             f"got {frequent_classes}")
        self.num_classes, self.num_mixtures, self.frequent_classes = num_classes, num_mixtures, frequent_classes
        self.positions = num_classes - frequent_classes + 1  # the infrequent labels and the "none" slot
        self.frequent = MoE(in_features, frequent_classes, num_mixtures)
        # Laid out position-major like the MoE: gate row n*(K+1)+k, expert row n*K+k.
        self.gates = nn.Linear(in_features, self.positions * (num_mixtures + 1), bias=False)
        self.experts = nn.Linear(in_features, self.positions * num_mixtures)
        nn.init.xavier_uniform_(self.gates.weight)
        nn.init.xavier_uniform_(self.experts.weight)
        nn.init.zeros_(self.experts.bias)

    def start_at(self, prior_C: torch.Tensor) -> None:
        """The frequent labels' MoE starts at their priors (``MoE.start_at``); the infrequent softmax as it is."""
        self.frequent.start_at(prior_C[: self.frequent_classes])

    def distribution(self, x_ND: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(class probabilities [..., C], infrequent distribution [..., P] with the none slot last, sums to 1)."""
        lead, K = x_ND.shape[:-1], self.num_mixtures
        gates_NPK1 = self.gates(x_ND).float().view(*lead, self.positions, K + 1).softmax(dim=-1)
        experts_NPK = self.experts(x_ND).float().view(*lead, self.positions, K).softmax(dim=-2)  # across positions
        mixture_NP = (gates_NPK1[..., :K] * experts_NPK).sum(dim=-1)
        infrequent_NP = mixture_NP / mixture_NP.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        return torch.cat([self.frequent(x_ND), infrequent_NP[..., :-1]], dim=-1), infrequent_NP

    def forward(self, x_ND: torch.Tensor) -> torch.Tensor:
        return self.distribution(x_ND)[0]
