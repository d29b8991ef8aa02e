"""Losses of the monkeytyping models (paper Sections 3, 6.3, 7; catalog §4.7, §4.11, #1, #29).

All take probabilities (the MoE outputs), not logits, as the authors' code does.

* ``cross_entropy``: ``-sum_l [y_l log(p_l + eps) + (1 - y_l) log(1 - p_l + eps)]`` per video (eps = 1e-5),
  optionally times a per-video weight (bagging, boosting), averaged over the batch, NOT renormalised by the
  sum of the weights. ``positive_weight`` multiplies the positive term (#29's weighted CE uses 10).
* ``chaining_loss``: ``main_weight * CE(p, y) + aux_weight * sum_s CE(p_s, y)`` over the Chaining stages.
  The authors' wh models use main 1 - q and aux q per stage (#2: q = 0.025); the zt models main 1, aux 0.1.
* ``distillation_loss``: ``(1 - lam) * L(p, y) + lam * L(p, p_hat)`` (paper Eq. 12) with the ensemble's
  predictions ``p_hat`` as soft targets.
* ``relabeled_targets``: #1's relabelling rule (below).
"""

from __future__ import annotations

import torch

EPSILON = 1e-5  # the authors write it as 10e-6


def cross_entropy(p_BC: torch.Tensor, y_BC: torch.Tensor, weights_B: torch.Tensor | None = None,
                  positive_weight: float = 1.0) -> torch.Tensor:
    """Mean over the batch of each video's (weighted) cross-entropy summed over classes."""
    per_class = positive_weight * y_BC * torch.log(p_BC + EPSILON) + (1 - y_BC) * torch.log(1 - p_BC + EPSILON)
    per_video_B = -per_class.sum(dim=-1)
    if weights_B is not None:
        per_video_B = per_video_B * weights_B
    return per_video_B.mean()


def chaining_loss(p_BC: torch.Tensor, stages_BSC: torch.Tensor, y_BC: torch.Tensor, main_weight: float,
                  aux_weight: float, weights_B: torch.Tensor | None = None) -> torch.Tensor:
    """Multitask loss of a Chaining model: the final prediction plus every stage's prediction (summed)."""
    aux = sum(cross_entropy(stages_BSC[:, s], y_BC, weights_B) for s in range(stages_BSC.shape[1]))
    return main_weight * cross_entropy(p_BC, y_BC, weights_B) + aux_weight * aux


def distillation_loss(loss_to_labels: torch.Tensor, loss_to_teacher: torch.Tensor, lam: float) -> torch.Tensor:
    """``(1 - lam) * L(p, y) + lam * L(p, p_hat)``: the two terms computed by the same loss function."""
    if not 0 <= lam <= 1:
        raise ValueError(f"distillation lambda must be in [0, 1], not {lam}")
    return (1 - lam) * loss_to_labels + lam * loss_to_teacher


def relabeled_targets(p_BC: torch.Tensor, y_BC: torch.Tensor, batch_loss: torch.Tensor, threshold: float = 10.0,
                      as_in_code: bool = False) -> torch.Tensor:
    """#1's targets. Paper: once the batch loss is below ``threshold``, every video's most confident
    predicted class becomes a soft target (its predicted probability, where the label is not already 1).
    [DIFF] The authors' code does the opposite: while the loss is at or above the threshold it adds the
    arg-max class as a hard positive (``as_in_code=True``). The loss is then recomputed with these targets.
    """
    active = bool(batch_loss >= threshold) if as_in_code else bool(batch_loss < threshold)
    if not active:
        return y_BC
    confidence_B, top_B = p_BC.detach().max(dim=-1)
    extra_BC = torch.zeros_like(y_BC)
    extra_BC[torch.arange(len(top_B)), top_B] = 1.0 if as_in_code else confidence_B.to(y_BC.dtype)
    return torch.maximum(y_BC, extra_BC)
