"""LSTM-S / LSTM-A cells and multiple attention pooling, step by step against paper Eq. 2-4."""

from __future__ import annotations

import pytest
import torch

from y8m_models.layers.attention_pooling import AttentionPooling
from y8m_models.layers.lstm_cells import LSTMACell, LSTMSCell, run_cell


def _split(cell: torch.nn.Module, z: torch.Tensor, widths: list[int]) -> list[torch.Tensor]:
    return list((cell.gates.weight @ z + cell.gates.bias).split(widths))


def test_lstm_s_shares_input_and_forget_gates() -> None:
    torch.manual_seed(0)
    cell = LSTMSCell(3, 4)
    x, c, h = torch.randn(3), torch.randn(4), torch.randn(4)
    i, f, o, m = _split(cell, torch.cat([x, h]), [1, 1, 4, 4])
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(m)  # one i and one f for all cells
    c_got, h_got = cell(x[None], (c[None], h[None]))
    torch.testing.assert_close(c_got[0], c_new)
    torch.testing.assert_close(h_got[0], torch.sigmoid(o) * torch.tanh(c_new))
    bias = cell.gates.bias.detach()
    assert float(bias[1]) == 1.0 and float(bias[0]) == pytest.approx(0.1)  # forget bias 1.0, the others 0.1


@pytest.mark.parametrize("scalar_gates", [False, True])
def test_lstm_a_follows_eq_2(scalar_gates: bool) -> None:
    torch.manual_seed(1)
    n, d = 4, 3
    cell = LSTMACell(d, n, scalar_gates=scalar_gates)
    g, a = (1, 1) if scalar_gates else (n, d)
    x, c, h, acc = torch.randn(d), torch.randn(n), torch.randn(n), torch.randn(d)
    o, m, i, f, i2, f2 = _split(cell, torch.cat([h, x, acc / acc.norm()]), [n, n, g, g, a, a])  # d_{t-1} = n(c')
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(m)
    acc_new = torch.sigmoid(f2) * acc + torch.sigmoid(i2) * x
    got = cell(x[None], (c[None], h[None], acc[None]))
    torch.testing.assert_close(got[0][0], c_new)
    torch.testing.assert_close(got[1][0], torch.sigmoid(o) * torch.tanh(c_new))
    torch.testing.assert_close(got[2][0], acc_new)
    assert sum(p.numel() for p in cell.parameters()) == (n + 2 * d + 1) * (2 * n + 2 * g + 2 * a)


def test_run_cell_keeps_the_state_of_each_videos_last_frame() -> None:
    torch.manual_seed(2)
    cell = LSTMSCell(3, 5)
    x = torch.randn(3, 6, 3)
    outputs, (c, h) = run_cell(cell, x, torch.tensor([6, 2, 0]))
    assert outputs.shape == (3, 6, 5)
    # video 1: its state after 2 steps, whatever follows; video 2 (no frames): the zero state
    _, (c_two, h_two) = run_cell(cell, x[1:2, :2], torch.tensor([2]))
    torch.testing.assert_close(c[1], c_two[0])
    torch.testing.assert_close(h[1], h_two[0])
    assert (c[2] == 0).all() and (h[2] == 0).all()
    torch.testing.assert_close(h[0], outputs[0, -1])


def test_attention_pooling_weights_are_a_softmax_over_valid_frames() -> None:
    torch.manual_seed(3)
    pool = AttentionPooling(attention_features=4, groups=3, positional=2, max_frames=5)
    y, att = torch.randn(3, 5, 6), torch.randn(3, 5, 4)
    num_frames = torch.tensor([5, 2, 0])
    z, a = pool(y, att, num_frames)
    assert z.shape == (3, 3, 6) and a.shape == (3, 5, 3)
    torch.testing.assert_close(a[:2].sum(dim=1), torch.ones(2, 3))
    assert (a[1, 2:] == 0).all() and (a[2] == 0).all() and (z[2] == 0).all()
    # By hand for video 1: e = W [att_t; pos_t] + b over its 2 frames, softmax over time, pooled y.
    e = torch.cat([att[1, :2], pool.positions.weight[:2]], dim=-1) @ pool.scores.weight.T + pool.scores.bias
    weights = e.softmax(dim=0)
    torch.testing.assert_close(z[1], weights.T @ y[1, :2])
    # A video without frames gives finite gradients.
    z.sum().backward()
    assert torch.isfinite(pool.scores.weight.grad).all()
