"""Per-video loss weights for bagging and boosting (paper §6, Eq. 6; catalog §4.9, §4.10).

Both methods train every member on all of train1 and only change how much each video's loss counts
(``losses.cross_entropy``'s ``weights_B``), so a member's data is a table video id -> weight:

* Bagging (#28, #33, #35, #37, #45): N draws uniformly with replacement over the N train1 videos; a
  video's weight is how often it was drawn (0, 1, 2, ...). Weight-0 videos are still read but add nothing.
* Boosting (#30-#32, #34, #36, #38, #46): W_0 = 1; after member k, ``boosting_weights`` turns its in-sample
  errors ``Err_{k,n} = 1 - PERR_n`` (``example_errors``) into W_{k+1} (Eq. 6, then the clip or discard
  rule of ``configs.schema.Reweighting``: clip 5 for most, clip 8 for #46, discard 20 for #30, none #31).

Ids outside the table weigh 1, as the code's "OOV" row of ``resources/train.video_id.vocab`` does.
Shapes: N videos, C classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from y8m_models import atomic
from y8m_models.configs.schema import Reweighting
from y8m_models.metrics import perr_per_video

OOV_WEIGHT = 1.0  # the code's OOV row: a video missing from the table trains with weight 1
_EPSILON = 1e-6  # reweight_sample_freq.py's guard in r_k = log((1 + eps - Err_k) / (Err_k + eps))
_CHUNK_ROWS = 1024  # example_errors: bounds perr_per_video's [rows, C] buffers


# ---------------------------------------------------------------------------------------- the table


def _id_array(video_ids: Sequence[str], what: str) -> np.ndarray:
    if isinstance(video_ids, str | bytes):  # list("abcd") would be four one-letter ids
        raise ValueError(f"{what} must be a sequence of video ids, not one string {video_ids!r}")
    ids_N = np.asarray(list(video_ids), dtype=np.str_)
    if ids_N.ndim != 1:
        raise ValueError(f"{what} must be a flat sequence of video id strings; got shape {ids_N.shape}")
    return ids_N


class ExampleWeights:
    """A video id -> loss weight table, kept sorted by id so that lookups are a binary search
    (4.9M train1 ids as a numpy string array instead of a dict) and files do not depend on listing order.

    ``lookup(batch["video_ids"])`` gives the float32 [B] tensor for the loss; ``values_for(ids)`` the
    float64 numpy weights in a caller's order (e.g. to line them up with ``example_errors``).
    """

    def __init__(self, video_ids: Sequence[str], weights_N: Sequence[float] | np.ndarray):
        ids_N = _id_array(video_ids, "video_ids")
        w_N = np.asarray(weights_N, dtype=np.float64)
        if w_N.shape != ids_N.shape:
            raise ValueError(f"weights has shape {w_N.shape} but there are {ids_N.size} video ids")
        _check_weights(w_N, "weights")
        order = np.argsort(ids_N, kind="stable")
        self.ids, self.weights = ids_N[order], w_N[order]
        repeated = self.ids[1:] == self.ids[:-1]
        if repeated.any():
            raise ValueError(f"video id {str(self.ids[1:][repeated][0])!r} appears more than once; "
                             "each video has one weight")

    @classmethod
    def uniform(cls, video_ids: Sequence[str]) -> ExampleWeights:
        """W_0 = 1 for every video (boosting's start, and the bases trained before bagging or boosting)."""
        ids_N = _id_array(video_ids, "video_ids")
        return cls(ids_N, np.ones(ids_N.size))

    def __len__(self) -> int:
        return int(self.ids.size)

    def values_for(self, video_ids: Sequence[str]) -> np.ndarray:
        """float64 [B] weights of these ids, in their order; ids not in the table get ``OOV_WEIGHT``."""
        query_B = _id_array(video_ids, "video_ids")
        if self.ids.size == 0:
            return np.full(query_B.size, OOV_WEIGHT)
        pos_B = np.minimum(np.searchsorted(self.ids, query_B), self.ids.size - 1)
        known_B = self.ids[pos_B] == query_B
        return np.where(known_B, self.weights[pos_B], OOV_WEIGHT)

    def lookup(self, video_ids: Sequence[str]) -> torch.Tensor:
        """float32 [B] tensor of loss weights for a batch's ``video_ids`` (unknown ids weigh 1)."""
        return torch.from_numpy(self.values_for(video_ids).astype(np.float32))

    def save(self, path: str | Path) -> None:
        """Write ``ids`` and ``weights`` to an .npz file at exactly ``path`` (a run artifact)."""
        atomic.save_npz(path, ids=self.ids, weights=self.weights)

    @classmethod
    def load(cls, path: str | Path) -> ExampleWeights:
        with np.load(path, allow_pickle=False) as data:
            missing = {"ids", "weights"} - set(data.files)
            if missing:
                raise ValueError(f"{path}: not an example-weights file; missing arrays {sorted(missing)} "
                                 f"(has {sorted(data.files)})")
            try:
                return cls(data["ids"], data["weights"])
            except ValueError as error:
                raise ValueError(f"{path}: {error}") from error


# ------------------------------------------------------------------------------------------ bagging


def bootstrap_weights(video_ids: Sequence[str], seed: int) -> ExampleWeights:
    """Bagging weights (catalog §4.9, ``training_utils/sample_freq.py``): N uniform draws with
    replacement over the N videos; each video's weight is its draw count. The counts sum to N.

    The ids are sorted before drawing, so a seed gives the same bag whatever order the files were listed
    in: draw i picks ``sorted(ids)[rng.integers(0, N, N)[i]]`` with ``rng = np.random.default_rng(seed)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    ids_N = ExampleWeights.uniform(video_ids).ids  # sorted; duplicates rejected
    if ids_N.size == 0:
        raise ValueError("video_ids is empty; bagging draws over the train1 videos")
    draws_N = np.random.default_rng(int(seed)).integers(0, ids_N.size, size=ids_N.size)
    return ExampleWeights(ids_N, np.bincount(draws_N, minlength=ids_N.size).astype(np.float64))


# ----------------------------------------------------------------------------------------- boosting


def _check_weights(w_N: np.ndarray, what: str) -> None:
    if w_N.ndim != 1:
        raise ValueError(f"{what} must be 1-D [videos]; got shape {w_N.shape}")
    if not np.isfinite(w_N).all():
        i = int(np.flatnonzero(~np.isfinite(w_N))[0])
        raise ValueError(f"{what}[{i}] = {w_N[i]}; weights must be finite")
    if (w_N < 0).any():
        i = int(np.flatnonzero(w_N < 0)[0])
        raise ValueError(f"{what}[{i}] = {w_N[i]}; weights must be >= 0")


def example_errors(scores_NC: np.ndarray, labels_NC: np.ndarray) -> np.ndarray:
    """Boosting's per-video error ``1 - PERR`` (catalog §2, ``inference-sample-error.py``), float64 [N].

    PERR looks at the top ``max(#labels, 1)`` classes, so a video without labels has error 1.
    """
    scores_NC, labels_NC = np.asarray(scores_NC), np.asarray(labels_NC)
    if scores_NC.ndim != 2 or labels_NC.shape != scores_NC.shape:
        raise ValueError(f"scores and labels must both be [videos, classes]; got {scores_NC.shape} and "
                         f"{labels_NC.shape}")
    perr_N = np.empty(scores_NC.shape[0])
    for start in range(0, scores_NC.shape[0], _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        perr_N[rows] = perr_per_video(scores_NC[rows], labels_NC[rows], min_labels=1)
    return 1.0 - perr_N


def _limit(w_N: np.ndarray, reweighting: Reweighting) -> float:
    """Apply the clip or discard rule in place; return the pool of weight it took away."""
    over_N = w_N > reweighting.threshold
    if reweighting.rule == "clip":
        pool = float((w_N[over_N] - reweighting.threshold).sum())
        w_N[over_N] = reweighting.threshold
    elif reweighting.rule == "discard":
        pool = float(w_N[over_N].sum())
        w_N[over_N] = 0.0
    else:
        pool = 0.0
    return pool


def boosting_weights(previous: np.ndarray, errors: np.ndarray, reweighting: Reweighting,
                     rng: np.random.Generator) -> np.ndarray:
    """W_{k+1} from W_k and member k's per-video errors (paper Eq. 6 with α = 1; catalog §4.10, in the
    order of ``training_utils/reweight_sample_freq.py``). previous, errors: [N]; returns float64 [N].

    1. ``Err_k = mean(errors)``, ``r_k = log((1 + 1e-6 - Err_k) / (Err_k + 1e-6))``,
       ``W' = previous * exp(r_k * errors)``.
    2. ``reweighting.rule``: "clip" sets weights > τ to τ, "discard" sets them to 0; what was taken is the
       pool ("none": no pool).
    3. If the pool is > 0, every video whose weight is now > 0 gets ``+ U(0, 2·pool/N)``: one
       ``rng.uniform(0, 2 * pool / N, size=count)`` draw, given out in array order. N is all videos (the
       catalog's N, the number of lines of the weight file), not just the receivers, so after a discard
       the expected amount given back is less than the pool; step 4 makes the scale irrelevant anyway.
       A video already at 0 (discarded now, or earlier) stays at 0.
    4. Divide by the mean so that mean(W) = 1 (Eq. 6's N / Z_k).

    [DIFF] Eq. 6 normalises and the paper clips "to 5" afterwards; the code clips before normalising, so a
    returned weight can exceed τ a little. The code's order is used.
    """
    w_N = np.array(previous, dtype=np.float64)  # a copy: steps 2-4 work in place
    err_N = np.asarray(errors, dtype=np.float64)
    _check_weights(w_N, "previous")
    if w_N.size == 0:
        raise ValueError("previous has no videos")
    if err_N.shape != w_N.shape:
        raise ValueError(f"errors has shape {err_N.shape} but previous has {w_N.shape}; one error per video")
    bad = ~((err_N >= 0) & (err_N <= 1))  # also catches NaN
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"errors[{i}] = {err_N[i]}; errors (1 - PERR) must lie in [0, 1]")
    if not isinstance(reweighting, Reweighting):
        raise ValueError(f"reweighting must be a configs.schema.Reweighting; got {type(reweighting).__name__}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")

    err_k = err_N.mean()
    r_k = np.log((1.0 + _EPSILON - err_k) / (err_k + _EPSILON))
    w_N *= np.exp(r_k * err_N)
    pool = _limit(w_N, reweighting)
    if pool > 0:
        receivers = w_N > 0
        w_N[receivers] += rng.uniform(0.0, 2.0 * pool / w_N.size, size=int(receivers.sum()))
    mean = w_N.mean()
    if not mean > 0:
        raise ValueError(f"every weight is 0 after the {reweighting.rule!r} rule with threshold "
                         f"{reweighting.threshold} (or all previous weights were 0); nothing left to normalise")
    return w_N / mean
