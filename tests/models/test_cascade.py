"""Cascade models (#47-#74, paper §7, Fig. 6): every configuration, paper and code version, builds at the tiny
preset, runs forward and backward with a synthetic ``batch["cascade"]``, and its predictions depend on it;
``d`` reaches every MoE of the model; #56 takes its infrequent labels from the right stream; a model without a
cascade input refuses one and a cascade model names a missing or misshapen input."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from y8m_models.architectures import cascade_streams
from y8m_models.configs import resolve
from y8m_models.configs.build import build_model
from y8m_models.configs.check import check_model, synthetic_batch
from y8m_models.configs.schema import CascadeInput
from y8m_models.layers.cascade import Cascade
from y8m_models.layers.moe import MoE
from y8m_models.models import ModelInputs, build_architecture
from y8m_models.models.base import InfrequentFromStream

INPUTS = ModelInputs(num_classes=12, feature_sizes=(12, 4))
CASES = [(number, code) for number in range(47, 75) for code in (False, True)]
IDS = [f"{n}{'-code' if code else ''}" for n, code in CASES]


def _model(number: int, code: bool):
    return resolve(number, "tiny", as_in_code=code).model


@pytest.mark.parametrize(("number", "code"), CASES, ids=IDS)
def test_builds_trains_and_reads_the_cascade_input(number: int, code: bool) -> None:
    model = _model(number, code)
    result = check_model(f"#{number}", model, INPUTS, batch_size=3, frames=5)
    assert result.status == "ok", result.detail
    torch.manual_seed(0)
    net = build_model(model, INPUTS).eval()  # eval: no input noise or dropout between the two passes
    batch = synthetic_batch(model.level, replace(INPUTS, cascade=model.cascade), batch_size=3, frames=5)
    other = {**batch, "cascade": torch.rand(batch["cascade"].shape, generator=torch.Generator().manual_seed(9))}
    with torch.no_grad():
        first, second = net(batch).predictions, net(other).predictions
    frequent = net.frequent if isinstance(net, InfrequentFromStream) else INPUTS.num_classes
    assert not torch.allclose(first[:, :frequent], second[:, :frequent])


@pytest.mark.parametrize(("number", "code"), [(47, False), (49, False), (50, False), (54, False), (55, False),
                                              (61, False), (62, True), (64, False), (72, True), (74, True)])
def test_d_reaches_every_moe(number: int, code: bool) -> None:
    """Against the same model without a cascade input, the cascade adds its own weights and P input rows to
    every MoE (Chaining stages, multi-scale heads, the attention groups' shared MoE), nothing else."""
    model = _model(number, code)
    torch.manual_seed(0)
    plain = build_architecture(model.architecture, model.params, INPUTS)
    cascaded = build_model(model, INPUTS)
    C, P = INPUTS.num_classes, model.cascade.projection
    cascades = [m for m in cascaded.modules() if isinstance(m, Cascade)]
    moes = [m for m in cascaded.modules() if isinstance(m, MoE)]
    own = sum(p.numel() for c in cascades for p in c.parameters())
    assert own == len(cascades) * (len(model.cascade.streams) + C * P + P)
    rows = sum(P * C * (2 * moe.num_mixtures + 1) for moe in moes)  # gates C (K + 1) + experts C K per input
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert count(cascaded) - count(plain) == own + rows
    per_scale = model.architecture == "multiscale_cnn_lstm"
    assert len(cascades) == (model.params.scales if per_scale else 1)


def test_infrequent_labels_come_from_their_stream() -> None:
    """#56: the paper's #6 rides as a second carried stream after the averaged #75; the code takes #75's."""
    paper, code = _model(56, False), _model(56, True)
    assert cascade_streams(paper.cascade) == (75, 6) and cascade_streams(code.cascade) == (75,)
    for model, source in ((paper, 1), (code, 0)):
        torch.manual_seed(0)
        net = build_model(model, INPUTS).eval()
        batch = synthetic_batch("frame", replace(INPUTS, cascade=model.cascade), batch_size=3, frames=5)
        f = net.frequent
        assert f == 3  # round(12 * 1000 / 4716)
        with torch.no_grad():
            predictions = net(batch).predictions
            torch.testing.assert_close(predictions[:, f:], batch["cascade"][:, source, f:])
            if source == 1:  # the #6 stream is carried, not averaged: it changes the infrequent labels only
                changed = {**batch, "cascade": torch.cat([batch["cascade"][:, :1], 1 - batch["cascade"][:, 1:]], 1)}
                torch.testing.assert_close(net(changed).predictions[:, :f], predictions[:, :f])


def test_architectures_without_a_cascade_refuse_one() -> None:
    inputs = replace(INPUTS, cascade=CascadeInput(streams=(75,), projection=4))
    with pytest.raises(ValueError, match=r"'dbof' takes no cascade input; those that do: .*chaining_video"):
        build_architecture("dbof", {}, inputs)


def test_a_missing_or_misshapen_cascade_input_is_named() -> None:
    model = _model(67, False)  # streams #76 and #66
    net = build_model(model, INPUTS)
    batch = synthetic_batch("video", replace(INPUTS, cascade=model.cascade), batch_size=2)
    assert batch["cascade"].shape == (2, 2, INPUTS.num_classes)
    with pytest.raises(ValueError, match="the batch needs 'cascade'"):
        net({k: v for k, v in batch.items() if k != "cascade"})
    with pytest.raises(ValueError, match=r"batch\['cascade'\] must be \[B, 2, C\].*\(2, 1, 12\)"):
        net({**batch, "cascade": batch["cascade"][:, :1]})


def test_build_model_uses_the_models_own_cascade() -> None:
    """A configuration without a cascade input builds its plain model, whatever the inputs carry."""
    model = resolve(2, "tiny").model
    torch.manual_seed(0)
    via_config = build_model(model, replace(INPUTS, cascade=CascadeInput(streams=(75,))))
    torch.manual_seed(0)
    direct = build_architecture(model.architecture, model.params, INPUTS)
    assert via_config.state_dict().keys() == direct.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(via_config.parameters(), direct.parameters(), strict=True))
    assert not any(isinstance(m, Cascade) for m in via_config.modules())
