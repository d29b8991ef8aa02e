"""The recurrent baselines (#3-#11): shapes, gradients, padding, feature widths, LSTM-S/A structure, the
reverse-within-length helper, #11's half-frame sampling and eval averaging, the #8 variants."""

from __future__ import annotations

import pydantic
import pytest
import torch

from y8m_models.layers.lstm_cells import run_cell
from y8m_models.models import lstm as lstm_module
from y8m_models.models.base import ModelInputs, build_architecture
from y8m_models.models.lstm import reverse_within_length, sample_half_frames

INPUTS = ModelInputs(num_classes=10, feature_sizes=(12, 4))
D, N = 16, 8

CASES = [
    ("lstm", {"cells": N, "mixtures": 2}),
    ("lstm", {"cells": N, "layers": 1, "state": "output", "mixtures": 2}),
    ("lstm", {"cell": "lstm_s", "cells": N, "mixtures": 2}),
    ("lstm", {"cell": "lstm_a", "cells": N, "layers": 1, "mixtures": 2}),
    ("lstm", {"cell": "lstm_a", "cells": N, "layers": 1, "lstm_a_scalar_gates": True, "mixtures": 2}),
    ("biuni_lstm", {"cells": N, "mixtures": 2}),
    ("lstm_a_fwd_bwd", {"cells": N, "mixtures": 2}),
    ("lstm_a_fwd_bwd", {"cells": N, "mixtures": 2, "variant": "code"}),
    ("parallel_lstm", {"cells": (N, 4), "mixtures": 2}),
    ("parallel_lstm", {"cells": (N, 4), "state": "output", "mixtures": 2}),
]
IDS = [f"{name}-{'-'.join(str(v) for v in params.values())}" for name, params in CASES]


def _build(name: str, params: dict, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_architecture(name, params, INPUTS)


def _batch(steps: int = 7, num_frames: tuple[int, ...] = (7, 3, 0), seed: int = 1) -> dict:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(len(num_frames), steps, D, generator=gen)
    n = torch.tensor(num_frames)
    x = x * (torch.arange(steps)[None, :, None] < n[:, None, None])  # zero padding, as the reader gives
    return {"features": x, "num_frames": n}


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_shapes_and_finite_gradients_for_every_parameter(name: str, params: dict) -> None:
    model = _build(name, params).train()
    out = model(_batch())
    assert out.predictions.shape == (3, INPUTS.num_classes)
    assert ((out.predictions >= 0) & (out.predictions <= 1)).all()
    out.predictions.sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_zero_frames_after_num_frames_change_nothing(name: str, params: dict) -> None:
    model = _build(name, params).eval()
    batch = _batch(steps=5, num_frames=(5, 2, 0))
    longer = {"features": torch.cat([batch["features"], torch.zeros(3, 4, D)], dim=1),
              "num_frames": batch["num_frames"]}
    with torch.no_grad():
        torch.testing.assert_close(model(batch).predictions, model(longer).predictions)


@pytest.mark.parametrize(("name", "params", "width"), [
    ("lstm", {"cells": N, "layers": 3}, 3 * N),
    ("lstm", {"cell": "lstm_a", "cells": N, "layers": 2, "state": "output"}, 2 * N),
    ("biuni_lstm", {"cells": N}, 6 * N),
    ("lstm_a_fwd_bwd", {"cells": N}, 2 * N),
    ("parallel_lstm", {"cells": (N, 4), "layers": 2}, 2 * (N + 4)),
])
def test_moe_reads_the_final_state_of_every_layer(name: str, params: dict, width: int) -> None:
    assert _build(name, params).moe.gates.in_features == width


def test_memory_and_output_states_give_different_features() -> None:
    memory, output = _build("lstm", {"cells": N}), _build("lstm", {"cells": N, "state": "output"})
    x, n = _batch()["features"], _batch()["num_frames"]
    c, h = memory.encoder(x, n, n), output.encoder(x, n, n)  # the counts on the device and on the host
    assert (h.abs() <= 1).all() and not torch.allclose(c, h)  # h = o * tanh(c) is bounded, c is not


def test_lstm_s_shares_one_input_and_one_forget_gate_across_cells() -> None:
    model = _build("lstm", {"cell": "lstm_s", "cells": N, "layers": 2})
    first, second = model.encoder.cells
    assert first.gates.weight.shape == (1 + 1 + 2 * N, D + N)  # i, f scalars; o and candidate per cell
    assert second.gates.weight.shape == (1 + 1 + 2 * N, N + N)
    # With a constant candidate the cells can only differ through i and f: scalar gates keep them equal.
    with torch.no_grad():
        first.gates.weight[2 + N:] = 0.0
        first.gates.bias[2 + N:] = 0.5
    batch = _batch(num_frames=(7, 3, 1))
    c_BN = model.encoder(batch["features"], batch["num_frames"], batch["num_frames"])[:, :N]
    torch.testing.assert_close(c_BN, c_BN[:, :1].expand_as(c_BN))
    assert c_BN[:, 0].unique().numel() == 3  # yet the gates depend on the video


def test_lstm_a_scalar_gates_shrink_the_gate_matrix() -> None:
    per_cell = _build("lstm", {"cell": "lstm_a", "cells": N, "layers": 1}).encoder.cells[0].gates
    scalar = _build("lstm", {"cell": "lstm_a", "cells": N, "layers": 1, "lstm_a_scalar_gates": True}
                    ).encoder.cells[0].gates
    assert per_cell.weight.shape == (4 * N + 2 * D, N + 2 * D)  # o, m, i, f per cell; i', f' per feature
    assert scalar.weight.shape == (2 * N + 4, N + 2 * D)


def test_param_errors_name_the_field() -> None:
    with pytest.raises(pydantic.ValidationError, match="lstm_a_scalar_gates"):
        _build("lstm", {"cell": "lstm_s", "lstm_a_scalar_gates": True})
    with pytest.raises(ValueError, match="cells"):
        _build("parallel_lstm", {"cells": (N, 4, 2)})


def test_reverse_within_length_keeps_padding_in_place() -> None:
    x = torch.arange(1, 6).float().repeat(3, 1)[..., None]  # [3, 5, 1]
    n = torch.tensor([5, 3, 0])
    got = reverse_within_length(x, n)[..., 0]
    assert got.tolist() == [[5, 4, 3, 2, 1], [3, 2, 1, 4, 5], [1, 2, 3, 4, 5]]
    torch.testing.assert_close(reverse_within_length(got[..., None], n), x)


def test_half_frame_sampling_keeps_valid_frames_in_order() -> None:
    torch.manual_seed(3)
    steps, n = 11, torch.tensor([11, 11, 6, 1, 0])
    x = torch.arange(1, steps + 1).float().repeat(5, 1)[..., None]  # frame t holds t + 1
    x = x * (x <= n[:, None, None])
    sub, new_n, on_host = sample_half_frames(x, n, n.clone())
    assert torch.equal(on_host, new_n)  # the host copy of the new lengths agrees
    assert sub.shape == (5, 6, 1)  # ceil(11 / 2) kept
    assert torch.equal(sub[0], sub[1])  # one permutation for the whole batch
    assert (new_n <= torch.minimum(n, torch.tensor(6))).all() and new_n[0] == 6 and new_n[4] == 0
    for row, k in zip(sub[..., 0], new_n.tolist(), strict=True):
        valid = row[:k]
        assert (valid > 0).all() and (valid.diff() > 0).all()  # real frames, ascending
        assert (row[k:] == 0).all()  # padding only after the new length


def test_random_half_frames_samples_only_while_training() -> None:
    model = _build("lstm", {"cells": N, "random_half_frames": True})
    batch = _batch(steps=9, num_frames=(9, 9, 4))
    torch.manual_seed(0)
    first = model.train()(batch).predictions
    second = model(batch).predictions
    assert not torch.allclose(first, second)
    plain = _build("lstm", {"cells": N}).eval()
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(batch).predictions, plain(batch).predictions)


