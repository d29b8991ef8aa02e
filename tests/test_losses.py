"""Losses against hand-computed values (catalog §4.7, §4.11, #1)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.on_the_device import OnTheDevice
from y8m_models.configs.schema import LossSpec
from y8m_models.losses import cross_entropy, distillation_loss, model_loss, online_distillation, relabeled_targets
from y8m_models.models.base import ModelOutput

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


def test_model_loss_sums_the_auxiliary_predictions() -> None:
    stages = torch.stack([P, P.flip(1)], dim=1)  # [B, S=2, C]
    expected = 0.975 * float(cross_entropy(P, Y)) + 0.025 * (float(cross_entropy(P, Y))
                                                            + float(cross_entropy(P.flip(1), Y)))
    spec = LossSpec(main_weight=0.975, aux_weight=0.025)
    assert float(model_loss(ModelOutput(P, auxiliary=stages), Y, spec)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="aux_weight"):
        model_loss(ModelOutput(P), Y, spec)
    # The zt multi-scale loss: only the scales, averaged.
    mean_scales = LossSpec(main_weight=0.0, aux_weight=0.5)
    assert float(model_loss(ModelOutput(P, auxiliary=stages), Y, mean_scales)) == pytest.approx(
        0.5 * (float(cross_entropy(P, Y)) + float(cross_entropy(P.flip(1), Y))))


def test_model_loss_softmax_for_infrequent_labels() -> None:
    # 3 classes, the first frequent: the head's distribution covers classes 1, 2 and the "none" slot.
    p = torch.tensor([[0.8, 0.3, 0.6], [0.1, 0.2, 0.2]])
    dist = torch.tensor([[0.3, 0.6, 0.1], [0.2, 0.2, 0.6]])
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    expected = (float(cross_entropy(p[:, :1], y[:, :1]))
                + (-math.log(0.6 + 1e-5) - math.log(0.6 + 1e-5)) / 2)  # video 1's target is the none slot
    got = model_loss(ModelOutput(p, infrequent=dist), y, LossSpec())
    assert float(got) == pytest.approx(expected)
    as_in_code = model_loss(ModelOutput(p, infrequent=dist), y, LossSpec(infrequent="sigmoid"))
    assert float(as_in_code) == pytest.approx(float(cross_entropy(p, y)))


def test_model_loss_vertical_head_targets() -> None:
    v = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # both classes in vertical 0; vertical 1 empty
    verticals = torch.tensor([[0.7, 0.2], [0.4, 0.1]])
    spec = LossSpec(vertical_weight=0.5)
    got = model_loss(ModelOutput(P, verticals=verticals), Y, spec, vertical_matrix_CV=v)
    expected = float(cross_entropy(P, Y)) + 0.5 * float(cross_entropy(verticals, torch.tensor([[1.0, 0], [1, 0]])))
    assert float(got) == pytest.approx(expected)
    with pytest.raises(ValueError, match="vertical"):
        model_loss(ModelOutput(P), Y, spec)


def test_model_loss_relabel_follows_the_rule() -> None:
    # A confident miss: plain CE is ~ -log(1e-5) per class, far above 10, so the code's rule fires and the
    # paper's does not.
    p = torch.tensor([[0.99999, 0.0]])
    y = torch.tensor([[0.0, 1.0]])
    plain = float(cross_entropy(p, y))
    assert plain > 10
    assert float(model_loss(ModelOutput(p), y, LossSpec(relabel="paper"))) == pytest.approx(plain)
    relabeled = float(cross_entropy(p, torch.tensor([[1.0, 1.0]])))
    assert float(model_loss(ModelOutput(p), y, LossSpec(relabel="code"))) == pytest.approx(relabeled)


def test_distillation_mixture() -> None:
    teacher = torch.tensor([[0.7, 0.1], [0.2, 0.6]])
    loss = distillation_loss(cross_entropy(P, Y), cross_entropy(P, teacher), lam=0.4)
    assert float(loss) == pytest.approx(0.6 * float(cross_entropy(P, Y)) + 0.4 * float(cross_entropy(P, teacher)))
    with pytest.raises(ValueError, match="lambda"):
        distillation_loss(loss, loss, lam=1.5)


def test_online_distillation_is_the_kl_from_the_mixture_to_each_branch() -> None:
    """sum_m KL(softmax(z / T) || softmax(z_m / T)) over the classes, averaged over videos; added to the loss with
    its weight; 0 where every branch agrees with the mixture."""
    torch.manual_seed(0)
    z, z_m, t = torch.randn(3, 5), torch.randn(3, 2, 5), 3.0
    teacher = torch.softmax(z / t, dim=-1)
    expected = sum(float((teacher[b] * (teacher[b].log() - torch.log_softmax(z_m[b, m] / t, dim=-1))).sum())
                   for b in range(3) for m in range(2)) / 3
    got = online_distillation(torch.sigmoid(z), torch.sigmoid(z_m), t)
    assert float(got) == pytest.approx(expected, rel=1e-4)
    assert float(online_distillation(torch.sigmoid(z), torch.sigmoid(z)[:, None].expand(-1, 2, -1), t)) == \
        pytest.approx(0.0, abs=1e-6)
    out = ModelOutput(torch.sigmoid(z), auxiliary=torch.sigmoid(z_m))
    y = (torch.rand(3, 5) < 0.3).float()
    plain = model_loss(out, y, LossSpec(aux_weight=1.0))
    spec = LossSpec(aux_weight=1.0, online_distillation=9.0, temperature=t)
    assert float(model_loss(out, y, spec)) == pytest.approx(float(plain) + 9 * expected, rel=1e-4)
    with pytest.raises(ValueError, match="no auxiliary predictions to teach"):
        model_loss(ModelOutput(torch.sigmoid(z)), y, LossSpec(online_distillation=9.0))


def test_relabel_paper_soft_target_and_code_hard_label() -> None:
    p = torch.tensor([[0.2, 0.7, 0.1], [0.6, 0.3, 0.9]])
    y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    soft = relabeled_targets(p, y, torch.tensor(3.0))  # paper: below the threshold
    torch.testing.assert_close(soft, torch.tensor([[1.0, 0.7, 0.0], [0.0, 0.0, 1.0]]))
    torch.testing.assert_close(relabeled_targets(p, y, torch.tensor(12.0)), y)
    hard = relabeled_targets(p, y, torch.tensor(12.0), as_in_code=True)  # code: at or above it
    torch.testing.assert_close(hard, torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    torch.testing.assert_close(relabeled_targets(p, y, torch.tensor(3.0), as_in_code=True), y)


def test_the_relabelling_decides_on_the_device() -> None:
    """#1 reads its batch loss every step: the decision is a ``where`` on the device, not a host ``if``."""
    p, y = torch.tensor([[0.9, 0.7, 0.1]]), torch.tensor([[1.0, 0.0, 0.0]])
    for loss, code in ((3.0, False), (12.0, False), (12.0, True), (3.0, True)):
        on_device = relabeled_targets(p, y, torch.tensor(loss).as_subclass(OnTheDevice), as_in_code=code)
        torch.testing.assert_close(on_device.as_subclass(torch.Tensor), relabeled_targets(p, y, torch.tensor(loss),
                                                                                           as_in_code=code))


def test_the_device_stand_in_catches_a_host_read() -> None:
    n = torch.tensor([3, 1]).as_subclass(OnTheDevice)
    (n // 2).clamp(min=1)  # arithmetic stays on the device
    for read in (lambda: (n + 1).to("cpu"), lambda: n.tolist(), lambda: bool((n > 0).all()), lambda: int(n[0])):
        with pytest.raises(AssertionError, match="on the host"):
            read()
