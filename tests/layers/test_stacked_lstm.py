"""StackedLSTM / ParallelLSTM: the states after each video's last valid frame, as dynamic_rnn gives."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from y8m_models.layers.stacked_lstm import ParallelLSTM, StackedLSTM


def test_states_are_those_after_the_last_valid_frame() -> None:
    torch.manual_seed(0)
    lstm = StackedLSTM(6, 5, layers=2)
    x = torch.randn(3, 7, 6)
    n = torch.tensor([7, 3, 0])
    run = lstm(x, n)
    for b, length in enumerate(n.tolist()):
        if length == 0:
            assert run.c[b].abs().max() == 0 and run.outputs[b].abs().max() == 0
            continue
        out, (h, c) = lstm.lstm(x[b: b + 1, :length])  # the same weights on the video alone
        torch.testing.assert_close(run.c[b], c[:, 0])
        torch.testing.assert_close(run.h[b], h[:, 0])
        torch.testing.assert_close(run.outputs[b, :length], out[0])
        assert not run.outputs[b, length:].any()


def test_forget_gate_bias_is_one_as_basic_lstm_cell() -> None:
    lstm = StackedLSTM(4, 3)
    bias = lstm.lstm.bias_ih_l0 + lstm.lstm.bias_hh_l0
    assert bias.tolist() == [0.0] * 3 + [1.0] * 3 + [0.0] * 6  # input, forget, cell, output


def test_parallel_runs_one_stack_per_part() -> None:
    torch.manual_seed(0)
    lstm = ParallelLSTM((6, 2), (5, 3), layers=2)
    x = torch.randn(2, 4, 8)
    n = torch.tensor([4, 2])
    run = lstm(x, n)
    rgb, audio = lstm.parts[0](x[..., :6], n), lstm.parts[1](x[..., 6:], n)
    assert run.outputs.shape == (2, 4, 8) and run.c.shape == (2, 1, 2 * 5 + 2 * 3)
    torch.testing.assert_close(run.c[:, 0], torch.cat([rgb.c.flatten(1), audio.c.flatten(1)], dim=1))


@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (2, False), (1, True), (2, True)])
def test_cpu_recurrence_is_nn_lstm_over_packed_sequences(layers: int, bidirectional: bool,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU training path (``_cpu_layer``, here at any size) computes what nn.LSTM over packed sequences
    does, values and gradients, for videos of every length including none."""
    from y8m_models.layers import stacked_lstm

    monkeypatch.setattr(stacked_lstm, "_CPU_LOOP_SIZE", 0)
    torch.manual_seed(0)
    lstm = StackedLSTM(6, 5, layers, bidirectional=bidirectional).double()
    x = torch.randn(5, 9, 6, dtype=torch.double, requires_grad=True)
    num_frames = torch.tensor([9, 3, 0, 7, 1])
    run = lstm(x, num_frames)
    packed = pack_padded_sequence(x, num_frames.clamp(min=1), batch_first=True, enforce_sorted=False)
    out_packed, (h, c) = lstm.lstm(packed)
    outputs, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=9)
    has_frames = (num_frames > 0).double()[:, None, None]
    expected = (outputs * has_frames, c.transpose(0, 1) * has_frames, h.transpose(0, 1) * has_frames)
    for got, want in zip(run, expected, strict=True):
        torch.testing.assert_close(got, want)
    inputs = [x, *lstm.parameters()]
    got_grads = torch.autograd.grad(sum(t.sum() for t in run), inputs)
    want_grads = torch.autograd.grad(sum(t.sum() for t in expected), inputs)
    for got, want in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(got, want)
