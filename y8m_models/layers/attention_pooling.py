"""Multiple attention pooling (paper Section 5, Eq. 3-4, Fig. 4; catalog #25-#27).

K attention groups score every frame from an attention input (the model decides what it holds: the
frame and the LSTM output ``[x_t; y_t]`` for #25, plus a masked mean of the frames for #27); an optional
learned per-position embedding is appended (#27). Each group's weights are a softmax over the video's
valid frames, and the group pools the sequence: ``z_k = sum_t a_tk y_t``. The model then applies a shared
MoE to every ``z_k`` and takes the max over groups. The weights are returned for the attention gallery.

[DIFF] The authors' #25 takes the softmax over all 300 steps and then masks frames whose features are all
zero and renormalises; for videos without all-zero frames inside their length that is the masked softmax
used here. [DIFF] For local attention pooling (#23, Eq. 5) the paper implies the softmax of Eq. 3; the
authors' code scores frames with a sigmoid and divides by the sum over valid frames (+1e-8):
``normalization="sigmoid"``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


class AttentionPooling(nn.Module):
    """(sequence [B, T, D], attention input [B, T, E], num_frames [B]) -> (pooled [B, K, D], weights [B, T, K])."""

    def __init__(self, attention_features: int, groups: int, positional: int = 0, max_frames: int = 300,
                 normalization: Literal["softmax", "sigmoid"] = "softmax"):
        super().__init__()
        if groups < 1 or positional < 0:
            raise ValueError(f"AttentionPooling needs groups >= 1 and positional >= 0, got {groups}, {positional}")
        if normalization not in ("softmax", "sigmoid"):
            raise ValueError(f"normalization must be 'softmax' or 'sigmoid', not {normalization!r}")
        self.normalization = normalization
        self.positions = nn.Embedding(max_frames, positional) if positional else None
        self.scores = nn.Linear(attention_features + positional, groups)
        nn.init.trunc_normal_(self.scores.weight, std=0.1, a=-0.2, b=0.2)
        nn.init.constant_(self.scores.bias, 0.1)

    def forward(self, y_BTD: torch.Tensor, attention_BTE: torch.Tensor,
                num_frames_B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.positions is not None:
            t_T = torch.arange(attention_BTE.shape[1], device=attention_BTE.device)
            pos_BTP = self.positions(t_T).expand(attention_BTE.shape[0], -1, -1)
            attention_BTE = torch.cat([attention_BTE, pos_BTP], dim=-1)
        e_BTK = self.scores(attention_BTE).float()  # weights in float32 under any autocast (numerics.py)
        valid_BT = torch.arange(e_BTK.shape[1], device=e_BTK.device)[None, :] < num_frames_B[:, None]
        if self.normalization == "sigmoid":
            a_BTK = torch.sigmoid(e_BTK) * valid_BT[:, :, None]
            a_BTK = a_BTK / (a_BTK.sum(dim=1, keepdim=True) + 1e-8)
        else:
            # The lowest finite value rather than -inf: a video without frames then gets all-zero weights
            # with finite gradients instead of NaN.
            e_BTK = e_BTK.masked_fill(~valid_BT[:, :, None], torch.finfo(e_BTK.dtype).min)
            a_BTK = e_BTK.softmax(dim=1) * valid_BT[:, :, None]
        return torch.einsum("btk,btd->bkd", a_BTK, y_BTD), a_BTK
