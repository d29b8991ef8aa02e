"""The paper's two LSTM variants (Section 2, Eq. 2; catalog #6, #7 and §4.3) and a runner over time.

LSTM-S: all cells share one input gate and one forget gate (scalars per video and step); every cell keeps
its own output gate. LSTM-A: an LSTM whose gates also see ``d_{t-1}``, the L2-normalised state of an input
accumulator ``c'_t = s(f'_t) c'_{t-1} + s(i'_t) x_t``.

[DIFF] Eq. 2 gives LSTM-A per-cell input/forget gates and, for the accumulator, gates that must be
per-feature to multiply x_t; the authors' code (zt ``LstmGlu2Model``) makes all four of them scalars.
Default: the paper; ``scalar_gates=True``: the code. Initialisation and biases follow the code (truncated
normal 0.1; forget biases 1.0, other biases 0.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _linear(in_features: int, biases: list[tuple[int, float]]) -> nn.Linear:
    """One affine map for all gates; ``biases`` lists (width, initial bias) of each gate in order."""
    layer = nn.Linear(in_features, sum(w for w, _ in biases))
    nn.init.trunc_normal_(layer.weight, std=0.1, a=-0.2, b=0.2)
    layer.bias.data = torch.cat([torch.full((w,), b) for w, b in biases])
    return layer


class LSTMSCell(nn.Module):
    """One step: (x [B, D], (c, h) [B, N]) -> (c, h)."""

    def __init__(self, in_features: int, cells: int):
        super().__init__()
        self.cells = cells
        # [input gate (1), forget gate (1), output gates (N), candidate (N)]
        self.gates = _linear(in_features + cells, [(1, 0.1), (1, 1.0), (cells, 0.1), (cells, 0.1)])

    def initial_state(self, x_BD: torch.Tensor) -> tuple[torch.Tensor, ...]:
        zeros = x_BD.new_zeros(x_BD.shape[0], self.cells)
        return zeros, zeros

    def input_gates(self, x_BTD: torch.Tensor) -> torch.Tensor:
        """The input's share of the gate pre-activations (plus the biases), for any leading dimensions."""
        return F.linear(x_BTD, self.gates.weight[:, : -self.cells], self.gates.bias)

    def recurrent_weights(self) -> tuple[torch.Tensor, ...]:
        """The state's columns of the gate matrix (views: slice once per sequence, not once per step)."""
        return (self.gates.weight[:, -self.cells:],)

    def step(self, gx_BG: torch.Tensor, state: tuple[torch.Tensor, ...],
             weights: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        c_BN, h_BN = state
        i_B1, f_B1, o_BN, m_BN = (gx_BG + F.linear(h_BN, weights[0])).split(
            [1, 1, self.cells, self.cells], dim=-1)
        c_BN = torch.sigmoid(f_B1) * c_BN + torch.sigmoid(i_B1) * torch.tanh(m_BN)
        return c_BN, torch.sigmoid(o_BN) * torch.tanh(c_BN)

    def forward(self, x_BD: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return self.step(self.input_gates(x_BD), state, self.recurrent_weights())


class LSTMACell(nn.Module):
    """One step: (x [B, D], (c, h [B, N], accumulator c' [B, D])) -> the same three."""

    def __init__(self, in_features: int, cells: int, scalar_gates: bool = False):
        super().__init__()
        self.cells, self.in_features = cells, in_features
        g, a = (1, 1) if scalar_gates else (cells, in_features)
        self.widths = [cells, cells, g, g, a, a]  # o, m, i, f, i', f'
        self.gates = _linear(cells + 2 * in_features,
                             [(cells, 0.1), (cells, 0.1), (g, 0.1), (g, 1.0), (a, 0.1), (a, 1.0)])

    def initial_state(self, x_BD: torch.Tensor) -> tuple[torch.Tensor, ...]:
        zeros_N = x_BD.new_zeros(x_BD.shape[0], self.cells)
        return zeros_N, zeros_N, torch.zeros_like(x_BD)

    def input_gates(self, x_BTD: torch.Tensor) -> torch.Tensor:
        """The input's share of the gate pre-activations (plus the biases), and the input itself (the
        accumulator adds it): [..., G + D]."""
        n, d = self.cells, self.in_features
        return torch.cat([F.linear(x_BTD, self.gates.weight[:, n: n + d], self.gates.bias), x_BTD], dim=-1)

    def recurrent_weights(self) -> tuple[torch.Tensor, ...]:
        """The columns of h and of d in the gate matrix (views: slice once per sequence, not once per step)."""
        n, d = self.cells, self.in_features
        return self.gates.weight[:, :n], self.gates.weight[:, n + d:]

    def step(self, gx_BG: torch.Tensor, state: tuple[torch.Tensor, ...],
             weights: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        c_BN, h_BN, acc_BD = state
        d = self.in_features
        gx_BG, x_BD = gx_BG[:, :-d], gx_BG[:, -d:]
        d_BD = F.normalize(acc_BD, dim=-1)  # d_{t-1} = n(c'_{t-1})
        pre_BG = gx_BG + F.linear(h_BN, weights[0]) + F.linear(d_BD, weights[1])
        o, m, i, f, i_acc, f_acc = pre_BG.split(self.widths, dim=-1)
        c_BN = torch.sigmoid(f) * c_BN + torch.sigmoid(i) * torch.tanh(m)
        acc_BD = torch.sigmoid(f_acc) * acc_BD + torch.sigmoid(i_acc) * x_BD
        return c_BN, torch.sigmoid(o) * torch.tanh(c_BN), acc_BD

    def forward(self, x_BD: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return self.step(self.input_gates(x_BD), state, self.recurrent_weights())


def run_cell(cell: LSTMSCell | LSTMACell, x_BTD: torch.Tensor,
             num_frames_B: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Run ``cell`` over all T steps: (h at every step [B, T, N], the state after each video's last valid
    frame). As the authors' code, steps past ``num_frames`` are computed and then ignored by gathering the
    state at ``num_frames - 1``; a video without frames keeps the initial (zero) state."""
    state = cell.initial_state(x_BTD[:, 0])
    # The input's share of every step in one matrix product; the per-step work is the recurrent part only.
    gx_BTG, weights = cell.input_gates(x_BTD), cell.recurrent_weights()
    device = x_BTD.device.type
    if torch.is_autocast_enabled(device):  # cast once, not at every step (autocast caches leaves, not slices)
        weights = tuple(w.to(torch.get_autocast_dtype(device)) for w in weights)
    history: list[tuple[torch.Tensor, ...]] = []
    # unbind, not gx_BTG[:, t]: the backward of each slice would be a zero-filled [B, T, G] (quadratic in T).
    for gx_BG in gx_BTG.unbind(1):
        state = cell.step(gx_BG, state, weights)
        history.append(state)
    outputs_BTN = torch.stack([s[1] for s in history], dim=1)
    last_B = (num_frames_B.clamp(min=1) - 1).long()
    rows_B = torch.arange(len(last_B), device=last_B.device)
    has_frames_B1 = (num_frames_B > 0).unsqueeze(-1)
    final = []
    for k in range(len(state)):
        per_step = torch.stack([s[k] for s in history], dim=1)  # [B, T, width of state k]
        final.append(torch.where(has_frames_B1, per_step[rows_B, last_B], 0.0))
    return outputs_BTN, tuple(final)
