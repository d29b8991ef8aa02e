"""Temporal multi-scale models (#13-#17): shapes, gradients, padding, length arithmetic, variants, sizes."""

from __future__ import annotations

import pytest
import torch

from y8m_models.models.base import ModelInputs, build_architecture
from y8m_models.models.multiscale import clip_lengths, frame_hop, hop_lengths, max_pool_pairs, window_means

INPUTS = ModelInputs(num_classes=10, feature_sizes=(12, 4))
TINY = {
    "temporal_segment_lstm": {"clip_frames": 3, "cells": 8, "mixtures": 2},
    "temporal_pooling_lstm": {"cells": (8,), "layers": 1, "levels": 3, "mixtures": 2},
    "multires_lstm_chaining": {"cells": (8, 4), "layers": 2, "stages": 2, "projection": 6, "mixtures": 2},
    "multiscale_cnn_lstm": {"scales": 3, "channels": (4, 4, 6), "cells": 8, "mixtures": 2},
}
CASES = [
    ("temporal_segment_lstm", {}),
    ("temporal_segment_lstm", {"mask_clips": False}),
    ("temporal_pooling_lstm", {}),
    ("temporal_pooling_lstm", {"variant": "code", "cells": (8, 4), "layers": 2}),  # 1-step levels: no W_hh grad
    ("multires_lstm_chaining", {}),
    ("multires_lstm_chaining", {"partial_windows": False, "aux_dropout": 0.1}),
    ("multiscale_cnn_lstm", {}),
    ("multiscale_cnn_lstm", {"cell": "lstm_s", "consensus": "class_softmax"}),
]
PADDING_INVARIANT = [c for c in CASES if c[1].get("variant") != "code"]  # #14's code lengths depend on T


