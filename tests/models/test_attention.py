"""Attention pooling LSTM models (#23-#27): weights over valid frames only, what is pooled and fed to the MoE,
the max over groups (Eq. 4), the positional embedding, and the authors' local windows (#26)."""

from __future__ import annotations

import pytest
import torch

from y8m_models.models import attention
from y8m_models.models.base import ModelInputs, ModelOutput, build_architecture, normalize_features

INPUTS = ModelInputs(num_classes=10, feature_sizes=(12, 4))
D, N, T = 16, 8, 12
SMALL = {"cells": N, "max_frames": T, "mixtures": 2}

CASES = [
    ("local_attention_lstm", {"variant": "paper"}),
    ("local_attention_lstm", {"variant": "code"}),
    ("lstm_attention_lstm", {"normalization": "softmax"}),
    ("lstm_attention_lstm", {"normalization": "sigmoid", "layers": 2}),
    ("multi_attention_lstm", {"groups": 3}),
    ("multi_attention_lstm", {"groups": 3, "positional": 5, "attention_input": "frame_output_mean"}),
    ("multi_attention_two_lstm", {"groups": 3}),
    ("multi_attention_two_lstm", {"groups": 3, "local_windows": True}),
]
IDS = [f"{name}-{'-'.join(map(str, extra.values()))}" for name, extra in CASES]


