"""Every single model of the registry at the tiny preset, in its paper and its code version: one forward and
backward pass (shapes, probabilities, attention sums, finite gradients), padding invariance, and the
auxiliary outputs the losses expect."""

from __future__ import annotations

import pytest
import torch

from tests.on_the_device import OnTheDevice
from y8m_models.configs import all_configurations, resolve, single_models
from y8m_models.configs.check import check_model, random_vertical_matrix, synthetic_batch
from y8m_models.models import ModelInputs, build_architecture
from y8m_models.models.base import start_at_label_prior

INPUTS = ModelInputs(num_classes=12, feature_sizes=(1024, 128), vertical_matrix=random_vertical_matrix(12, 5))
CASES = [(config.slug, code) for config in all_configurations(baselines=True)
         if any(m.cascade is None for _, m in single_models(config))
         for code in ((False, True) if config.as_in_code else (False,))]


def _models(slug: str, code: bool):
    return [(label, m) for label, m in single_models(resolve(slug, "tiny", as_in_code=code)) if m.cascade is None]


@pytest.mark.parametrize(("slug", "code"), CASES, ids=[f"{s}{'-code' if c else ''}" for s, c in CASES])
def test_forward_backward(slug: str, code: bool) -> None:
    for label, model in _models(slug, code):
        result = check_model(label, model, INPUTS, batch_size=4, frames=10)
        assert result.status == "ok", result.detail


# Not invariant by design: #11 draws its half-frame subsets from the batch's T frame indices; the code
# versions that pool or run over padding as the authors did.
NOT_MASKED = {"lstm_random_half_frames"}


@pytest.mark.parametrize("slug", [s for s, code in CASES if not code and s not in NOT_MASKED])
def test_trailing_padding_changes_nothing(slug: str) -> None:
    for _, model in _models(slug, False):
        if model.level != "frame":
            continue
        torch.manual_seed(0)
        net = build_architecture(model.architecture, model.params, INPUTS).eval()
        batch = synthetic_batch("frame", INPUTS, batch_size=4, frames=9)
        padded = {**batch, "features": torch.cat([batch["features"], torch.zeros(4, 5, 1152)], dim=1)}
        with torch.no_grad():
            short, long = net(batch), net(padded)
        torch.testing.assert_close(long.predictions, short.predictions, atol=2e-5, rtol=1e-4)
        if short.attention is not None:
            torch.testing.assert_close(long.attention[:, :9], short.attention, atol=1e-6, rtol=1e-5)
            assert long.attention[:, 9:].abs().max() == 0


CHAINING = {"chaining_video": "stages", "complement_chaining": "stages", "chaining_cnn": "stages",
            "chaining_deep_cnn": "stages", "chaining_lstm_cnn": "stages", "chaining_lstm": "stages",
            "multires_lstm_chaining": "stages", "multiscale_cnn_lstm": "scales"}


@pytest.mark.parametrize("slug", ["chaining_video_relabel", "chaining_video_8stage", "multiscale_cnn_lstm",
                                  "multires_lstm_chaining", "chaining_cnn", "chaining_deep_cnn",
                                  "chaining_lstm_cnn", "chaining_lstm", "chaining_shared_lstm"])
def test_auxiliary_predictions_one_per_stage_or_scale(slug: str) -> None:
    for code in (False, True):
        (_, model), = _models(slug, code)
        net = build_architecture(model.architecture, model.params, INPUTS)
        out = net(synthetic_batch(model.level, INPUTS, batch_size=3, frames=8))
        expected = getattr(model.params, CHAINING[model.architecture])
        assert out.auxiliary.shape == (3, expected, INPUTS.num_classes)


@pytest.mark.parametrize("slug", [s for s, code in CASES if not code])
def test_every_model_starts_at_the_label_prior(slug: str) -> None:
    """``start_at_label_prior`` reaches each model's label classifier(s): the untrained model's predictions,
    averaged over a batch, follow the priors (rare classes low, frequent ones high) instead of ~1/3 each."""
    prior_C = torch.linspace(0.002, 0.3, INPUTS.num_classes)
    for _, model in _models(slug, False):
        torch.manual_seed(0)
        net = build_architecture(model.architecture, model.params, INPUTS).eval()
        assert start_at_label_prior(net, prior_C) >= 1
        with torch.no_grad():
            p_C = net(synthetic_batch(model.level, INPUTS, batch_size=8, frames=6)).predictions.mean(dim=0)
        frequent = INPUTS.num_classes // 2  # the split head (#56's code version) keeps its softmax part
        assert p_C[0] < 0.02 and p_C[frequent - 1] > 3 * p_C[0], (slug, p_C)
        if model.params.model_dump().get("head") != "sigmoid_softmax":
            assert torch.corrcoef(torch.stack([p_C, prior_C]))[0, 1] > 0.9, (slug, p_C)


@pytest.mark.parametrize(("slug", "code"), CASES, ids=[f"{s}{'-code' if c else ''}" for s, c in CASES])
def test_probabilities_and_lstms_stay_float32_under_bf16_autocast(slug: str, code: bool) -> None:
    """The precision policy (``y8m_models/numerics.py``), on a CPU autocast: under bf16 every head's
    probabilities (predictions, auxiliary, verticals, infrequent, attention weights) are float32, and every
    ``nn.LSTM`` runs on float32 inputs (on CUDA, autocast would give its cuDNN call float16)."""
    from torch import nn

    from y8m_models.numerics import Numerics

    for label, model in _models(slug, code):
        torch.manual_seed(0)
        net = build_architecture(model.architecture, model.params, INPUTS)
        lstm_inputs: list[torch.dtype] = []
        for module in net.modules():
            if isinstance(module, nn.LSTM):
                module.register_forward_hook(lambda _m, args, _out, seen=lstm_inputs: seen.append(args[0].data.dtype))
        batch = synthetic_batch(model.level, INPUTS, batch_size=4, frames=10)
        with Numerics("bf16").autocast("cpu"):
            out = net(batch)
        for name in ("predictions", "auxiliary", "verticals", "infrequent", "attention"):
            value = getattr(out, name)
            assert value is None or value.dtype == torch.float32, f"{label}: {name} is {value.dtype}"
        assert set(lstm_inputs) <= {torch.float32}, f"{label}: an LSTM ran on {lstm_inputs}"
        out.predictions.sum().backward()


FRAME_CASES = [(s, c) for s, c in CASES if any(m.level == "frame" for _, m in _models(s, c))]


@pytest.mark.parametrize(("slug", "code"), FRAME_CASES, ids=[f"{s}{'-code' if c else ''}" for s, c in FRAME_CASES])
def test_no_frame_model_reads_its_frame_counts_back_from_the_device(slug: str, code: bool) -> None:
    """A packed sequence needs its lengths on the host: every LSTM takes them from the host copy that
    ``to_device`` keeps (``num_frames_host``), derived lengths included (#11's half frames, #13's clips, #14's
    levels, #15's resolutions, #16's scales), instead of copying the device's counts back at each call."""
    for label, model in _models(slug, code):
        if model.level != "frame":
            continue
        torch.manual_seed(0)
        net = build_architecture(model.architecture, model.params, INPUTS)
        batch = synthetic_batch("frame", INPUTS, batch_size=4, frames=10)
        batch = {**batch, "num_frames": batch["num_frames"].as_subclass(OnTheDevice),
                 "num_frames_host": batch["num_frames"].numpy()}
        with torch.no_grad():
            for mode in (True, False):  # training draws #11's half frames; evaluation averages its subsets
                assert net.train(mode)(batch).predictions.shape == (4, INPUTS.num_classes), label