def test_eval_subsets_average_the_predictions_of_that_many_half_subsets(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _build("lstm", {"cells": N, "eval_subsets": 4}).eval()
    single = _build("lstm", {"cells": N}).eval()  # same seed, same weights
    batch = _batch(steps=9, num_frames=(9, 5, 0))
    with torch.no_grad():
        torch.manual_seed(5)
        averaged = model(batch).predictions
        torch.manual_seed(5)
        torch.testing.assert_close(model(batch).predictions, averaged)  # deterministic under a seed
        assert not torch.allclose(averaged, single(batch).predictions)
        torch.manual_seed(5)  # the same four subsets, one by one, of the L2-normalised frames
        x = torch.nn.functional.normalize(batch["features"], dim=-1)
        n = batch["num_frames"]
        runs = [single.moe(single.encoder(*sample_half_frames(x, n, n))) for _ in range(4)]
        torch.testing.assert_close(averaged, torch.stack(runs).mean(dim=0))
    calls = []
    monkeypatch.setattr(lstm_module, "sample_half_frames",
                        lambda *args: calls.append(1) or sample_half_frames(*args))
    with torch.no_grad():
        model(batch)
    assert len(calls) == 4


def test_lstm_a_fwd_bwd_variants_differ_in_structure() -> None:
    paper = _build("lstm_a_fwd_bwd", {"cells": N}).encoder
    code = _build("lstm_a_fwd_bwd", {"cells": N, "variant": "code"}).encoder

    def lstm_a(d: int) -> int:
        return (N + 2 * d + 1) * (4 * N + 2 * d)

    def lstm_s(d: int) -> int:
        return (d + N + 1) * (2 + 2 * N)

    assert sum(p.numel() for p in paper.parameters()) == lstm_a(D) + lstm_a(D + N)
    assert sum(p.numel() for p in code.parameters()) == lstm_s(D) + lstm_s(D + N)
    assert float(code.first.gates.bias[1].detach()) == pytest.approx(0.1)  # the code's forget bias
    assert (paper.first.gates.bias[3 * N: 4 * N] == 1.0).all()  # Eq. 2 cell: per-cell forget biases 1.0


def test_lstm_a_fwd_bwd_second_layer_reads_each_video_backward() -> None:
    model = _build("lstm_a_fwd_bwd", {"cells": N}).eval()
    batch = _batch(steps=6, num_frames=(6, 4, 2))
    with torch.no_grad():
        c2_BN = model.encoder(batch["features"], batch["num_frames"], batch["num_frames"])[:, N:]
        for b, n in enumerate(batch["num_frames"].tolist()):  # one video alone, no padding, flipped
            x_1TD = batch["features"][b:b + 1, :n]
            y_1TN, _ = run_cell(model.encoder.first, x_1TD, torch.tensor([n]))
            _, (c2_1N, *_) = run_cell(model.encoder.second, torch.cat([x_1TD, y_1TN], dim=-1).flip(1),
                                      torch.tensor([n]))
            torch.testing.assert_close(c2_BN[b], c2_1N[0])
