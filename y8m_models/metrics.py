"""Streaming YouTube-8M evaluation: GAP@k, Hit@1, PERR and mAP, with ties reported instead of hidden.

Definitions (shared/spec/yt8m_format.md, "GAP@k" and "Hit@1, PERR, mAP"):

* GAP@k: every video contributes its k highest-scoring classes (zero scores count; a video without labels
  contributes k negatives; with fewer than k classes every class enters). All pairs are pooled and ranked
  by score, descending, and ``GAP = (1/P) * sum over positive pairs at rank i of (positives at ranks <= i)/i``
  where P counts every ground-truth positive of the evaluated set, including those outside every top-k.
  P = 0 gives 0.
* Hit@1: the label at the argmax class (ties: lowest class index), averaged over all videos.
* PERR: with n = the video's label count, the precision of its top-n classes, where only classes with
  score > 0 count as hits; n = 0 gives 0; averaged over all videos.
* mAP: per-class AP over the same pooled top-k pairs, denominator the class's total positives; classes
  without positives are skipped; plain mean.

Ties. Two kinds make the definition ambiguous; each is resolved by a stated rule and reported:

1. Cut ties: a video's k-th and (k+1)-th scores are equal, so which classes enter its top-k is arbitrary.
   Headline rule: order a video's classes by score descending, then class index ascending, and take the
   first k (so the lowest class indices enter; the same rule as Hit@1's argmax and as PERR's top-n).
   ``gap_best`` lets tied positives enter first, ``gap_worst`` tied negatives. ``videos_with_cut_ties``
   counts the videos concerned.
2. Ranking ties: pooled pairs with equal scores, whose order decides the precision terms. The headline
   ``gap`` (and each class's AP in mAP) is the exact expected value under a uniformly random order inside
   every tie group, which is what the official code's shuffle-then-sort estimates, without its dependence
   on the shuffle and the eval batch size. ``gap_best`` ranks positives first inside every group,
   ``gap_worst`` negatives first; both bounds combine with their cut rule above.
   ``tied_pairs`` counts the pooled (headline) pairs whose score equals that of at least one other pooled
   pair, whatever the labels: groups of one label cannot move the GAP; ``gap_best - gap_worst`` says by
   how much the others can.

Without any tie gap == gap_best == gap_worst exactly (the same float operations run for all three).
Memory is O(N*k): per video only its top-k scores, labels and classes are kept, plus per-video scalars.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Rule = Literal["expected", "best", "worst"]
_CHUNK_ROWS = 1024  # bounds the [rows, C] int64 argpartition buffer (32 MB at C = 3862)


@dataclass(frozen=True)
class EvalResult:
    """Metrics over everything passed to an `Evaluator` (see the module docstring for tie rules)."""

    gap: float
    gap_best: float
    gap_worst: float
    hit_at_1: float
    perr: float
    map: float
    n_videos: int
    n_positives: int
    top_k: int
    tied_pairs: int
    videos_with_cut_ties: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: the headline metrics, counts, and a ``ties`` sub-dict."""
        return {
            "gap": self.gap,
            "hit_at_1": self.hit_at_1,
            "perr": self.perr,
            "map": self.map,
            "n_videos": self.n_videos,
            "n_positives": self.n_positives,
            "top_k": self.top_k,
            "ties": {
                "tied_pairs": self.tied_pairs,
                "videos_with_cut_ties": self.videos_with_cut_ties,
                "gap_best": self.gap_best,
                "gap_worst": self.gap_worst,
            },
        }


# ------------------------------------------------------------------------------------------- validation