def _model(name: str, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_architecture(name, {**SMALL, **extra}, INPUTS)


def _batch(num_frames: list[int], steps: int = 8) -> dict:
    torch.manual_seed(1)
    n = torch.tensor(num_frames)
    x = torch.randn(len(num_frames), steps, D) * (torch.arange(steps)[None, :, None] < n[:, None, None])
    return {"features": x, "num_frames": n}


def _moe_input(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, ModelOutput]:
    seen = []
    handle = model.moe.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    out = model(batch)
    handle.remove()
    return seen[0], out


@pytest.mark.parametrize(("name", "extra"), CASES, ids=IDS)
def test_weights_sum_to_one_over_valid_frames_and_padding_changes_nothing(name: str, extra: dict) -> None:
    model = _model(name, **extra)
    batch = _batch([8, 5, 1, 0])
    out = model(batch)
    groups = extra.get("groups", 1)
    assert out.predictions.shape == (4, 10) and out.attention.shape == (4, 8, groups)
    torch.testing.assert_close(out.attention[:3].sum(dim=1), torch.ones(3, groups))
    assert (out.attention[1, 5:] == 0).all() and (out.attention[2, 1:] == 0).all() and (out.attention[3] == 0).all()
    # Four more zero frames after every video's end: same predictions, same weights on the old frames.
    features = torch.cat([batch["features"], torch.zeros(4, 4, D)], dim=1)
    out_padded = model({"features": features, "num_frames": batch["num_frames"]})
    torch.testing.assert_close(out_padded.predictions, out.predictions)
    torch.testing.assert_close(out_padded.attention[:, :8], out.attention)
    assert (out_padded.attention[:, 8:] == 0).all()


@pytest.mark.parametrize(("name", "extra"), CASES, ids=IDS)
def test_every_parameter_gets_a_finite_gradient(name: str, extra: dict) -> None:
    model = _model(name, **extra)
    out = model(_batch([8, 3, 0]))
    assert torch.isfinite(out.predictions).all() and ((out.predictions > 0) & (out.predictions < 1)).all()
    torch.log(out.predictions).sum().backward()
    for pname, p in model.named_parameters():
        if name.startswith("multi") and pname.endswith("positions.weight"):
            assert torch.isfinite(p.grad).all() and (p.grad[8:] == 0).all(), pname  # positions past T: no gradient
            continue
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize(("name", "extra"), [c for c in CASES if c[0].startswith("multi")],
                         ids=[i for i in IDS if i.startswith("multi")])
def test_prediction_is_the_max_over_groups_of_one_shared_moe(name: str, extra: dict) -> None:
    """Eq. 4: z_k = sum_t a_tk y_t with the returned weights and the (main) LSTM's outputs; p_l = max_k MoE(z_k)_l."""
    model = _model(name, **extra)
    batch = _batch([8, 5, 2])
    out = model(batch)
    x = normalize_features(batch["features"], "joint", INPUTS.feature_sizes)
    lstm = model.lstm if name == "multi_attention_lstm" else model.main_lstm
    z = torch.einsum("btk,btn->bkn", out.attention, lstm(x, batch["num_frames"]).outputs)
    per_group = model.moe(z)
    torch.testing.assert_close(out.predictions, per_group.amax(dim=1))
    assert (per_group.argmax(dim=1) != 0).any()  # the groups differ: the max is not one group's output


def test_positional_embedding_adds_max_frames_times_size_plus_groups_times_size() -> None:
    without, with_five = (sum(p.numel() for p in _model("multi_attention_lstm", groups=3, positional=s).parameters())
                          for s in (0, 5))
    assert with_five - without == T * 5 + 3 * 5


@pytest.mark.parametrize(("name", "extra", "moe_in", "scores_in"), [
    ("local_attention_lstm", {"variant": "paper"}, N + D, D + N),  # [y_F; z], scores from [x_i; y_i]
    ("local_attention_lstm", {"variant": "code"}, D + 2 * 2 * N, N),  # [z; c1, h1, c2, h2], scores from y_i
    ("lstm_attention_lstm", {"layers": 2}, N + 2 * 2 * N, N),  # [attended; c of both layers of both LSTMs]
    ("multi_attention_lstm", {"attention_input": "frame_output_mean"}, N, D + N + D),
    ("multi_attention_two_lstm", {}, N, N + D),
])
def test_moe_and_score_input_sizes(name: str, extra: dict, moe_in: int, scores_in: int) -> None:
    model = _model(name, **extra)
    assert model.moe.experts.in_features == moe_in and model.pool.scores.in_features == scores_in


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_local_attention_pools_the_normalised_input_frames(variant: str) -> None:
    """Eq. 5: z = sum_i a_i x_i beside the LSTM's representation (paper y_F = top h; code [c1, h1, c2, h2])."""
    model = _model("local_attention_lstm", variant=variant)
    batch = _batch([8, 4])
    feature, out = _moe_input(model, batch)
    x = normalize_features(batch["features"], "joint", INPUTS.feature_sizes)
    z = torch.einsum("bt,btd->bd", out.attention[..., 0], x)
    run = model.lstm(x, batch["num_frames"])
    if variant == "paper":
        torch.testing.assert_close(feature, torch.cat([run.h[:, -1], z], dim=-1))
    else:
        state = torch.cat([run.c[:, 0], run.h[:, 0], run.c[:, 1], run.h[:, 1]], dim=-1)
        torch.testing.assert_close(feature, torch.cat([z, state], dim=-1))


def test_lstm_attention_lstm_pools_the_main_lstm_with_the_attention_lstm_weights() -> None:
    model = _model("lstm_attention_lstm", normalization="sigmoid")
    batch = _batch([8, 4])
    feature, out = _moe_input(model, batch)
    x = normalize_features(batch["features"], "joint", INPUTS.feature_sizes)
    att_run, main_run = model.attention_lstm(x, batch["num_frames"]), model.main_lstm(x, batch["num_frames"])
    attended = torch.einsum("bt,btn->bn", out.attention[..., 0], main_run.outputs)
    torch.testing.assert_close(feature, torch.cat([attended, att_run.c[:, 0], main_run.c[:, 0]], dim=-1))
    # sigmoid scores of the attention LSTM's outputs, divided by their sum over the valid frames
    s = torch.sigmoid(model.pool.scores(att_run.outputs))[1, :4, 0]
    torch.testing.assert_close(out.attention[1, :4, 0], s / s.sum())


def test_local_windows_restrict_each_group_to_its_frames() -> None:
    model = _model("multi_attention_two_lstm", groups=4, local_windows=True)
    a = model(_batch([8, 3, 0])).attention
    # n = 8, K = 4: w = 2, group k sees frames 2k .. 2k + 4, cut at the last valid frame 7
    support = [set(range(0, 5)), set(range(2, 7)), set(range(4, 8)), set(range(6, 8))]
    for k, frames in enumerate(support):
        assert {int(t) for t in a[0, :, k].nonzero()} == frames, k
    torch.testing.assert_close(a[:2].sum(dim=1), torch.ones(2, 4))
    # n = 3 < K: w = 0, every group sees frame 0 alone (as the authors' code); no frames: no weights
    assert (a[1, 0] == 1).all() and (a[1, 1:] == 0).all() and (a[2] == 0).all()
    # without windows every valid frame gets weight
    assert (_model("multi_attention_two_lstm", groups=4)(_batch([8])).attention > 0).all()


def test_windows_fall_back_to_all_valid_frames_where_the_window_has_no_weight() -> None:
    a = torch.tensor([[[1.0, 0.5], [0.0, 0.5]]])  # [B=1, T=2, K=2]: group 0 put all its weight on frame 0
    window = torch.tensor([[[False, True], [True, True]]])
    local = attention.restrict_to_windows(a, window)
    torch.testing.assert_close(local, torch.tensor([[[1.0, 0.5], [0.0, 0.5]]]))
