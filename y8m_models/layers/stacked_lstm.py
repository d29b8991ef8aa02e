"""The authors' standard recurrent block (catalog §4.3): TF ``BasicLSTMCell`` layers stacked and run with
``sequence_length = num_frames``, and the parallel variant with one stack per feature part (rgb and audio,
catalog #9, #10, #14, #15, #20).

Steps past a video's length are never computed and the returned states are those after its last valid
frame, as ``dynamic_rnn`` gives. ``BasicLSTMCell`` adds 1.0 to the forget gate's pre-activation: here that is
the forget block of the input bias. A video without frames gets zero outputs and zero states.

Two computations of the same ``torch.nn.LSTM`` parameters: ``nn.LSTM`` over packed sequences (cuDNN on
GPUs), and ``_cpu_layer`` for training large LSTMs on the CPU, because ATen's CPU LSTM backward turns every
step's output slice into a zero-filled copy of the whole sequence (T x B x 4N floats per step: quadratic in
T). ``_cpu_layer`` projects the inputs of all steps in one matrix product and runs the recurrence over the
videos still going (longest first), as a packed sequence does. Its Python loop costs a fixed overhead per
step, so it is used only from ``_CPU_LOOP_SIZE`` elements of T x B x N on (the measurements: BENCHMARKS.md, "The
training engine").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from y8m_models.data.dataset import host_to_device

_CPU_LOOP_SIZE = 2**20  # T x B x N from which training on the CPU uses _cpu_layer (module docstring)


class LSTMRun(NamedTuple):
    """outputs [B, T, N] (zero past each video's length); c and h [B, L, N]: one row per layer (and direction)."""

    outputs: torch.Tensor
    c: torch.Tensor
    h: torch.Tensor


class StackedLSTM(nn.Module):
    """([B, T, D], lengths [B] on the host) -> LSTMRun; ``bidirectional`` doubles N in outputs and rows in c/h."""

    def __init__(self, in_features: int, cells: int, layers: int = 1, bidirectional: bool = False):
        super().__init__()
        if min(in_features, cells, layers) < 1:
            raise ValueError(f"StackedLSTM needs positive sizes, got in_features={in_features}, cells={cells}, "
                             f"layers={layers}")
        self.lstm = nn.LSTM(in_features, cells, layers, batch_first=True, bidirectional=bidirectional)
        with torch.no_grad():
            for name, p in self.lstm.named_parameters():
                if name.startswith("bias_ih"):  # torch gate order: input, forget, cell, output
                    p.zero_()
                    p[cells: 2 * cells] = 1.0
                elif name.startswith("bias_hh"):
                    p.zero_()

    def forward(self, x_BTD: torch.Tensor, lengths_B: torch.Tensor) -> LSTMRun:
        """``lengths_B``: each video's frames, on the host (``models.base.frame_lengths``). A packed sequence is
        built from host lengths; lengths on a GPU are copied, and that copy waits for every step queued before."""
        if torch.is_autocast_enabled(x_BTD.device.type):  # float32 whatever the autocast (numerics.py)
            with torch.autocast(x_BTD.device.type, enabled=False):
                return self.forward(x_BTD.float(), lengths_B)
        lengths_B = lengths_B.to("cpu", torch.int64)
        has_frames_B = (lengths_B > 0).to(x_BTD.dtype)
        lengths_B = lengths_B.clamp(min=1, max=x_BTD.shape[1])
        batch, frames = x_BTD.shape[:2]
        if (x_BTD.device.type == "cpu" and torch.is_grad_enabled()
                and frames * batch * self.lstm.hidden_size >= _CPU_LOOP_SIZE):
            outputs_BTN, h_LB, c_LB = self._cpu(x_BTD, lengths_B)
        else:
            outputs_BTN, h_LB, c_LB = self._packed(x_BTD, lengths_B)
        has_frames_B11 = host_to_device(has_frames_B, x_BTD.device)[:, None, None]
        return LSTMRun(outputs_BTN * has_frames_B11, c_LB.transpose(0, 1) * has_frames_B11,
                       h_LB.transpose(0, 1) * has_frames_B11)

    def _packed(self, x_BTD: torch.Tensor, lengths_B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """nn.LSTM over the packed sequence (cuDNN on a GPU). The videos are sorted longest first on the host
        and the order sent with a queued copy: ``pack_padded_sequence(enforce_sorted=False)`` would send it with
        a copy that waits for the device."""
        order_B = lengths_B.argsort(descending=True, stable=True)
        order_and_back_2B = host_to_device(torch.stack([order_B, order_B.argsort()]), x_BTD.device)
        packed = pack_padded_sequence(x_BTD.index_select(0, order_and_back_2B[0]), lengths_B[order_B],
                                      batch_first=True)
        out_packed, (h_LB, c_LB) = self.lstm(packed)
        outputs_BTN, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=x_BTD.shape[1])
        back_B = order_and_back_2B[1]
        return outputs_BTN.index_select(0, back_B), h_LB.index_select(1, back_B), c_LB.index_select(1, back_B)

    def _cpu(self, x_BTD: torch.Tensor, lengths_B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """nn.LSTM's (outputs [B, T, N * directions], h and c [L * directions, B, N]) on the CPU."""
        order_B = lengths_B.argsort(descending=True, stable=True)
        lengths = lengths_B[order_B].tolist()
        x_BTD = x_BTD[order_B]
        reverse_BT = None
        if self.lstm.bidirectional:  # the backward direction reads each video from its last valid frame
            t_T = torch.arange(x_BTD.shape[1])
            steps_B1 = torch.tensor(lengths)[:, None]
            reverse_BT = torch.where(t_T < steps_B1, steps_B1 - 1 - t_T, t_T)
        hs, cs = [], []
        for layer in range(self.lstm.num_layers):
            outputs = []
            for suffix in ("", "_reverse")[: 1 + self.lstm.bidirectional]:
                weights = [getattr(self.lstm, f"{name}_l{layer}{suffix}")
                           for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                x = x_BTD if not suffix else x_BTD.gather(1, reverse_BT[..., None].expand_as(x_BTD))
                out_BTN, h_BN, c_BN = _cpu_layer(x, lengths, *weights)
                if suffix:
                    out_BTN = out_BTN.gather(1, reverse_BT[..., None].expand_as(out_BTN))
                outputs.append(out_BTN)
                hs.append(h_BN)
                cs.append(c_BN)
            x_BTD = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
        unsort_B = order_B.argsort()
        return x_BTD[unsort_B], torch.stack(hs)[:, unsort_B], torch.stack(cs)[:, unsort_B]


def _cpu_layer(x_BTD: torch.Tensor, lengths: list[int], w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
               b_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One direction of one layer over videos sorted longest first (``lengths`` >= 1, descending): outputs
    [B, T, N] (zero past each length) and the final h, c [B, N]. nn.LSTM's gate order: input, forget, cell,
    output."""
    batch, frames = x_BTD.shape[:2]
    # unbind, not indexing: the backward of x[:, t] would be a zero-filled [B, T, 4N] per step.
    gates_x = torch.addmm(b_ih + b_hh, x_BTD.reshape(batch * frames, -1), w_ih.t()).view(batch, frames, -1)
    gates_x_T = gates_x.unbind(1)
    w_hh_t = w_hh.t()
    h_BN = x_BTD.new_zeros(batch, w_hh.shape[1])
    c_BN = torch.zeros_like(h_BN)
    outputs_T = []
    for t in range(lengths[0]):
        going = sum(1 for n in lengths if n > t)  # the videos still going are the first rows
        gates = torch.addmm(gates_x_T[t][:going], h_BN[:going], w_hh_t)
        i, f, g, o = gates.chunk(4, dim=1)
        c_new = torch.sigmoid(f) * c_BN[:going] + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        outputs_T.append(nn.functional.pad(h_new, (0, 0, 0, batch - going)))
        if going < batch:  # finished videos keep their last state
            h_new, c_new = torch.cat([h_new, h_BN[going:]]), torch.cat([c_new, c_BN[going:]])
        h_BN, c_BN = h_new, c_new
    outputs_BTN = torch.stack(outputs_T, dim=1)
    if lengths[0] < frames:
        outputs_BTN = nn.functional.pad(outputs_BTN, (0, 0, 0, frames - lengths[0]))
    return outputs_BTN, h_BN, c_BN


class ParallelLSTM(nn.Module):
    """One StackedLSTM per feature part (e.g. rgb 1024 and audio 128): ([B, T, sum(parts)], host lengths) ->
    LSTMRun with outputs [B, T, sum(cells)] and c/h [B, 1, L * sum(cells)]: one row in the authors' order
    (every layer of the first part, then every layer of the second), so ``run.c.flatten(1)`` reads alike."""

    def __init__(self, feature_sizes: Sequence[int], cells: Sequence[int], layers: int = 1):
        super().__init__()
        if len(feature_sizes) != len(cells):
            raise ValueError(f"one LSTM width per feature part: parts {tuple(feature_sizes)}, cells {tuple(cells)}")
        self.feature_sizes = tuple(feature_sizes)
        self.parts = nn.ModuleList(StackedLSTM(d, n, layers) for d, n in zip(feature_sizes, cells, strict=True))

    def forward(self, x_BTD: torch.Tensor, lengths_B: torch.Tensor) -> LSTMRun:
        runs = [lstm(x, lengths_B) for lstm, x in zip(self.parts, x_BTD.split(self.feature_sizes, dim=-1),
                                                          strict=True)]
        return LSTMRun(torch.cat([r.outputs for r in runs], dim=-1),
                       torch.cat([r.c.flatten(1) for r in runs], dim=-1)[:, None],
                       torch.cat([r.h.flatten(1) for r in runs], dim=-1)[:, None])