def _check_batch(
    predictions: np.ndarray, labels: np.ndarray, num_classes: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one batch; return (scores [B, C] as given, positives [B, C] bool)."""
    scores, labels = np.asarray(predictions), np.asarray(labels)
    if scores.ndim != 2:
        raise ValueError(f"predictions must be 2-D [videos, classes]; got shape {scores.shape}")
    if labels.shape != scores.shape:
        raise ValueError(f"labels must have the shape of predictions {scores.shape}; got {labels.shape}")
    if num_classes is not None and scores.shape[1] != num_classes:
        raise ValueError(
            f"predictions has {scores.shape[1]} classes (shape {scores.shape}) "
            f"but the Evaluator was built with num_classes={num_classes}"
        )
    if not (np.issubdtype(scores.dtype, np.floating) or np.issubdtype(scores.dtype, np.integer)):
        raise ValueError(f"predictions must be a real float or integer array; got dtype {scores.dtype}")
    if np.issubdtype(scores.dtype, np.floating):
        nan = np.isnan(scores)
        if nan.any():
            r, c = np.argwhere(nan)[0]
            raise ValueError(f"predictions[{r}, {c}] is NaN; scores must be comparable numbers")
    if labels.dtype == np.bool_:
        return scores, labels
    positive = labels == 1
    bad = ~(positive | (labels == 0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"labels must be 0/1; labels[{r}, {c}] = {labels[r, c].item()!r}")
    return scores, positive


def _check_top_k(top_k: int) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1; got {top_k!r}")


# ------------------------------------------------------------------------------------------------ top-k


@dataclass(frozen=True)
class _TopK:
    idx: np.ndarray  # [B, k] class indices under the headline cut rule, unordered within a row
    cut_rows: np.ndarray  # [R] rows whose k-th and (k+1)-th scores are equal
    cut_value: np.ndarray  # [R] that tied score


def _top_k_unordered(scores_BC: np.ndarray, k: int) -> _TopK:
    """Each row's first k classes in the order (score descending, class index ascending), unordered."""
    b, c = scores_BC.shape
    if k >= c:
        return _TopK(np.tile(np.arange(c), (b, 1)), np.zeros(0, np.int64), np.zeros(0, scores_BC.dtype))
    part = np.argpartition(scores_BC, c - k, axis=1)
    idx = np.ascontiguousarray(part[:, c - k :])
    kth = np.take_along_axis(scores_BC, idx, 1).min(1)  # [B] each row's k-th largest score
    # A cut tie: more than k scores reach the k-th largest. (Counting is ~10x cheaper than asking
    # argpartition for the (k+1)-th largest as a second kth.)
    cut_rows = np.flatnonzero((scores_BC >= kth[:, None]).sum(1) > k)
    if cut_rows.size:
        # argpartition picked arbitrary tied classes; redo those rows: all scores above the cut value,
        # then the lowest-index tied classes until k are taken.
        sub = scores_BC[cut_rows]
        value = kth[cut_rows][:, None]
        above, tie = sub > value, sub == value
        room = k - above.sum(1)
        chosen = above | (tie & (np.cumsum(tie, 1) <= room[:, None]))
        idx[cut_rows] = np.nonzero(chosen)[1].reshape(-1, k)
    return _TopK(idx, cut_rows, kth[cut_rows])


def _order_rows(scores_BC: np.ndarray, idx_BK: np.ndarray) -> np.ndarray:
    """Sort each row of idx_BK by score descending, then class index ascending."""
    vals = np.take_along_axis(scores_BC, idx_BK, 1).astype(np.float64)
    return np.take_along_axis(idx_BK, np.lexsort((idx_BK, -vals), axis=1), 1)


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """The first min(k, C) classes of each row in the order (score descending, class index ascending).

    scores: [B, C]. Returns [B, min(k, C)] int64 in that order, so ties at the cut take the lowest indices.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D [videos, classes]; got shape {scores.shape}")
    _check_top_k(k)
    return _order_rows(scores, _top_k_unordered(scores, int(k)).idx)


# -------------------------------------------------------------------------------------------- per video


def _perr_from_ordered(
    scores_BC: np.ndarray, pos_BC: np.ndarray, idx_BK: np.ndarray, n_B: np.ndarray
) -> np.ndarray:
    """PERR per row given each row's ordered top classes idx_BK (at least max(n_B) columns)."""
    first_n = np.arange(idx_BK.shape[1]) < n_B[:, None]
    hit = np.take_along_axis(pos_BC, idx_BK, 1) & (np.take_along_axis(scores_BC, idx_BK, 1) > 0) & first_n
    return np.divide(hit.sum(1), n_B, out=np.zeros(len(n_B)), where=n_B > 0)


def _perr(scores_BC: np.ndarray, pos_BC: np.ndarray, min_labels: int) -> np.ndarray:
    n = np.minimum(np.maximum(pos_BC.sum(1), min_labels), scores_BC.shape[1])
    widest = int(n.max(initial=0))
    if widest == 0:
        return np.zeros(len(n))
    idx = _order_rows(scores_BC, _top_k_unordered(scores_BC, widest).idx)
    return _perr_from_ordered(scores_BC, pos_BC, idx, n)


def perr_per_video(predictions: np.ndarray, labels: np.ndarray, min_labels: int = 0) -> np.ndarray:
    """Precision at equal recall rate of each video.

    predictions: [B, C] scores (probabilities: only scores > 0 count as hits); labels: [B, C] 0/1.
    n = max(label count, min_labels); the video's top-n classes (ties: lowest class index) are checked.
    Returns [B] float64; n = 0 gives 0. Boosting's error file uses ``1 - perr_per_video(p, y, min_labels=1)``.
    """
    if isinstance(min_labels, bool) or not isinstance(min_labels, int | np.integer) or min_labels < 0:
        raise ValueError(f"min_labels must be an integer >= 0; got {min_labels!r}")
    scores, pos = _check_batch(predictions, labels, None)
    return _perr(scores, pos, int(min_labels))


# ---------------------------------------------------------------------------------------------- ranking


class _Ranking:
    """Pairs sorted by (segment ascending, score descending) and the tie groups of that order.

    A segment is one ranked list: the whole pool for GAP, one class for mAP. Pairs outside any tie take
    their ordinary precision term; only tied pairs take a rule-specific term.
    """

    def __init__(self, scores_M: np.ndarray, seg_M: np.ndarray | None = None, n_seg: int = 1):
        m = len(scores_M)
        self.seg, self.n_seg = seg_M, n_seg
        same = scores_M[1:] == scores_M[:-1]  # [M-1] pair i+1 ties with pair i
        if seg_M is not None:
            same &= seg_M[1:] == seg_M[:-1]
        self.in_tie = np.zeros(m, bool)
        self.in_tie[1:] = same
        self.in_tie[:-1] |= same
        self.tied = np.flatnonzero(self.in_tie)  # [T]
        starts_group = np.ones(len(self.tied), bool)
        starts_group[1:] = ~same[self.tied[1:] - 1]
        self.group_of = np.cumsum(starts_group) - 1  # [T] group of each tied pair
        self.group_first = np.flatnonzero(starts_group)  # [G] position in `tied` where each group starts
        self.group_start = self.tied[starts_group]  # [G] first pair of each group
        self.group_size = np.bincount(self.group_of, minlength=len(self.group_start))
        if seg_M is None:
            self.seg_start = np.zeros(1, np.int64)
        else:
            self.seg_start = np.searchsorted(seg_M, np.arange(n_seg))  # [n_seg] first pair of each segment

    def _seg_of(self, i: np.ndarray) -> np.ndarray:
        return np.zeros(len(i), np.int64) if self.seg is None else self.seg[i].astype(np.int64)

    def _sum(self, seg: np.ndarray, terms: np.ndarray) -> np.ndarray:
        if self.seg is None:
            return np.array([terms.sum()])
        return np.bincount(seg, weights=terms, minlength=self.n_seg)

    def precision_sums(self, pos_M: np.ndarray, rule: Rule) -> np.ndarray:
        """[n_seg] float64: each segment's sum of (positives at ranks <= i)/i over positive ranks i."""
        cum = np.cumsum(pos_M, dtype=np.int32 if len(pos_M) < 2**31 else np.int64)  # inclusive

        def before(i: np.ndarray) -> np.ndarray:  # positives ranked ahead of pair i
            return cum[i] - pos_M[i]

        single = np.flatnonzero(pos_M & ~self.in_tie)
        seg = self._seg_of(single)
        first = self.seg_start[seg]
        out = self._sum(seg, (cum[single] - before(first)) / (single - first + 1))
        if len(self.tied) == 0:
            return out
        start, size = self.group_start, self.group_size
        seg_g = self._seg_of(start)
        first_g = self.seg_start[seg_g]
        t = np.add.reduceat(pos_M[self.tied].astype(np.int64), self.group_first)  # positives per group
        p = before(start) - before(first_g)  # positives ranked ahead of the group in its segment
        s = start - first_g  # ranks ahead of the group in its segment
        g = self.group_of
        m_, t_, p_ = size[g], t[g], p[g]
        j = self.tied - start[g] + 1  # 1-based place inside the group
        rank = s[g] + j
        if rule == "best":
            terms = np.where(j <= t_, (p_ + j) / rank, 0.0)
        elif rule == "worst":
            lead = m_ - t_
            terms = np.where(j > lead, (p_ + j - lead) / rank, 0.0)
        else:
            # Place j is positive with probability t/m; given that, (j-1)(t-1)/(m-1) of the group's other
            # positives precede it on average. Summed per pair (not via harmonic-number differences, which
            # cancel: at 4M pairs H(n) ~ 15.8 leaves ~8 digits of 1/n, too few for 1e-9 agreement).
            share = (j - 1) * (t_ - 1) / np.maximum(m_ - 1, 1)
            terms = (t_ / m_) * (p_ + 1.0 + share) / rank
        return out + self._sum(seg_g[g], terms)


# -------------------------------------------------------------------------------------------- evaluator


class Evaluator:
    """Accumulates GAP@k, Hit@1, PERR and mAP over batches; the result does not depend on the batching.

    num_classes: C. top_k: k of GAP@k (and of the pairs mAP ranks).
    """

    def __init__(self, num_classes: int, top_k: int = 20):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1; got {num_classes!r}")
        _check_top_k(top_k)
        self.num_classes, self.top_k = int(num_classes), int(top_k)
        self._k = min(self.top_k, self.num_classes)
        self._scores: list[np.ndarray] = []  # [B, k] float64 per batch
        self._pos: list[np.ndarray] = []  # [B, k] bool, headline cut rule
        self._pos_best: list[np.ndarray] = []  # [B, k] bool, positives enter at cut ties
        self._pos_worst: list[np.ndarray] = []  # [B, k] bool, negatives enter at cut ties
        self._classes: list[np.ndarray] = []  # [B, k] int32
        self._perr: list[np.ndarray] = []  # [B] float64, summed once at the end (batch independence)
        self._class_positives = np.zeros(self.num_classes, np.int64)
        self._hits = self._n_videos = self._n_positives = self._cut_videos = 0

    def update(self, predictions: np.ndarray, labels: np.ndarray) -> None:
        """Add a batch. predictions: [B, C] scores; labels: [B, C] 0/1 of any int, bool or float dtype."""
        scores, pos = _check_batch(predictions, labels, self.num_classes)
        for lo in range(0, len(scores), _CHUNK_ROWS):
            self._update_chunk(scores[lo : lo + _CHUNK_ROWS], pos[lo : lo + _CHUNK_ROWS])

    def _update_chunk(self, scores_BC: np.ndarray, pos_BC: np.ndarray) -> None:
        top = _top_k_unordered(scores_BC, self._k)
        idx = _order_rows(scores_BC, top.idx)  # column 0 is the argmax with the lowest index
        vals = np.take_along_axis(scores_BC, idx, 1).astype(np.float64)
        hits = np.take_along_axis(pos_BC, idx, 1)
        best, worst = _cut_tie_bounds(scores_BC, pos_BC, top, vals, hits)
        n = pos_BC.sum(1)
        if n.max(initial=0) <= self._k:
            perr = _perr_from_ordered(scores_BC, pos_BC, idx, n)
        else:
            perr = _perr(scores_BC, pos_BC, 0)
        self._scores.append(vals)
        self._pos.append(hits)
        self._pos_best.append(best)
        self._pos_worst.append(worst)
        self._classes.append(idx.astype(np.int32))
        self._perr.append(perr)
        self._class_positives += pos_BC.sum(0)
        self._hits += int(hits[:, 0].sum())
        self._n_videos += len(scores_BC)
        self._n_positives += int(n.sum())
        self._cut_videos += len(top.cut_rows)

    def _stored(self) -> tuple[np.ndarray, ...]:
        """The kept pairs as flat [M] arrays (M = N*k): scores, labels (headline, best, worst), classes."""
        kept = (self._scores, self._pos, self._pos_best, self._pos_worst, self._classes, self._perr)
        for parts in kept:
            if len(parts) > 1:  # merge in place so a later result() neither repeats it nor holds two copies
                parts[:] = [np.concatenate(parts)]
        return tuple(parts[0].ravel() for parts in kept[:5])

    def result(self) -> EvalResult:
        """Metrics over all batches so far (see the module docstring for the tie rules)."""
        if self._n_videos == 0:
            return EvalResult(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, self.top_k, 0, 0)
        scores, pos, pos_best, pos_worst, classes = self._stored()
        order = np.argsort(scores)[::-1]  # descending; the order inside a tie group matters to no rule
        ranking = _Ranking(scores[order])
        gaps = {}
        for rule, labels in (("expected", pos), ("best", pos_best), ("worst", pos_worst)):
            total = ranking.precision_sums(labels[order], rule)[0]
            gaps[rule] = float(total / self._n_positives) if self._n_positives else 0.0
        tied_pairs = len(ranking.tied)
        del ranking
        # mAP ranks each class's pairs: regroup the descending order by class (stable, so descending
        # inside each class; uint16 keys let numpy use a radix sort).
        key = classes[order].astype(np.uint16 if self.num_classes <= 1 << 16 else np.int64)
        order = order[np.argsort(key, kind="stable")]
        del key
        ranking = _Ranking(scores[order], classes[order], self.num_classes)
        sums = ranking.precision_sums(pos[order], "expected")
        has = self._class_positives > 0
        return EvalResult(
            gap=gaps["expected"],
            gap_best=gaps["best"],
            gap_worst=gaps["worst"],
            hit_at_1=self._hits / self._n_videos,
            perr=float(self._perr[0].sum() / self._n_videos),
            map=float(np.mean(sums[has] / self._class_positives[has])) if has.any() else 0.0,
            n_videos=self._n_videos,
            n_positives=self._n_positives,
            top_k=self.top_k,
            tied_pairs=tied_pairs,
            videos_with_cut_ties=self._cut_videos,
        )


def _cut_tie_bounds(scores_BC, pos_BC, top: _TopK, vals_BK, hits_BK) -> tuple[np.ndarray, np.ndarray]:
    """Labels of the top-k slots when cut ties let positives (best) or negatives (worst) enter first.

    Slots filled from a cut tie all hold the tied score, so only how many of them are positive matters.
    """
    if top.cut_rows.size == 0:
        return hits_BK, hits_BK
    rows, value = top.cut_rows, top.cut_value[:, None]
    tie = scores_BC[rows] == value  # [R, C] classes competing for the slots
    slots = vals_BK[rows] == value  # [R, k] slots they fill (every other slot scores above the cut)
    n_slots = slots.sum(1)
    tie_pos = (tie & pos_BC[rows]).sum(1)
    n_best = np.minimum(n_slots, tie_pos)
    n_worst = np.maximum(0, n_slots - (tie.sum(1) - tie_pos))
    place = np.cumsum(slots, 1)
    best, worst = hits_BK.copy(), hits_BK.copy()
    best[rows] = np.where(slots, place <= n_best[:, None], hits_BK[rows])
    worst[rows] = np.where(slots, place <= n_worst[:, None], hits_BK[rows])
    return best, worst


def class_average_precision(predictions: np.ndarray, labels: np.ndarray, classes: Sequence[int]) -> float:
    """Mean over ``classes`` (those with at least one positive) of the class's average precision with every
    video ranked by its score (rows in their order on ties): a per-label view, e.g. of the synthetic data's
    order-defined labels, unlike ``map`` which only sees each video's top k."""
    aps = []
    for c in classes:
        hits = np.asarray(labels[:, c], np.float64)[np.argsort(-np.asarray(predictions[:, c]), kind="stable")]
        if hits.any():
            aps.append(float((np.cumsum(hits) / np.arange(1, len(hits) + 1) * hits).sum() / hits.sum()))
    if not aps:
        raise ValueError("none of the classes has a positive")
    return float(np.mean(aps))


def evaluate(predictions: np.ndarray, labels: np.ndarray, top_k: int = 20, batch_size: int = 4096) -> EvalResult:
    """Evaluate [N, C] predictions against [N, C] 0/1 labels, batch_size rows at a time.

    Works on np.memmap / ``np.load(mmap_mode="r")`` inputs: only one batch is read into memory at a time.
    """
    shape_p, shape_l = np.shape(predictions), np.shape(labels)
    if len(shape_p) != 2:
        raise ValueError(f"predictions must be 2-D [videos, classes]; got shape {shape_p}")
    if shape_l != shape_p:
        raise ValueError(f"labels must have the shape of predictions {shape_p}; got {shape_l}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    evaluator = Evaluator(shape_p[1], top_k)
    for lo in range(0, shape_p[0], batch_size):
        evaluator.update(predictions[lo : lo + batch_size], labels[lo : lo + batch_size])
    return evaluator.result()
