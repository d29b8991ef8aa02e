"""CNN, CNN-LSTM and CNN Chaining models (catalog §4.6, #12, #18-#20) at tiny sizes."""

from __future__ import annotations

import pydantic
import pytest
import torch
import torch.nn.functional as F

from y8m_models.models import cnn
from y8m_models.models.base import ModelInputs, build_architecture

INPUTS = ModelInputs(num_classes=10, feature_sizes=(12, 4))
D, C = INPUTS.feature_dim, INPUTS.num_classes
CASES = {
    "cnn": {"channels": (4, 4, 8), "mixtures": 2},
    "cnn_lstm": {"channels": (4, 4, 8), "cells": 6, "mixtures": 2},
    "chaining_cnn": {"stages": 3, "projection": 5, "channels": (4, 4, 8), "mixtures": 2},
    "chaining_deep_cnn": {"projection": 5, "channels": (4, 4, 8), "mixtures": 2},
    "chaining_deep_cnn_code": {"variant": "code", "stages": 2, "projection": 5, "channels": (4, 4, 8),
                               "mixtures": 2},
    "chaining_lstm_cnn": {"cells": (6, 3), "stages": 2, "projection": 5, "channels": (4, 4, 8),
                          "first_channels": (4, 8, 4), "mixtures": 2},
}


def _build(case: str, **changes) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_architecture(case.removesuffix("_code"), {**CASES[case], **changes}, INPUTS)


def _batch(num_frames: list[int], steps: int, seed: int = 0, pad: str = "zero") -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(num_frames), steps, D, generator=g)
    n = torch.tensor(num_frames)
    beyond = torch.arange(steps)[None, :, None] >= n[:, None, None]
    x = x.masked_fill(beyond, 0.0) if pad == "zero" else x
    return {"features": x, "num_frames": n}


def _moe_params(width: int, mixtures: int) -> int:
    return width * C * (mixtures + 1) + width * C * mixtures + C * mixtures


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("case", CASES)
def test_shapes_and_auxiliary(case: str) -> None:
    out = _build(case)(_batch([7, 3, 1], 7))
    assert out.predictions.shape == (3, C) and ((out.predictions >= 0) & (out.predictions <= 1)).all()
    stages = {"cnn": None, "cnn_lstm": None, "chaining_cnn": 3, "chaining_deep_cnn": 3,
              "chaining_deep_cnn_code": 2, "chaining_lstm_cnn": 2}[case]
    assert (out.auxiliary is None) if stages is None else out.auxiliary.shape == (3, stages, C)


