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


def test_warm_start_averages_the_first_batches_then_moves() -> None:
    """warm_start: the running statistics are the plain mean of the batches' until 1 / momentum batches, then the
    moving average; a batch without 2 valid frames neither moves them nor counts."""
    torch.manual_seed(0)
    norm = MaskedBatchNorm(3, momentum=0.25, warm_start=True).train()
    valid = torch.ones(2, 5, dtype=torch.bool)
    batches = [torch.randn(2, 5, 3) * (i + 1) + i for i in range(6)]
    means = [b.reshape(-1, 3).mean(0) for b in batches]
    variances = [b.reshape(-1, 3).var(0) for b in batches]
    norm(batches[0], valid)
    torch.testing.assert_close(norm.running_mean, means[0])
    torch.testing.assert_close(norm.running_var, variances[0])  # not 0.75 * 1 + 0.25 * var: the start is gone
    norm(batches[1], torch.zeros(2, 5, dtype=torch.bool))
    assert int(norm.batches_seen) == 1
    for b in batches[1:4]:
        norm(b, valid)
    torch.testing.assert_close(norm.running_mean, torch.stack(means[:4]).mean(0))  # 1 / momentum = 4 batches
    expected = torch.stack(means[:4]).mean(0)
    for b, m in zip(batches[4:], means[4:], strict=True):
        norm(b, valid)
        expected = 0.75 * expected + 0.25 * m
    torch.testing.assert_close(norm.running_mean, expected)
    assert "batches_seen" not in MaskedBatchNorm(3).state_dict()  # the paper's models' checkpoints do not change
