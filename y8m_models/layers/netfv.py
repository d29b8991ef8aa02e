"""NetFV, the learnable Fisher vector (Miech, Laptev, Sivic 2017, arXiv 1706.06905): first- and second-order
statistics of the frames around K learned clusters, weighted by their soft assignments.

``FV1(j, k) = sum_i a_k(x_i) (x_i(j) - c_k(j)) / s_k(j)`` and
``FV2(j, k) = sum_i a_k(x_i) [((x_i(j) - c_k(j)) / s_k(j))^2 - 1]`` over the valid frames i, with ``a_k`` the soft
assignment (``layers.soft_assignment``), free centres ``c_k`` and per-dimension deviations
``s_k = sigma_k^2 + 1e-6`` (``sigma`` free, starting near 1, so that ``s`` stays positive). The classical Fisher
vector's mixture weights and its 1/sqrt(pi_k), 1/sqrt(2) factors are not used (WILLOW's models do not).

The first-order half is intra-normalised (each cluster's D-vector to unit L2 norm), flattened and L2-normalised;
the second-order half is flattened and L2-normalised only (as WILLOW's released model: the paper's own text on
the normalisation could not be read here). The halves are concatenated: [B, 2 K D].

Shape suffixes: B batch, T frames, D features, K clusters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.layers.soft_assignment import SoftAssignment


class NetFV(nn.Module):
    """(x [B, T, D], valid [B, T]) -> ([B, 2 * K * D]: the first-order half, then the second-order half; the soft
    assignments [B, T, K])."""

    def __init__(self, features: int, clusters: int):
        super().__init__()
        self.assignment = SoftAssignment(features, clusters)
        self.centers = nn.Parameter(torch.randn(clusters, features) * features ** -0.5)
        self.sigma = nn.Parameter(1.0 + torch.randn(clusters, features) * features ** -0.5)
        self.out_features = 2 * clusters * features

    def deviations(self) -> torch.Tensor:
        """s [K, D]: the per-cluster, per-dimension deviations the residuals are divided by."""
        return self.sigma.float() ** 2 + 1e-6

    def forward(self, x_BTD: torch.Tensor, valid_BT: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a_BTK = self.assignment(x_BTD, valid_BT)
        x_BTD = x_BTD.float()
        c_KD, s_KD = self.centers.float(), self.deviations()
        mass_BK1 = a_BTK.sum(dim=1)[..., None]
        ax_BKD = torch.einsum("btk,btd->bkd", a_BTK, x_BTD)
        axx_BKD = torch.einsum("btk,btd->bkd", a_BTK, x_BTD * x_BTD)
        first_BKD = (ax_BKD - mass_BK1 * c_KD) / s_KD
        # sum_i a (x - c)^2 = sum_i a x^2 - 2 c sum_i a x + c^2 sum_i a
        second_BKD = (axx_BKD - 2 * c_KD * ax_BKD + mass_BK1 * c_KD ** 2) / s_KD ** 2 - mass_BK1
        first_BF = F.normalize(F.normalize(first_BKD, dim=-1).flatten(1), dim=-1)
        return torch.cat([first_BF, F.normalize(second_BKD.flatten(1), dim=-1)], dim=-1), a_BTK
