"""NetVLAD, NetRVLAD, Soft-DBoF, NetFV, NeXtVLAD and Context Gating against their written definitions (the
layers' docstrings): each computed here again frame by frame and cluster by cluster, on a batch whose padding holds
garbage; padding invariance; parameter counts by formula."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from y8m_models.layers.context_gating import ContextGating, GatedHead, SEContextGating
from y8m_models.layers.moe import MoE
from y8m_models.layers.netfv import NetFV
from y8m_models.layers.netvlad import NetVLAD
from y8m_models.layers.nextvlad import NeXtVLAD
from y8m_models.layers.soft_assignment import SoftAssignment
from y8m_models.layers.soft_dbof import SoftDBoF

B, T, D, K = 3, 6, 5, 4
NUM_FRAMES = torch.tensor([6, 2, 0])


def _frames(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """x [B, T, D] with garbage past each video's length, and the valid mask."""
    torch.manual_seed(seed)
    x = torch.randn(B, T, D)
    valid = torch.arange(T)[None] < NUM_FRAMES[:, None]
    return x, valid


def _assignment(layer: SoftAssignment, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """a [B, T, K] by the definition, in evaluation mode: softmax_k of the batch-normalised w_k^T x_i."""
    norm = layer.norm
    e = (x @ layer.logits.weight.T - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps)
    return (e * norm.weight + norm.bias).softmax(dim=-1) * valid[..., None]


def _perturbed_running_stats(layer: torch.nn.Module) -> None:
    """Running statistics and norm parameters away from their start, so that the definition checks them."""
    torch.manual_seed(5)
    with torch.no_grad():
        for name, buffer in layer.named_buffers():
            if buffer.is_floating_point():  # not the count of batches seen
                buffer.copy_(torch.rand_like(buffer) + (0.5 if "var" in name else -0.5))
        for name, p in layer.named_parameters():
            if name.endswith(("norm.weight", "norm.bias")):
                p.copy_(torch.randn_like(p))


@pytest.mark.parametrize("residual", [True, False])
def test_netvlad_and_netrvlad_are_the_sum_of_assigned_residuals(residual: bool) -> None:
    x, valid = _frames()
    layer = NetVLAD(D, K, residual=residual).eval()
    _perturbed_running_stats(layer)
    a = _assignment(layer.assignment, x, valid)
    expected = torch.zeros(B, K, D)
    for b in range(B):
        for k in range(K):
            for i in range(int(NUM_FRAMES[b])):
                centre = layer.centers[k] if residual else 0.0
                expected[b, k] += a[b, i, k] * (x[b, i] - centre)
    expected = F.normalize(F.normalize(expected, dim=-1).flatten(1), dim=-1)
    out, assigned = layer(x, valid)
    torch.testing.assert_close(out, expected.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(assigned, a.detach())  # returned for the gallery
    assert out.shape == (B, K * D) and layer.out_features == K * D
    assert (out[2] == 0).all()  # a video without frames
    assert sum(p.numel() for p in layer.parameters()) == D * K + 2 * K + (K * D if residual else 0)


def _padding_invariant(layer: torch.nn.Module, call) -> None:
    """The same output (training and evaluation mode) with a longer padding full of other garbage."""
    x, valid = _frames()
    longer = torch.cat([x, 100 * torch.randn(B, 3, x.shape[2])], dim=1)
    longer_valid = torch.cat([valid, torch.zeros(B, 3, dtype=torch.bool)], dim=1)
    for training in (True, False):
        layer.train(training)
        torch.manual_seed(1)
        short_out = call(layer, x, valid)
        torch.manual_seed(1)
        torch.testing.assert_close(call(layer, longer, longer_valid), short_out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [lambda: NetVLAD(D, K), lambda: NetVLAD(D, K, residual=False),
                                  lambda: SoftDBoF(D, K, max_pool=True), lambda: NetFV(D, K)],
                         ids=["netvlad", "netrvlad", "soft_dbof", "netfv"])
def test_pooling_ignores_padding(make) -> None:
    _padding_invariant(make(), lambda layer, x, valid: layer(x, valid)[0])


def test_soft_dbof_is_the_histogram_of_assignments() -> None:
    x, valid = _frames()
    layer = SoftDBoF(D, K, max_pool=True).eval()
    _perturbed_running_stats(layer)
    a = _assignment(layer.assignment, x, valid)
    hist = torch.stack([sum((a[b, i] for i in range(int(NUM_FRAMES[b]))), torch.zeros(K)) for b in range(B)])
    peak = torch.stack([torch.stack([a[b, i] for i in range(int(n))]).amax(dim=0) if n else torch.zeros(K)
                        for b, n in enumerate(NUM_FRAMES)])
    out = layer(x, valid)[0]
    torch.testing.assert_close(out, torch.cat([F.normalize(hist, dim=-1), F.normalize(peak, dim=-1)], -1).detach())
    assert out.shape == (B, 2 * K) and torch.allclose(out[:2, :K].norm(dim=-1), torch.ones(2))
    assert SoftDBoF(D, K).out_features == K


def test_netfv_first_and_second_order_statistics() -> None:
    x, valid = _frames()
    layer = NetFV(D, K).eval()
    _perturbed_running_stats(layer)
    a = _assignment(layer.assignment, x, valid)
    s = layer.sigma ** 2 + 1e-6
    first, second = torch.zeros(B, K, D), torch.zeros(B, K, D)
    for b in range(B):
        for k in range(K):
            for i in range(int(NUM_FRAMES[b])):
                r = (x[b, i] - layer.centers[k]) / s[k]
                first[b, k] += a[b, i, k] * r
                second[b, k] += a[b, i, k] * (r ** 2 - 1)
    expected = torch.cat([F.normalize(F.normalize(first, dim=-1).flatten(1), dim=-1),
                          F.normalize(second.flatten(1), dim=-1)], dim=-1)
    out = layer(x, valid)[0]
    torch.testing.assert_close(out, expected.detach(), rtol=1e-4, atol=1e-5)
    assert out.shape == (B, 2 * K * D)
    assert sum(p.numel() for p in layer.parameters()) == D * K + 2 * K + 2 * K * D


def test_context_gating_and_its_se_form() -> None:
    torch.manual_seed(2)
    x = torch.randn(4, 6)
    cg = ContextGating(6)
    torch.testing.assert_close(cg(x), torch.sigmoid(x @ cg.gate.weight.T + cg.gate.bias) * x)
    se = SEContextGating(6, reduction=3)
    torch.testing.assert_close(se(x), torch.sigmoid(torch.relu(x @ se.squeeze.weight.T) @ se.excite.weight.T) * x)
    assert sum(p.numel() for p in se.parameters()) == 2 * 6 * 2
    with pytest.raises(ValueError, match="reduction"):
        SEContextGating(6, reduction=7)
    moe = MoE(6, 3, 2)
    both = GatedHead(moe, 6, 3, "both")
    torch.testing.assert_close(both(x), both.probabilities(moe(both.features(x))))
    assert GatedHead(moe, 6, 3, "probabilities").features is None
    with pytest.raises(ValueError, match="'features', 'probabilities' or 'both'"):
        GatedHead(moe, 6, 3, "input")


def test_nextvlad_is_the_attended_grouped_vlad() -> None:
    x, valid = _frames()
    expansion, groups, width = 2, 5, 2  # E = 10, M = 2
    layer = NeXtVLAD(D, K, expansion=expansion, groups=groups).eval()
    _perturbed_running_stats(layer)
    xe = layer.expand(x)
    alpha = torch.sigmoid(layer.attention(xe))
    norm = layer.assign_norm
    logits = (xe @ layer.assign.weight.T - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps)
    assign = (logits * norm.weight + norm.bias).view(B, T, groups, K).softmax(dim=-1)
    expected = torch.zeros(B, K, width)
    for b in range(B):
        for i in range(int(NUM_FRAMES[b])):
            for g in range(groups):
                for k in range(K):
                    part = xe[b, i, g * width:(g + 1) * width]
                    expected[b, k] += alpha[b, i, g] * assign[b, i, g, k] * (part - layer.centers[k])
    out, attention, assignments = layer(x, valid)
    torch.testing.assert_close(out, F.normalize(expected, dim=-1).flatten(1).detach(), rtol=1e-5, atol=1e-6)
    assert out.shape == (B, K * width) and layer.out_features == K * width
    assert attention.shape == (B, T, groups) and (attention[1, 2:] == 0).all() and (attention[2] == 0).all()
    assert assignments.shape == (B, T, groups, K)
    e = expansion * D
    assert sum(p.numel() for p in layer.parameters()) == e * (D + 1) + (e + 1) * groups + e * groups * K + \
        2 * groups * K + K * e // groups
    _padding_invariant(layer, lambda lay, xs, vs: lay(xs, vs)[0])
    with pytest.raises(ValueError, match="groups dividing"):
        NeXtVLAD(D, K, expansion=2, groups=3)
