"""The authors' standard recurrent block (catalog §4.3): TF ``BasicLSTMCell`` layers stacked and run with
``sequence_length = num_frames``, and the parallel variant with one stack per feature part (rgb and audio,
catalog #9, #10, #14, #15, #20).

Computed with ``torch.nn.LSTM`` over packed sequences (cuDNN on GPUs), so steps past a video's length are
never computed and the returned states are those after its last valid frame, as ``dynamic_rnn`` gives.
``BasicLSTMCell`` adds 1.0 to the forget gate's pre-activation: here that is the forget block of the input
bias. A video without frames gets zero outputs and zero states.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class LSTMRun(NamedTuple):
    """outputs [B, T, N] (zero past each video's length); c and h [B, L, N]: one row per layer (and direction)."""

    outputs: torch.Tensor
    c: torch.Tensor
    h: torch.Tensor


class StackedLSTM(nn.Module):
    """([B, T, D], num_frames [B]) -> LSTMRun; ``bidirectional`` doubles N in outputs and rows in c/h."""

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

    def forward(self, x_BTD: torch.Tensor, num_frames_B: torch.Tensor) -> LSTMRun:
        lengths_B = num_frames_B.clamp(min=1, max=x_BTD.shape[1]).to("cpu", torch.int64)
        packed = pack_padded_sequence(x_BTD, lengths_B, batch_first=True, enforce_sorted=False)
        out_packed, (h_LB, c_LB) = self.lstm(packed)
        outputs_BTN, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=x_BTD.shape[1])
        has_frames = (num_frames_B > 0).to(x_BTD.dtype)
        return LSTMRun(outputs_BTN * has_frames[:, None, None], c_LB.transpose(0, 1) * has_frames[:, None, None],
                       h_LB.transpose(0, 1) * has_frames[:, None, None])


class ParallelLSTM(nn.Module):
    """One StackedLSTM per feature part (e.g. rgb 1024 and audio 128): ([B, T, sum(parts)], num_frames) ->
    LSTMRun with outputs [B, T, sum(cells)] and c/h [B, 1, L * sum(cells)]: one row in the authors' order
    (every layer of the first part, then every layer of the second), so ``run.c.flatten(1)`` reads alike."""

    def __init__(self, feature_sizes: Sequence[int], cells: Sequence[int], layers: int = 1):
        super().__init__()
        if len(feature_sizes) != len(cells):
            raise ValueError(f"one LSTM width per feature part: parts {tuple(feature_sizes)}, cells {tuple(cells)}")
        self.feature_sizes = tuple(feature_sizes)
        self.parts = nn.ModuleList(StackedLSTM(d, n, layers) for d, n in zip(feature_sizes, cells, strict=True))

    def forward(self, x_BTD: torch.Tensor, num_frames_B: torch.Tensor) -> LSTMRun:
        runs = [lstm(x, num_frames_B) for lstm, x in zip(self.parts, x_BTD.split(self.feature_sizes, dim=-1),
                                                          strict=True)]
        return LSTMRun(torch.cat([r.outputs for r in runs], dim=-1),
                       torch.cat([r.c.flatten(1) for r in runs], dim=-1)[:, None],
                       torch.cat([r.h.flatten(1) for r in runs], dim=-1)[:, None])
