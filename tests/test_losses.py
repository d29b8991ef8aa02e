"""Losses against hand-computed values (catalog §4.7, §4.11, #1)."""

from __future__ import annotations

import math

import pytest
import torch

from y8m_models.losses import chaining_loss, cross_entropy, distillation_loss, relabeled_targets

P = torch.tensor([[0.9, 0.2], [0.5, 0.0]])
Y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])


def _ce(p: float, y: float, pos: float = 1.0) -> float:
    return -(pos * y * math.log(p + 1e-5) + (1 - y) * math.log(1 - p + 1e-5))


def test_cross_entropy_sums_classes_and_averages_videos() -> None:
    video0 = _ce(0.9, 1) + _ce(0.2, 0)
    video1 = _ce(0.5, 0) + _ce(0.0, 1)  # log(1e-5): the epsilon keeps a confident miss finite
    assert float(cross_entropy(P, Y)) == pytest.approx((video0 + video1) / 2)
    # Per-video weights multiply each video's sum; the mean is over videos, not renormalised by sum(w).
    assert float(cross_entropy(P, Y, torch.tensor([2.0, 0.0]))) == pytest.approx(2 * video0 / 2)
    pos10 = (_ce(0.9, 1, 10) + _ce(0.2, 0) + _ce(0.5, 0) + _ce(0.0, 1, 10)) / 2
    assert float(cross_entropy(P, Y, positive_weight=10.0)) == pytest.approx(pos10)


def test_chaining_loss_sums_the_stages() -> None:
    stages = torch.stack([P, P.flip(1)], dim=1)  # [B, S=2, C]
    expected = 0.975 * float(cross_entropy(P, Y)) + 0.025 * (float(cross_entropy(P, Y))
                                                            + float(cross_entropy(P.flip(1), Y)))
    assert float(chaining_loss(P, stages, Y, main_weight=0.975, aux_weight=0.025)) == pytest.approx(expected)


def test_distillation_mixture() -> None:
    teacher = torch.tensor([[0.7, 0.1], [0.2, 0.6]])
    loss = distillation_loss(cross_entropy(P, Y), cross_entropy(P, teacher), lam=0.4)
    assert float(loss) == pytest.approx(0.6 * float(cross_entropy(P, Y)) + 0.4 * float(cross_entropy(P, teacher)))
    with pytest.raises(ValueError, match="lambda"):
        distillation_loss(loss, loss, lam=1.5)


def test_relabel_paper_soft_target_and_code_hard_label() -> None:
    p = torch.tensor([[0.2, 0.7, 0.1], [0.6, 0.3, 0.9]])
    y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    soft = relabeled_targets(p, y, torch.tensor(3.0))  # paper: below the threshold
    torch.testing.assert_close(soft, torch.tensor([[1.0, 0.7, 0.0], [0.0, 0.0, 1.0]]))
    assert relabeled_targets(p, y, torch.tensor(12.0)) is y
    hard = relabeled_targets(p, y, torch.tensor(12.0), as_in_code=True)  # code: at or above it
    torch.testing.assert_close(hard, torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    assert relabeled_targets(p, y, torch.tensor(3.0), as_in_code=True) is y
