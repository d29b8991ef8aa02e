"""The cascade layer (paper Section 7, Fig. 6; catalog §4.12).

Other models' predictions for the same videos become an input: M prediction streams are averaged with
learned softmax weights, ``q = sum_m softmax(w)_m P_m``, then projected, ``d = L2norm(ReLU(W q + b))``, and
the model concatenates ``d`` to its representation (or to every Chaining stage's input) before its MoE.
With one stream the average is that stream. ``normalize=False`` is the zt variant (ReLU only, catalog
§4.12), used by the zt cascade entries except #51 and #74. ``l1_input=True`` is #74's "L1-normalised
prediction as input": ``q / sum_c q_c`` before the projection.

Shape suffixes: B batch, M streams, C classes, P projection.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Cascade(nn.Module):
    """Prediction streams [B, M, C] -> projection [B, P]; ``stream_weights()`` for inspection."""

    def __init__(self, num_classes: int, streams: int, projection: int = 256, normalize: bool = True,
                 l1_input: bool = False):
        super().__init__()
        if streams < 1 or projection < 1:
            raise ValueError(f"Cascade needs streams >= 1 and projection >= 1, got {streams} and {projection}")
        self.logits = nn.Parameter(torch.zeros(streams))  # equal weights to start with
        self.projection = nn.Linear(num_classes, projection)
        self.normalize, self.l1_input = normalize, l1_input
        self.out_features = projection

    def stream_weights(self) -> torch.Tensor:
        return self.logits.softmax(dim=0)

    def forward(self, predictions_BMC: torch.Tensor) -> torch.Tensor:
        if predictions_BMC.dim() != 3 or predictions_BMC.shape[1] != self.logits.numel():
            raise ValueError(f"expected {self.logits.numel()} prediction streams [B, M, C], got shape "
                             f"{tuple(predictions_BMC.shape)}")
        q_BC = torch.einsum("m,bmc->bc", self.stream_weights(), predictions_BMC)
        if self.l1_input:
            # Probabilities are >= 0, so the L1 norm is the sum; the floor keeps an all-zero row at zero.
            q_BC = q_BC / q_BC.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        d_BP = F.relu(self.projection(q_BC))
        return F.normalize(d_BP, dim=-1) if self.normalize else d_BP
