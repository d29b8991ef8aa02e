"""Losses of the monkeytyping models (paper Sections 3, 6.3, 7; catalog §4.7, §4.11, #1, #29).

All take probabilities (the MoE outputs), not logits, as the authors' code does.

* ``cross_entropy``: ``-sum_l [y_l log(p_l + eps) + (1 - y_l) log(1 - p_l + eps)]`` per video (eps = 1e-5),
  optionally times a per-video weight (bagging, boosting), averaged over the batch, NOT renormalised by the
  sum of the weights. ``positive_weight`` multiplies the positive term (#29's weighted CE uses 10).
* ``model_loss``: a configuration's whole loss from a ``ModelOutput`` and its ``LossSpec``:
  ``main_weight * CE(p, y) + aux_weight * sum_s CE(p_s, y)`` over the auxiliary predictions (Chaining
  stages, or the scales of the multi-scale models), plus the #29 variants. The authors' wh Chaining uses
  main 1 - q and aux q per stage (#2: q = 0.025); the zt models main 1 and aux 0.1; the zt multi-scale
  models main 0 and aux 1/S (the mean over scales).
* ``distillation_loss``: ``(1 - lam) * L(p, y) + lam * L(p, p_hat)`` (paper Eq. 12) with the ensemble's
  predictions ``p_hat`` as soft targets.
* ``relabeled_targets``: #1's relabelling rule (below).
* ``online_distillation``: the final prediction teaches each auxiliary one (NeXtVLAD's mixture, beyond the paper).
"""

from __future__ import annotations

import torch

from y8m_models.configs.schema import LossSpec
from y8m_models.distributed import batch_mean

EPSILON = 1e-5  # the authors write it as 10e-6


def cross_entropy_per_video(p_BC: torch.Tensor, y_BC: torch.Tensor, positive_weight: float = 1.0) -> torch.Tensor:
    """Each video's cross-entropy summed over classes [B]."""
    per_class = positive_weight * y_BC * torch.log(p_BC + EPSILON) + (1 - y_BC) * torch.log(1 - p_BC + EPSILON)
    return -per_class.sum(dim=-1)


def cross_entropy(p_BC: torch.Tensor, y_BC: torch.Tensor, weights_B: torch.Tensor | None = None,
                  positive_weight: float = 1.0) -> torch.Tensor:
    """Mean over the batch of each video's (weighted) cross-entropy summed over classes."""
    per_video_B = cross_entropy_per_video(p_BC, y_BC, positive_weight)
    if weights_B is not None:
        per_video_B = per_video_B * weights_B
    return per_video_B.mean()


def distillation_loss(loss_to_labels: torch.Tensor, loss_to_teacher: torch.Tensor, lam: float) -> torch.Tensor:
    """``(1 - lam) * L(p, y) + lam * L(p, p_hat)``: the two terms computed by the same loss function."""
    if not 0 <= lam <= 1:
        raise ValueError(f"distillation lambda must be in [0, 1], not {lam}")
    return (1 - lam) * loss_to_labels + lam * loss_to_teacher


def online_distillation(p_BC: torch.Tensor, auxiliary_BSC: torch.Tensor, temperature: float) -> torch.Tensor:
    """``sum_s KL(softmax(z / T) || softmax(z_s / T))`` averaged over the batch, with z and z_s the logits of the
    final and the auxiliary predictions, the softmax across the classes (NeXtVLAD's mixture, after Lan et al.
    2018's on-the-fly native ensemble: the mixture is the teacher, and it is trained by this term too, as the
    released model is). The logits come back from the probabilities, clamped to (1e-7, 1 - 1e-7): |z| <= 16."""
    def logits(p: torch.Tensor) -> torch.Tensor:
        return torch.logit(p.float().clamp(1e-7, 1 - 1e-7)) / temperature

    teacher_BC = logits(p_BC).log_softmax(dim=-1)
    student_BSC = logits(auxiliary_BSC).log_softmax(dim=-1)
    kl_BS = (teacher_BC.exp()[:, None] * (teacher_BC[:, None] - student_BSC)).sum(dim=-1)
    return kl_BS.sum(dim=1).mean()


