"""NetVLAD and NetRVLAD pooling (Arandjelović et al. 2016; Miech, Laptev, Sivic 2017, arXiv 1706.06905): the
frames' residuals to K learned cluster centres, summed with their soft assignments.

NetVLAD: ``V(j, k) = sum_i a_k(x_i) (x_i(j) - c_k(j))`` over the valid frames i, with ``a_k`` the soft assignment
(``layers.soft_assignment``) and the centres ``c_k`` free parameters. NetRVLAD ("residual-less") drops the
centres: ``V(j, k) = sum_i a_k(x_i) x_i(j)``. Both are then intra-normalised (each cluster's D-vector to unit
L2 norm), flattened and L2-normalised as a whole: [B, K * D]. A video without frames pools to zeros.

Shape suffixes: B batch, T frames, D features, K clusters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.layers.soft_assignment import SoftAssignment


class NetVLAD(nn.Module):
    """(x [B, T, D], valid [B, T]) -> ([B, K * D] cluster-major: the D values of cluster 0 first; the soft
    assignments [B, T, K], 0 on padding). ``residual=False``: NetRVLAD."""

    def __init__(self, features: int, clusters: int, residual: bool = True):
        super().__init__()
        self.assignment = SoftAssignment(features, clusters)
        # WILLOW's initialisation: N(0, 1/sqrt(D)), not tied to the assignment weights.
        self.centers = nn.Parameter(torch.randn(clusters, features) * features ** -0.5) if residual else None
        self.out_features = clusters * features

    def forward(self, x_BTD: torch.Tensor, valid_BT: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a_BTK = self.assignment(x_BTD, valid_BT)
        v_BKD = torch.einsum("btk,btd->bkd", a_BTK, x_BTD.float())
        if self.centers is not None:  # sum_i a_k (x_i - c_k) = sum_i a_k x_i - (sum_i a_k) c_k
            v_BKD = v_BKD - a_BTK.sum(dim=1)[..., None] * self.centers.float()
        return F.normalize(F.normalize(v_BKD, dim=-1).flatten(1), dim=-1), a_BTK
