"""The models beyond the paper (#81 on): parameter counts by formula at the published sizes, NeXtVLAD's mixture,
Context Gating as an option of any MoE model, and feature layouts that do not fit."""

from __future__ import annotations

import pytest
import torch

from y8m_models.configs import resolve
from y8m_models.configs.build import build_model, parameter_count
from y8m_models.configs.check import synthetic_batch
from y8m_models.layers.context_gating import GatedHead
from y8m_models.models import ModelInputs

C = 4716


def _moe(d: int, mixtures: int) -> int:
    return d * C * (mixtures + 1) + d * C * mixtures + C * mixtures  # gates (no bias), experts


def test_willow_gated_netvlad_has_its_published_size() -> None:
    """#81 at the paper preset: NetVLAD rgb 256 / audio 128 clusters, hidden 1024, MoE 2, Context Gating on the
    hidden vector and on the 4,716 probabilities: about 333 M parameters (over the 2018 limit of 1 GB in fp32)."""
    vlad = sum(d * k + 2 * k + k * d for d, k in ((1024, 256), (128, 128)))  # assignment, its norm, centres
    pooled = 1024 * 256 + 128 * 128
    expected = 2 * 1152 + vlad + pooled * 1024 + 1024 + (1024 * 1024 + 1024) + _moe(1024, 2) + (C * C + C)
    assert parameter_count(resolve(81, "paper").model, C) == expected
    assert 4 * expected > 1e9


def test_nextvlad_has_its_published_size() -> None:
    """#85: lambda 2, groups 8 / 4, clusters 128 / 64, hidden 2048, SE reduction 8, logistic; the NeXtVLAD layers and
    the hidden layer by the paper's formula lambda N (N + G + K (G + (H + 1) / G)), without biases and norms."""
    pools = sum(2 * n * (n + 1) + (2 * n + 1) * g + 2 * n * g * k + 2 * g * k + k * 2 * n // g
                for n, g, k in ((1024, 8, 128), (128, 4, 64)))
    pooled = 128 * 2048 // 8 + 64 * 256 // 4
    expected = pools + 2 * pooled + pooled * 2048 + 2 * 2048 + 2 * 2048 * 2048 // 8 + 2048 * C + C
    assert parameter_count(resolve(85, "paper").model, C) == expected
    formula = sum(2 * n * (n + g + k * (g + (2048 + 1) / g)) for n, g, k in ((1024, 8, 128), (128, 4, 64)))
    assert formula == pytest.approx(79.8e6, rel=0.002)  # "less than 80 M parameters"


def test_nextvlad_mixture_mixes_the_branches_logits() -> None:
    """#86: the prediction's logit is a convex combination of the three branches' logits (a softmax gate)."""
    inputs = ModelInputs(12)
    torch.manual_seed(0)
    net = build_model(resolve(86, "tiny").model, inputs).eval()
    out = net(synthetic_batch("frame", inputs, batch_size=5, frames=7))
    assert out.auxiliary.shape == (5, 3, 12)
    z, z_m = torch.logit(out.predictions.double()), torch.logit(out.auxiliary.double())
    assert (z >= z_m.amin(dim=1) - 1e-5).all() and (z <= z_m.amax(dim=1) + 1e-5).all()
    assert not torch.allclose(z_m[:, 0], z_m[:, 1])  # the branches start apart


def test_context_gating_is_an_option_of_any_moe_model() -> None:
    """``--set model.context_gating=...`` wraps every MoE over the labels: #2's 9 Chaining units."""
    inputs = ModelInputs(12)
    net = build_model(resolve(2, "tiny", overrides={"model.context_gating": "both"}).model, inputs)
    heads = [m for m in net.modules() if isinstance(m, GatedHead)]
    assert len(heads) == 9 and all(h.features is not None and h.probabilities is not None for h in heads)
    assert not any(isinstance(m, GatedHead) for m in build_model(resolve(2, "tiny").model, inputs).modules())
    out = net(synthetic_batch("video", inputs, batch_size=3))
    assert out.predictions.shape == (3, 12) and out.auxiliary.shape == (3, 8, 12)
    with pytest.raises(ValueError, match="model: context_gating='features': nextvlad predicts without an MoE; the "
                                         "architectures with MoE heads to gate: biuni_lstm"):
        resolve(85, "tiny", overrides={"model.context_gating": "features"})
    split = resolve(1, "tiny", overrides={"model.params.head": "sigmoid_softmax", "model.context_gating": "both"})
    with pytest.raises(ValueError, match="has no MoE over the labels to gate"):  # its units are split heads
        build_model(split.model, inputs)


def test_a_feature_layout_that_does_not_fit_is_named() -> None:
    one_part = ModelInputs(12, feature_sizes=(512,))
    with pytest.raises(ValueError, match=r"clusters gives one value per feature part: 2 values \[8, 4\] for the "
                                         r"dataset's 1 parts of widths \[512\]"):
        build_model(resolve(81, "tiny").model, one_part)
    assert build_model(resolve(81, "tiny", overrides={"model.params.clusters": [8]}).model, one_part) is not None


def test_a_field_added_later_enters_the_content_hash_only_when_set() -> None:
    """``model.context_gating`` and the on-line distillation's loss fields came after the 80 configurations had
    stored runs: left at their defaults they leave a job's key as it was; set, they make another job."""
    from pathlib import Path

    from y8m_models.options import RunOptions
    from y8m_models.pipeline import plan

    def key(overrides: dict) -> str:
        return plan([2], Path("/data/d"), RunOptions(preset="tiny", overrides=overrides)).jobs[-1].key

    plain = key({})
    assert key({"model.context_gating": "none", "model.loss.temperature": 3.0}) == plain
    assert key({"model.context_gating": "both"}) != plain
    assert key({"model.loss.online_distillation": 1.0}) != plain


@pytest.mark.parametrize(("number", "columns"), [(81, 8), (83, 128), (85, 8), (86, 8)])
def test_the_gallery_gets_each_cluster_or_groups_share_per_frame(number: int, columns: int) -> None:
    """WILLOW's models: the rgb soft assignments per cluster; NeXtVLAD: the rgb group attention; each as shares
    over the video's valid frames (sum 1; 0 on padding; a video without frames all 0)."""
    inputs = ModelInputs(12)
    torch.manual_seed(0)
    net = build_model(resolve(number, "tiny").model, inputs).eval()
    batch = synthetic_batch("frame", inputs, batch_size=3, frames=7)
    batch["num_frames"] = batch["num_frames_host"] = torch.tensor([7, 3, 0])
    attention = net(batch).attention
    assert attention.shape == (3, 7, columns)
    torch.testing.assert_close(attention[:2].sum(dim=1), torch.ones(2, columns))
    assert (attention[1, 3:] == 0).all() and (attention[2] == 0).all()