def relabeled_targets(p_BC: torch.Tensor, y_BC: torch.Tensor, batch_loss: torch.Tensor, threshold: float = 10.0,
                      as_in_code: bool = False) -> torch.Tensor:
    """#1's targets. Paper: once the batch loss is below ``threshold``, every video's most confident
    predicted class becomes a soft target (its predicted probability, where the label is not already 1).
    [DIFF] The authors' code does the opposite: while the loss is at or above the threshold it adds the
    arg-max class as a hard positive (``as_in_code=True``). The loss is then recomputed with these targets.
    The decision stays on the device (a ``where``, not an ``if``): reading the loss would make the host wait.
    """
    active = batch_loss >= threshold if as_in_code else batch_loss < threshold
    confidence_B, top_B = p_BC.detach().max(dim=-1)
    extra_B1 = torch.ones_like(confidence_B) if as_in_code else confidence_B
    extra_BC = torch.zeros_like(y_BC).scatter_(1, top_B[:, None], extra_B1[:, None].to(y_BC.dtype))
    return torch.where(active, torch.maximum(y_BC, extra_BC), y_BC)


def _infrequent_softmax_ce(dist_BI: torch.Tensor, y_BC: torch.Tensor, weights_B: torch.Tensor | None) -> torch.Tensor:
    """Softmax CE of the infrequent head: targets are the video's infrequent labels, normalised to sum 1, or the
    "none" slot (last) when it has none."""
    y_inf_BI = y_BC[:, y_BC.shape[1] - dist_BI.shape[1] + 1:]
    none_B1 = (y_inf_BI.sum(dim=1, keepdim=True) == 0).to(y_BC.dtype)
    targets_BI = torch.cat([y_inf_BI, none_B1], dim=1)
    targets_BI = targets_BI / targets_BI.sum(dim=1, keepdim=True)
    per_video_B = -(targets_BI * torch.log(dist_BI + EPSILON)).sum(dim=1)
    if weights_B is not None:
        per_video_B = per_video_B * weights_B
    return per_video_B.mean()


def model_loss(output, y_BC: torch.Tensor, spec: LossSpec, weights_B: torch.Tensor | None = None,
               vertical_matrix_CV: torch.Tensor | None = None) -> torch.Tensor:
    """The loss of one batch: ``output`` is a ``y8m_models.models.ModelOutput``, ``y_BC`` 0/1 labels or soft
    targets (a distillation teacher's predictions), ``weights_B`` per-video loss weights (bagging, boosting)."""

    def head(p_BC: torch.Tensor, infrequent_BI: torch.Tensor | None = None) -> torch.Tensor:
        targets_BC = y_BC
        if spec.relabel != "none":
            plain = cross_entropy(p_BC, y_BC, weights_B, spec.positive_weight)
            targets_BC = relabeled_targets(p_BC, y_BC, batch_mean(plain, len(y_BC)), spec.relabel_threshold,
                                           as_in_code=spec.relabel == "code")
        if infrequent_BI is None or spec.infrequent == "sigmoid":
            return cross_entropy(p_BC, targets_BC, weights_B, spec.positive_weight)
        frequent = p_BC.shape[1] - infrequent_BI.shape[1] + 1
        return (cross_entropy(p_BC[:, :frequent], targets_BC[:, :frequent], weights_B, spec.positive_weight)
                + _infrequent_softmax_ce(infrequent_BI, targets_BC, weights_B))

    loss = spec.main_weight * head(output.predictions, output.infrequent) if spec.main_weight else 0.0
    if spec.aux_weight:
        if output.auxiliary is None:
            raise ValueError("loss.aux_weight is set but the model has no auxiliary predictions")
        loss = loss + spec.aux_weight * sum(head(output.auxiliary[:, s]) for s in range(output.auxiliary.shape[1]))
    if spec.online_distillation:
        if output.auxiliary is None:
            raise ValueError("loss.online_distillation is set but the model has no auxiliary predictions to teach")
        loss = loss + spec.online_distillation * online_distillation(output.predictions, output.auxiliary,
                                                                     spec.temperature)
    if spec.vertical_weight:
        if output.verticals is None or vertical_matrix_CV is None:
            raise ValueError("loss.vertical_weight needs a model with a vertical head and the vertical matrix")
        vertical_targets_BV = (y_BC @ vertical_matrix_CV.to(y_BC.dtype) > 0).to(y_BC.dtype)
        loss = loss + spec.vertical_weight * cross_entropy(output.verticals, vertical_targets_BV, weights_B)
    if not isinstance(loss, torch.Tensor):
        raise ValueError("the loss has no term: main_weight, aux_weight and vertical_weight are all 0")
    return loss
