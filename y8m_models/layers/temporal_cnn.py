"""Shifted-concat temporal convolution (paper Section 5, Fig. 4; catalog §4.6).

For each width w, every frame t is represented by the concatenation ``[x_t, x_{t-1}, ..., x_{t-w+1}]``
(zeros before the first frame) times a ``(w*D) x n_w`` matrix, without bias or activation; the outputs of
all widths are concatenated on the channel axis. That is a causal 1-D convolution of kernel w with w-1
zeros of front padding, which is how it is computed here (kernel tap j multiplies ``x_{t-(w-1)+j}``, i.e.
the authors' matrix with its w row blocks in reverse order).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ShiftedConcatCNN(nn.Module):
    """[B, T, D] -> [B, T, sum(channels)]; ``channels[i]`` filters of width ``widths[i]``."""

    def __init__(self, in_features: int, widths: Sequence[int] = (1, 2, 3), channels: Sequence[int] = (1024,) * 3):
        super().__init__()
        if len(widths) != len(channels) or min(widths) < 1 or min(channels) < 1:
            raise ValueError(f"widths {tuple(widths)} and channels {tuple(channels)} must be positive and pair up")
        self.widths = tuple(widths)
        self.convs = nn.ModuleList(nn.Conv1d(in_features, n, w, bias=False)
                                   for w, n in zip(widths, channels, strict=True))
        for conv in self.convs:  # the authors' truncated normal, sigma 0.1
            nn.init.trunc_normal_(conv.weight, std=0.1, a=-0.2, b=0.2)

    def forward(self, x_BTD: torch.Tensor) -> torch.Tensor:
        x_BDT = x_BTD.transpose(1, 2)
        outs = [conv(F.pad(x_BDT, (w - 1, 0))) for w, conv in zip(self.widths, self.convs, strict=True)]
        return torch.cat(outs, dim=1).transpose(1, 2)
