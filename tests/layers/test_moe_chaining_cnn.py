"""Layers against their definitions in catalog §4.1, §4.4 and §4.6, written out the slow way."""

from __future__ import annotations

import pytest
import torch

from y8m_models.layers.chaining import Chaining, ComplementChaining
from y8m_models.layers.moe import MoE
from y8m_models.layers.temporal_cnn import ShiftedConcatCNN


def _moe_by_definition(moe: MoE, x_D: torch.Tensor) -> torch.Tensor:
    """p_l = sum_{k<K} softmax(G_l)_k * sigmoid(E_{l,k}); gate row l*(K+1)+k, expert row l*K+k."""
    K, C = moe.num_mixtures, moe.num_classes
    g = moe.gates.weight @ x_D
    e = moe.experts.weight @ x_D + moe.experts.bias
    out = torch.zeros(C, dtype=torch.float64)
    for c in range(C):
        gate = torch.softmax(g[c * (K + 1): (c + 1) * (K + 1)].double(), dim=0)
        for k in range(K):
            out[c] += gate[k] * torch.sigmoid(e[c * K + k].double())
    return out


def test_moe_matches_its_definition_with_any_leading_dims() -> None:
    torch.manual_seed(0)
    moe = MoE(6, 5, 3)
    x = torch.randn(2, 4, 6)
    p = moe(x)
    assert p.shape == (2, 4, 5) and ((p >= 0) & (p <= 1)).all()
    for b in range(2):
        for t in range(4):
            torch.testing.assert_close(p[b, t].double(), _moe_by_definition(moe, x[b, t]), atol=1e-6, rtol=0)


def test_moe_dummy_expert_pulls_towards_zero() -> None:
    moe = MoE(1, 2, 1)
    with torch.no_grad():
        moe.gates.weight.zero_()
        moe.gates.weight[1] = 50.0  # class 0: all gate mass on its dummy expert (row 0*(K+1)+1)
        moe.experts.weight.fill_(50.0)  # every expert says "yes"
    p = moe(torch.ones(1, 1)).detach()
    assert p[0, 0] < 1e-6 and float(p[0, 1]) == pytest.approx(0.5, abs=1e-6)  # class 1: gate split 50/50


def test_chaining_stages_see_all_earlier_projections() -> None:
    torch.manual_seed(1)
    chain = Chaining(in_features=6, num_classes=5, num_mixtures=2, stages=3, projection=4)
    assert [m.gates.in_features for m in chain.stage_moes] == [6, 10, 14]
    assert chain.final_moe.gates.in_features == 18
    x = torch.randn(3, 6)
    predictions, stages = chain(x)
    assert predictions.shape == (3, 5) and stages.shape == (3, 3, 5)
    # By hand: s_{t+1} = [s_t ; L2norm(ReLU(W_t p_t + b_t))]
    s = x
    for t in range(3):
        p = chain.stage_moes[t](s)
        torch.testing.assert_close(stages[:, t], p)
        r = torch.relu(chain.projections[t](p))
        s = torch.cat([s, r / r.norm(dim=-1, keepdim=True).clamp_min(1e-12)], dim=-1)
    torch.testing.assert_close(predictions, chain.final_moe(s))


def test_shifted_concat_cnn_is_the_concatenation_times_a_matrix() -> None:
    torch.manual_seed(2)
    cnn = ShiftedConcatCNN(3, widths=(1, 2, 3), channels=(2, 4, 5))
    x = torch.randn(2, 7, 3)
    y = cnn(x)
    assert y.shape == (2, 7, 11)
    col = 0
    for w, conv in zip((1, 2, 3), cnn.convs, strict=True):
        # The authors' matrix: row blocks for x_t, x_{t-1}, ..., x_{t-w+1} = the kernel taps reversed.
        matrix = torch.cat([conv.weight[:, :, w - 1 - j].T for j in range(w)], dim=0)  # [w*D, n]
        for t in range(7):
            shifted = [x[:, t - j] if t - j >= 0 else torch.zeros(2, 3) for j in range(w)]
            expected = torch.cat(shifted, dim=-1) @ matrix
            torch.testing.assert_close(y[:, t, col: col + conv.out_channels], expected, atol=1e-6, rtol=0)
        col += conv.out_channels


def test_layers_reject_bad_sizes() -> None:
    with pytest.raises(ValueError, match="num_mixtures=0"):
        MoE(4, 3, 0)
    with pytest.raises(ValueError, match="stages >= 1"):
        Chaining(4, 3, 2, stages=0, projection=8)
    with pytest.raises(ValueError, match="pair up"):
        ShiftedConcatCNN(4, widths=(1, 2), channels=(8,))


def test_chaining_units_can_take_their_own_features() -> None:
    torch.manual_seed(4)
    chain = Chaining(in_features=[6, 3], num_classes=5, num_mixtures=2, stages=1, projection=4)
    a, b = torch.randn(2, 6), torch.randn(2, 3)
    predictions, stages = chain([a, b])
    p0 = chain.stage_moes[0](a)
    r0 = torch.relu(chain.projections[0](p0))
    torch.testing.assert_close(stages[:, 0], p0)
    torch.testing.assert_close(predictions, chain.final_moe(torch.cat([b, r0 / r0.norm(dim=-1, keepdim=True)], -1)))
    with pytest.raises(ValueError, match="1 stages need 2 feature widths"):
        Chaining(in_features=[6], num_classes=5, num_mixtures=2, stages=1, projection=4)


@pytest.mark.parametrize("verticals", [False, True])
def test_complement_chaining_by_hand(verticals: bool) -> None:
    torch.manual_seed(5)
    v = (torch.rand(5, 3) > 0.5).float() if verticals else None
    chain = ComplementChaining(6, num_classes=5, num_mixtures=2, stages=2, projection=4, vertical_matrix=v)
    assert [m.gates.in_features for m in chain.moes] == [6, 14, 22]  # 2 projections of 4 per stage
    x = torch.randn(3, 6)
    predictions, stages = chain(x)
    assert stages.shape == (3, 2, 5)
    scale = (4 / 6) ** 0.5
    running, p = x, chain.moes[0](x)
    for t in range(2):
        torch.testing.assert_close(stages[:, t], p)
        second = p @ v if verticals else 1 - p
        u = torch.nn.functional.elu(chain.from_p[t](p))
        w = torch.nn.functional.elu(chain.from_second[t](second))
        u, w = (z / z.norm(dim=-1, keepdim=True) * scale for z in (u, w))
        running = torch.cat([running, u, w], dim=-1)
        p = chain.moes[t + 1](running)
    torch.testing.assert_close(predictions, p)
