"""NeXtVLAD pooling (Lin, Xiao, Fan 2018, arXiv 1811.05014): NetVLAD over G low-dimensional groups of an
expanded frame, each group weighted by an attention.

Each frame ``x_i`` (N features) is expanded to ``xe_i = W_e x_i + b_e`` (lambda N) and split into G groups
``xg_i^g`` of lambda N / G. Per frame and group, an attention ``alpha_g(xe_i) = sigmoid(w_g^T xe_i + b_g)`` and a
soft assignment over the K clusters ``alpha_gk(xe_i) = softmax_k(w_gk^T xe_i)`` (both read the whole expanded
frame); then ``y(j, k) = sum_i sum_g alpha_g(xe_i) alpha_gk(xe_i) (xg_i^g(j) - c_k(j))`` over the valid frames,
with K centres shared by the groups. Each cluster's vector is L2-normalised (intra-normalisation) and the result
flattened: [B, K * lambda N / G]. [DIFF-detail] As for NetVLAD (``layers.soft_assignment``), the assignment
logits are batch-normalised over the valid frames in place of a bias, as the released model does.

Parameters: lambda N (N + 1) expansion, (lambda N + 1) G attention, lambda N G K assignment (+ 2 G K of its batch
norm), K lambda N / G centres.

Shape suffixes: B batch, T frames, N features, E = lambda N expanded, G groups, M = E / G group width, K clusters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.layers.masked_batch_norm import MaskedBatchNorm


class NeXtVLAD(nn.Module):
    """(x [B, T, N], valid [B, T]) -> ([B, K * M], group attention [B, T, G], assignments [B, T, G, K]) with
    M = expansion * N / groups; attention and assignments are 0 on padding (for the attention gallery)."""

    def __init__(self, features: int, clusters: int, expansion: int = 2, groups: int = 8):
        super().__init__()
        expanded = expansion * features
        if min(features, clusters, expansion, groups) < 1 or expanded % groups:
            raise ValueError(f"NeXtVLAD needs positive sizes and groups dividing expansion * features, got "
                             f"features={features}, expansion={expansion}, groups={groups}, clusters={clusters}")
        self.groups, self.clusters, self.width = groups, clusters, expanded // groups
        self.expand = nn.Linear(features, expanded)
        self.attention = nn.Linear(expanded, groups)
        self.assign = nn.Linear(expanded, groups * clusters, bias=False)
        self.assign_norm = MaskedBatchNorm(groups * clusters, warm_start=True)
        self.centers = nn.Parameter(torch.randn(clusters, self.width) * self.width ** -0.5)
        self.out_features = clusters * self.width

    def forward(self, x_BTN: torch.Tensor,
                valid_BT: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t = x_BTN.shape[:2]
        xe_BTE = self.expand(x_BTN)
        alpha_BTG = torch.sigmoid(self.attention(xe_BTE).float()) * valid_BT[..., None]
        logits_BTGK = self.assign_norm(self.assign(xe_BTE), valid_BT).float().view(b, t, self.groups, self.clusters)
        a_BTGK = logits_BTGK.softmax(dim=-1) * alpha_BTG[..., None]
        xg_BTGM = xe_BTE.float().view(b, t, self.groups, self.width)
        y_BKM = torch.einsum("btgk,btgm->bkm", a_BTGK, xg_BTGM) - a_BTGK.sum(dim=(1, 2))[..., None] * self.centers
        return F.normalize(y_BKM, dim=-1).flatten(1), alpha_BTG, a_BTGK