@pytest.mark.parametrize("case", CASES)
def test_frames_after_num_frames_change_nothing(case: str) -> None:
    model = _build(case)
    lengths = [7, 5, 3, 2, 1, 0]  # odd and even lengths reach every truncation of the 2-max-pool
    tight = model(_batch(lengths, 7))
    # Longer, and with garbage after each video's end: the CNNs are causal and every pooling is masked.
    padded = _batch(lengths, 12, pad="garbage")
    padded["features"][:, :7] = _batch(lengths, 7)["features"]
    loose = model(padded)
    torch.testing.assert_close(loose.predictions, tight.predictions, atol=1e-6, rtol=0)
    if tight.auxiliary is not None:
        torch.testing.assert_close(loose.auxiliary, tight.auxiliary, atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", CASES)
def test_every_parameter_gets_a_finite_gradient(case: str) -> None:
    # A Chaining projection is L2(ReLU(W p + b)); with exactly one unit active for every video, the L2
    # normalisation's gradient cancels on it and the whole layer gets none: a true zero, not a cut in the code.
    # At 5 units that happened for #19's third projection once its CNN became a matrix product (rounding);
    # at 16 units one active unit for all eight videos is not a case the test can meet by chance.
    model = _build(case, **({"projection": 16} if "projection" in CASES[case] else {}))
    # A video without frames must not give NaN. Eight videos: with three, a whole ReLU layer of these tiny
    # widths can be inactive for all of them, and whether it is can hinge on rounding (it did on an AMD EPYC,
    # after passing on an Intel Xeon).
    out = model(_batch([6, 1, 0, 6, 5, 4, 6, 2], 6))
    loss = out.predictions.sum() + (0 if out.auxiliary is None else out.auxiliary.sum())
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_pool_padding_is_the_codes_max_over_all_positions() -> None:
    model = _build("cnn", pool_padding=True)
    batch = _batch([2, 5], 5)
    h = F.normalize(model.encoder.cnn(F.normalize(batch["features"], dim=-1)).amax(dim=1), dim=-1)
    torch.testing.assert_close(model(batch).predictions, model.moe(h))
    masked = _build("cnn")
    assert not torch.allclose(masked(batch).predictions[0], model(batch).predictions[0])  # the short video


def test_pair_max_pool_truncates_and_keeps_at_least_one_frame() -> None:
    x = torch.arange(1.0, 8.0).reshape(1, 7, 1).repeat(4, 1, 1)
    pooled, frames = cnn._pair_max_pool(x, torch.tensor([7, 5, 1, 0]), pool_padding=False)
    assert frames.tolist() == [3, 2, 1, 0] and pooled.shape == (4, 3, 1)
    assert pooled[..., 0].tolist() == [[2, 4, 6], [2, 4, 0], [1, 0, 0], [0, 0, 0]]
    single, frames = cnn._pair_max_pool(torch.ones(2, 1, 3), torch.tensor([1, 0]), pool_padding=False)
    assert single.shape == (2, 1, 3) and frames.tolist() == [1, 0] and single[1].abs().sum() == 0


def test_chaining_cnn_has_a_cnn_and_moe_per_unit() -> None:
    model = _build("chaining_cnn")
    n, P, S, K = 16, 5, 3, 2
    widths = [n] + [D + n + P + t * P for t in range(1, S + 1)]  # [mean; h_t; m; r_0 ... r_{t-1}]
    moes = [*model.chaining.stage_moes, model.chaining.final_moe]
    assert [m.gates.in_features for m in moes] == widths
    cnn_params = D * (1 * 4 + 2 * 4 + 3 * 8)
    expected = ((S + 1) * cnn_params + sum(_moe_params(w, K) for w in widths)
                + S * (C * P + P) + (D * P + P))  # chain projections, mean projection
    assert len(model.encoders) == S + 1 and _count(model) == expected


def test_chaining_deep_cnn_paper_and_code_differ_in_structure() -> None:
    P, K, c0 = 5, 2, 4
    paper, code = _build("chaining_deep_cnn"), _build("chaining_deep_cnn_code")
    deep_cnn_params = D * (4 + 2 * 4 + 3 * 8) + 16 * (2 * c0 + 3 * c0) + 2 * c0 * (2 * c0 + 3 * c0)
    # Paper: one deep CNN; the units see the averaged input, then pooled layers 1, 2, 3 (+ earlier r's).
    paper_widths = [D, 16 + P, 2 * c0 + 2 * P, 2 * c0 + 3 * P]
    assert [m.gates.in_features for m in [*paper.chaining.stage_moes, paper.chaining.final_moe]] == paper_widths
    assert _count(paper) == deep_cnn_params + sum(_moe_params(w, K) for w in paper_widths) + 3 * (C * P + P)
    # Code: a deep CNN per unit, its three pooled layers concatenated; inputs as chaining_cnn.
    n = 16 + 4 * c0
    code_widths = [n, D + n + 2 * P, D + n + 3 * P]
    assert [m.gates.in_features for m in [*code.chaining.stage_moes, code.chaining.final_moe]] == code_widths
    assert _count(code) == (3 * deep_cnn_params + sum(_moe_params(w, K) for w in code_widths)
                            + 2 * (C * P + P) + (D * P + P))


def test_chaining_deep_cnn_paper_needs_four_units() -> None:
    with pytest.raises(pydantic.ValidationError, match="stages"):
        cnn.ChainingDeepCNNParams(stages=2)
    with pytest.raises(pydantic.ValidationError, match="channels"):
        cnn.ChainingDeepCNNParams(channels=(8, 8))


def test_chaining_lstm_cnn_structure() -> None:
    model = _build("chaining_lstm_cnn")
    P, n = 5, 16
    assert [conv.out_channels for conv in model.encoders[0].cnn.convs] == [4, 8, 4]  # the code's CNN_0
    assert [conv.out_channels for conv in model.encoders[1].cnn.convs] == [4, 4, 8]
    assert all(e.cnn.convs[0].in_channels == 9 for e in model.encoders)  # LSTM outputs 6 + 3
    moes = [*model.chaining.stage_moes, model.chaining.final_moe]
    assert [m.gates.in_features for m in moes] == [n, n + 2 * P, n + 3 * P]  # no raw mean input
    with pytest.raises(ValueError, match="cells"):
        _build("chaining_lstm_cnn", cells=(6,))


def test_cnn_lstm_feeds_every_layers_memory() -> None:
    model = _build("cnn_lstm", layers=3)
    assert model.moe.gates.in_features == 3 * 6 and model.lstm.lstm.input_size == 16


@pytest.mark.parametrize("steps", [1, 2, 6])
def test_deep_cnn_pooling_padding_runs_at_any_length(steps: int) -> None:
    model = _build("chaining_deep_cnn_code", pool_padding=True)
    out = model(_batch([steps, 1], steps))
    out.predictions.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
