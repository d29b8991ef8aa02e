"""Chaining over LSTM memories (catalog #21 separate LSTMs, #22 one shared LSTM) at tiny sizes."""

from __future__ import annotations

import pytest
import torch

from y8m_models.models import chaining_sequence  # noqa: F401  (registers chaining_lstm)
from y8m_models.models.base import ModelInputs, build_architecture

INPUTS = ModelInputs(num_classes=10, feature_sizes=(12, 4))
D, C = INPUTS.feature_dim, INPUTS.num_classes
SMALL = {"cells": 6, "layers": 2, "projection": 5, "mixtures": 2}


def _build(**changes) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_architecture("chaining_lstm", {**SMALL, **changes}, INPUTS)


def _batch(num_frames: list[int], steps: int, seed: int = 0) -> dict:
    x = torch.randn(len(num_frames), steps, D, generator=torch.Generator().manual_seed(seed))
    n = torch.tensor(num_frames)
    return {"features": x.masked_fill(torch.arange(steps)[None, :, None] >= n[:, None, None], 0.0), "num_frames": n}


def _lstm_params(d: int, n: int, layers: int) -> int:
    return sum(4 * n * (d_in + n) + 8 * n for d_in in [d] + [n] * (layers - 1))  # torch keeps two bias vectors


def _moe_params(width: int, mixtures: int) -> int:
    return width * C * (mixtures + 1) + width * C * mixtures + C * mixtures


@pytest.mark.parametrize("shared", [False, True])
def test_one_lstm_per_unit_or_one_shared(shared: bool) -> None:
    stages, P, K = 2, 5, 2
    model = _build(stages=stages, shared_lstm=shared)
    widths = [2 * 6 + t * P for t in range(stages + 1)]  # c of both layers, then r_0 ... r_{t-1}
    moes = [*model.chaining.stage_moes, model.chaining.final_moe]
    assert [m.gates.in_features for m in moes] == widths
    lstms = 1 if shared else stages + 1
    expected = (lstms * _lstm_params(D, 6, 2) + sum(_moe_params(w, K) for w in widths) + stages * (C * P + P))
    assert len(model.lstms) == lstms and sum(p.numel() for p in model.parameters()) == expected
    out = model(_batch([5, 2], 5))
    assert out.predictions.shape == (2, C) and out.auxiliary.shape == (2, stages, C)


def test_separate_lstms_give_each_unit_its_own_feature() -> None:
    model = _build(shared_lstm=False)
    batch = _batch([4, 3], 4)
    before = model(batch)
    with torch.no_grad():  # LSTM_1 feeds only the final unit: the stage prediction must not move
        for p in model.lstms[1].parameters():
            p.add_(0.5)
    after = model(batch)
    torch.testing.assert_close(after.auxiliary, before.auxiliary)
    assert not torch.allclose(after.predictions, before.predictions)


@pytest.mark.parametrize("shared", [False, True])
def test_frames_after_num_frames_change_nothing(shared: bool) -> None:
    model = _build(shared_lstm=shared)
    lengths = [6, 3, 1, 0]
    tight = model(_batch(lengths, 6))
    padded = _batch(lengths, 11)
    padded["features"][:, :6] = _batch(lengths, 6)["features"]
    loose = model(padded)
    torch.testing.assert_close(loose.predictions, tight.predictions, atol=1e-6, rtol=0)
    torch.testing.assert_close(loose.auxiliary, tight.auxiliary, atol=1e-6, rtol=0)


@pytest.mark.parametrize("shared", [False, True])
def test_every_parameter_gets_a_finite_gradient(shared: bool) -> None:
    model = _build(stages=2, shared_lstm=shared)
    out = model(_batch([5, 1, 0], 5))
    (out.predictions.sum() + out.auxiliary.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
