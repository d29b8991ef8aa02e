"""MaskedBatchNorm: statistics from the valid frames only."""

from __future__ import annotations

import torch

from y8m_models.layers.masked_batch_norm import MaskedBatchNorm


def test_masked_batch_norm_takes_statistics_from_valid_frames_only() -> None:
    norm = MaskedBatchNorm(3).train()
    x = torch.randn(2, 4, 3)
    valid = torch.tensor([[True, True, True, False], [True, True, False, False]])
    out = norm(x.masked_fill(~valid[..., None], 50.0), valid)
    rows = x[valid]
    expected = (rows - rows.mean(0)) / torch.sqrt(rows.var(0, unbiased=False) + 1e-3)
    torch.testing.assert_close(out[valid], expected)
    assert (out[~valid] == 0).all()
    torch.testing.assert_close(norm.running_mean, 0.01 * rows.mean(0))
    assert torch.isfinite(norm(x, torch.zeros(2, 4, dtype=torch.bool))).all()  # no valid frame: no NaN


def test_a_checkpoint_of_a_batch_norm1d_loads() -> None:
    """DBoF's video-level norm was an nn.BatchNorm1d: its checkpoints (with a step counter) still load."""
    old = torch.nn.BatchNorm1d(4)
    old.running_mean.fill_(0.5)
    norm = MaskedBatchNorm(4)
    norm.load_state_dict(old.state_dict())
    assert torch.equal(norm.running_mean, torch.full((4,), 0.5))