def _build(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_architecture(name, {**TINY[name], **overrides}, INPUTS)


def _batch(steps: int = 12, num_frames: tuple[int, ...] = (12, 7, 1, 0)) -> dict:
    torch.manual_seed(1)
    n = torch.tensor(num_frames)
    x = torch.randn(len(n), steps, 16) * (torch.arange(steps)[None, :, None] < n[:, None, None])
    return {"features": x, "num_frames": n}


def _loss(out) -> torch.Tensor:
    loss = out.predictions.sum()
    return loss if out.auxiliary is None else loss + out.auxiliary.sum()


@pytest.mark.parametrize(("name", "overrides"), CASES)
def test_shapes_and_finite_gradients_for_every_parameter(name: str, overrides: dict) -> None:
    model = _build(name, **overrides).train()
    out = model(_batch())
    assert out.predictions.shape == (4, 10) and torch.isfinite(out.predictions).all()
    if out.auxiliary is not None:
        assert out.auxiliary.shape == (4, TINY[name].get("stages", TINY[name].get("scales")), 10)
    _loss(out).backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname
        assert param.grad.abs().sum() > 0, pname


@pytest.mark.parametrize(("name", "overrides"), PADDING_INVARIANT)
def test_zero_frames_after_num_frames_change_nothing(name: str, overrides: dict) -> None:
    model = _build(name, **overrides).eval()
    short, long = _batch(steps=7, num_frames=(7, 5, 1, 0)), _batch(steps=7, num_frames=(7, 5, 1, 0))
    long["features"] = torch.cat([long["features"], torch.zeros(4, 6, 16)], dim=1)
    a, b = model(short), model(long)
    torch.testing.assert_close(a.predictions, b.predictions)
    if a.auxiliary is not None:
        torch.testing.assert_close(a.auxiliary, b.auxiliary)


def test_clip_lengths_masked_and_as_in_the_code() -> None:
    n = torch.tensor([23, 5, 0])
    frames, clips = clip_lengths(n, 3, 10, masked=True)
    assert frames.tolist() == [[10, 10, 3], [5, 0, 0], [0, 0, 0]] and clips.tolist() == [3, 1, 0]
    frames, clips = clip_lengths(n, 3, 10, masked=False)
    assert (frames == 10).all() and clips.tolist() == [2, 1, 0]  # n // 10, at least 1 for a non-empty video


def test_window_means_over_valid_frames_or_as_in_the_code() -> None:
    x = torch.arange(10.0).view(1, 10, 1)  # frames 7..9 are padding
    x[:, 7:] = 100.0
    means, lengths = window_means(x, torch.tensor([7]), 4)
    assert means[0, :, 0].tolist() == [1.5, 5.0, 0.0] and lengths.tolist() == [2]  # (4+5+6)/3
    means, lengths = window_means(x, torch.tensor([7]), 4, partial=False)
    assert means.shape[1] == 2 and means[0, 0, 0] == 1.5 and lengths.tolist() == [1]
    _, lengths = window_means(x[:, :3], torch.tensor([3]), 4, partial=False)
    assert lengths.tolist() == [0]


def test_max_pool_pairs_and_frame_hop_lengths() -> None:
    x = torch.tensor([[1.0, 4.0, 2.0, 3.0, 5.0], [2.0, 0.0, 0.0, 0.0, 0.0], [0.0] * 5])[..., None]
    pooled, n = max_pool_pairs(x, torch.tensor([5, 1, 0]))
    assert pooled[..., 0].tolist() == [[4.0, 3.0], [2.0, 0.0], [0.0, 0.0]] and n.tolist() == [2, 1, 0]
    hopped = frame_hop(x)
    n = hop_lengths(torch.tensor([5, 1, 0]), hopped.shape[1])
    assert hopped[0, :, 0].tolist() == [4.0, 3.0] and n.tolist() == [2, 0, 0]
    n = hop_lengths(torch.tensor([5, 1, 0]), frame_hop(hopped[:, :1]).shape[1])  # the original, clamped to 1
    assert n.tolist() == [1, 0, 0]


def test_temporal_segment_parameter_count() -> None:
    model = _build("temporal_segment_lstm")
    d, n, c, k = 16, 8, 10, 2
    lstm = lambda i: 4 * n * (i + n) + 8 * n  # noqa: E731  (torch keeps two bias vectors)
    moe = n * c * (k + 1) + n * c * k + c * k
    assert sum(p.numel() for p in model.parameters()) == lstm(d) + lstm(n) + moe


def test_temporal_pooling_paper_and_code_differ_in_structure() -> None:
    paper = _build("temporal_pooling_lstm")
    code = _build("temporal_pooling_lstm", variant="code", cells=(8, 4), layers=2, levels=5)
    assert len(paper.levels) == 3 and paper.moe.gates.in_features == 3 * 1 * 8
    assert len(code.levels) == 5 and code.moe.gates.in_features == 5 * 2 * 12  # c of every layer, both parts
    assert [lstm.feature_sizes for lstm in code.levels] == [(12, 4)] + [(8, 4)] * 4
    seen = {"paper": [], "code": []}
    for key, model in (("paper", paper), ("code", code)):
        for lstm in model.levels:
            lstm.register_forward_hook(lambda m, args, out, key=key: seen[key].append(args[1].tolist()))
        model(_batch(steps=12, num_frames=(12, 7)))
    assert seen["paper"] == [[12, 7], [6, 4], [3, 2]]  # ceil(n / 2) per level
    # The code gives every level >= 1 the original num_frames // 2, clamped to its 6, 3, 1, 1 steps.
    assert seen["code"] == [[12, 7], [6, 3], [3, 3], [1, 1], [1, 1]]
    with pytest.raises(ValueError, match="cells"):
        _build("temporal_pooling_lstm", cells=(8, 4, 2))


def test_multires_chaining_units_see_coarsest_first() -> None:
    model = _build("multires_lstm_chaining")
    assert model.resolutions == [4, 2, 1]
    assert [m.gates.in_features for m in model.chain.stage_moes] == [24, 24 + 6]  # 2 layers x (8 + 4) cells
    assert model.chain.final_moe.gates.in_features == 24 + 2 * 6
    with pytest.raises(ValueError, match="cells"):
        _build("multires_lstm_chaining", cells=(8,))


def test_multiscale_parameter_counts_basic_and_lstm_s() -> None:
    d, ch, n, c, k, s = 16, 14, 8, 10, 2, 3
    cnn = lambda i: i * (1 * 4 + 2 * 4 + 3 * 6) + 2 * ch  # noqa: E731  (no bias; BN scale and shift)
    moe = n * c * (k + 1) + n * c * k + c * k
    common = cnn(d) + (s - 1) * cnn(ch) + s * moe
    basic = sum(p.numel() for p in _build("multiscale_cnn_lstm").parameters())
    assert basic == common + s * (4 * n * (ch + n) + 8 * n)
    lstm_s = sum(p.numel() for p in _build("multiscale_cnn_lstm", cell="lstm_s").parameters())
    assert lstm_s == common + s * ((ch + n) * (2 + 2 * n) + 2 + 2 * n)  # one shared input and forget gate
    softmax = sum(p.numel() for p in _build("multiscale_cnn_lstm", consensus="class_softmax").parameters())
    assert softmax == basic + s * n * c


def test_multiscale_consensus_mean_and_untrained_class_softmax() -> None:
    batch = _batch()
    out = _build("multiscale_cnn_lstm").eval()(batch)
    torch.testing.assert_close(out.predictions, out.auxiliary.mean(dim=1))
    model = _build("multiscale_cnn_lstm", consensus="class_softmax").eval()
    out = model(batch)
    assert not torch.allclose(out.predictions, out.auxiliary.mean(dim=1))
    assert ((out.predictions >= out.auxiliary.amin(1) - 1e-6) & (out.predictions <= out.auxiliary.amax(1) + 1e-6)).all()
    out.auxiliary.sum().backward()  # the code's loss: per-scale predictions only, so Wc learns nothing ...
    assert model.consensus_SNC.grad is None
    with torch.no_grad():  # ... yet the consensus reads it
        model.consensus_SNC.mul_(-1)
    assert not torch.allclose(model(batch).predictions, out.predictions)
