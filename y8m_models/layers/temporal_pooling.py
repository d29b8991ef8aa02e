"""Pooling over time for frame-level models (mean for DBoF-style and mean-pooling baselines, max for the
CNN models; catalog §4.6).

[DIFF-detail] The authors' CNN models take the max over all 300 positions, padding included
(``num_frames=None`` here); passing ``num_frames`` restricts it to the valid frames.
"""

from __future__ import annotations

import torch


def _valid_BT1(x_BTD: torch.Tensor, num_frames_B: torch.Tensor) -> torch.Tensor:
    return (torch.arange(x_BTD.shape[1], device=x_BTD.device)[None, :] < num_frames_B[:, None])[:, :, None]


def mean_over_time(x_BTD: torch.Tensor, num_frames_B: torch.Tensor) -> torch.Tensor:
    """Mean of the valid frames [B, D]; a video without frames gives zeros."""
    total_BD = (x_BTD * _valid_BT1(x_BTD, num_frames_B)).sum(dim=1)
    return total_BD / num_frames_B.clamp(min=1)[:, None].to(x_BTD.dtype)


def max_over_time(x_BTD: torch.Tensor, num_frames_B: torch.Tensor | None = None) -> torch.Tensor:
    """Max over frames [B, D]: all positions (the authors' CNN), or the valid ones; no frames gives zeros."""
    if num_frames_B is None:
        return x_BTD.amax(dim=1)
    valid_BT1 = _valid_BT1(x_BTD, num_frames_B)
    pooled_BD = x_BTD.masked_fill(~valid_BT1, torch.finfo(x_BTD.dtype).min).amax(dim=1)
    return torch.where(num_frames_B[:, None] > 0, pooled_BD, 0.0)
