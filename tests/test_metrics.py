"""GAP@k, Hit@1, PERR and mAP: hand-computed cases, tie bounds, brute force, and a plain reference."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from y8m_models.metrics import (
    EvalResult,
    Evaluator,
    class_average_precision,
    evaluate,
    perr_per_video,
    top_k_indices,
)


def _reference(scores: np.ndarray, labels: np.ndarray, k: int) -> dict[str, float]:
    """Straight from the definitions, one video and one pair at a time (for tie-free data)."""
    pairs = []  # (score, positive, class)
    for row, lab in zip(scores, labels, strict=True):
        for c in np.argsort(-row)[:k]:
            pairs.append((float(row[c]), bool(lab[c]), int(c)))

    def average_precision(ranked: list[tuple[float, bool, int]], n_pos: int) -> float:
        found, total = 0, 0.0
        for rank, (_, positive, _) in enumerate(sorted(ranked, key=lambda t: -t[0]), start=1):
            if positive:
                found += 1
                total += found / rank
        return total / n_pos if n_pos else 0.0

    aps = [
        average_precision([t for t in pairs if t[2] == c], int(labels[:, c].sum()))
        for c in range(scores.shape[1])
        if labels[:, c].sum() > 0
    ]
    perr = []
    for row, lab in zip(scores, labels, strict=True):
        n = int(lab.sum())
        top = np.argsort(-row)[:n]
        perr.append(sum(bool(lab[c]) and row[c] > 0 for c in top) / n if n else 0.0)
    return {
        "gap": average_precision(pairs, int(labels.sum())),
        "hit_at_1": float(np.mean([lab[np.argmax(row)] for row, lab in zip(scores, labels, strict=True)])),
        "perr": float(np.mean(perr)),
        "map": float(np.mean(aps)),
    }


def _random_case(seed: int, n: int = 300, c: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random((n, c)) < 3 / c
    scores = rng.random((n, c)) + 0.5 * labels * rng.random((n, c))  # float64: no ties
    scores[:, ::7] -= 0.9  # some scores <= 0, where PERR stops counting hits
    return scores, labels


# ------------------------------------------------------------------------------------------ hand cases


def test_gap_hit_perr_map_on_three_videos_by_hand() -> None:
    scores = np.array([[0.9, 0.8, 0.1, 0.0], [0.2, 0.7, 0.6, 0.3], [0.5, 0.4, 0.05, 0.95]])
    labels = np.array([[1, 0, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0]])
    r = evaluate(scores, labels, top_k=2)
    # top-2 pairs: v0 (0.9 +, 0.8 -), v1 (0.7 -, 0.6 +; its positive class 3 at 0.3 is left out),
    # v2 (0.95 -, 0.5 +). Pooled: 0.95- 0.9+ 0.8- 0.7- 0.6+ 0.5+, positives at ranks 2, 5, 6.
    # P = 4 (all labels): GAP = (1/2 + 2/5 + 3/6) / 4 = 0.35.
    assert r.gap == pytest.approx(0.35, abs=1e-12)
    assert r.gap_best == r.gap_worst == r.gap
    # argmax: v0 class 0 (+), v1 class 1 (-), v2 class 3 (-).
    assert r.hit_at_1 == pytest.approx(1 / 3)
    # v0: n=1, top-1 {0} -> 1; v1: n=2, top-2 {1, 2} -> 1/2; v2: n=1, top-1 {3} -> 0.
    assert r.perr == pytest.approx(0.5)
    # class 0: pairs v0 0.9+, v2 0.5+ -> AP 1; class 1: no positives, skipped; class 2: v1 0.6+ -> 1;
    # class 3: one positive (v1), never in a top-2 -> 0. mAP = 2/3.
    assert r.map == pytest.approx(2 / 3)
    assert (r.n_videos, r.n_positives, r.top_k, r.tied_pairs, r.videos_with_cut_ties) == (3, 4, 2, 0, 0)


def test_more_labels_than_k_makes_gap_one_unreachable() -> None:
    # Both top-2 pairs are positive (precisions 1, 1) but P = 3: GAP = 2/3.
    r = evaluate(np.array([[0.3, 0.2, 0.1]]), np.array([[1, 1, 1]]), top_k=2)
    assert r.gap == pytest.approx(2 / 3)


def test_videos_without_labels_add_negatives_and_count_zero() -> None:
    scores = np.array([[0.9, 0.1], [0.95, 0.8]])
    labels = np.array([[1, 0], [0, 0]])
    r = evaluate(scores, labels, top_k=1)
    # pairs 0.95- (video 1), 0.9+ (video 0): GAP = (1/2) / 1. Video 1 counts 0 in Hit@1 and PERR.
    assert r.gap == pytest.approx(0.5)
    assert r.hit_at_1 == pytest.approx(0.5)
    assert r.perr == pytest.approx(0.5)


def test_no_positives_gives_zero() -> None:
    r = evaluate(np.array([[0.9, 0.1], [0.3, 0.2]]), np.zeros((2, 2), np.int8), top_k=1)
    assert (r.gap, r.gap_best, r.gap_worst, r.map, r.hit_at_1, r.perr, r.n_positives) == (0, 0, 0, 0, 0, 0, 0)


def test_empty_evaluator_reports_zeros() -> None:
    assert Evaluator(5, top_k=3).result() == EvalResult(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 3, 0, 0)


def test_fewer_classes_than_k_takes_every_class() -> None:
    # k=5 > C=2: each video contributes both classes. Pooled 0.9+ 0.6+ 0.4- 0.1-; P=2 -> GAP 1.
    r = evaluate(np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([[1, 0], [0, 1]]), top_k=5)
    assert r.gap == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------ ties


def test_ranking_tie_reports_best_worst_and_expected() -> None:
    scores = np.array([[0.5, 0.0], [0.5, 0.0], [0.9, 0.0]])
    labels = np.array([[1, 0], [0, 0], [0, 0]])
    r = evaluate(scores, labels, top_k=1)
    # Pooled: 0.9- at rank 1, then a tie group {0.5+, 0.5-} at ranks 2..3; P = 1.
    # best: + at rank 2 -> 1/2; worst: + at rank 3 -> 1/3; expected: (1/2 + 1/3) / 2 = 5/12.
    assert r.gap_best == pytest.approx(1 / 2)
    assert r.gap_worst == pytest.approx(1 / 3)
    assert r.gap == pytest.approx(5 / 12)
    assert (r.tied_pairs, r.videos_with_cut_ties) == (2, 0)


def test_cut_tie_and_ranking_tie_by_hand() -> None:
    scores = np.array([[0.4, 0.4, 0.1], [0.4, 0.0, 0.0]])
    labels = np.array([[0, 1, 0], [1, 0, 0]])
    r = evaluate(scores, labels, top_k=1)
    # Video 0: classes 0 (-) and 1 (+) tie for the single slot. Headline: lowest index, class 0 (-).
    # Pooled headline pairs {0.4-, 0.4+} form one tie group, P = 2. Expected: place 1 is + w.p. 1/2
    # (term 1/1), place 2 is + w.p. 1/2 (term 1/2): (1/2 + 1/4) / 2 = 3/8.
    assert r.gap == pytest.approx(3 / 8)
    # best: class 1 (+) enters and both positives lead: (1/1 + 2/2) / 2 = 1.
    assert r.gap_best == pytest.approx(1.0)
    # worst: class 0 (-) enters and ranks first: (1/2) / 2 = 1/4.
    assert r.gap_worst == pytest.approx(1 / 4)
    assert (r.tied_pairs, r.videos_with_cut_ties) == (2, 1)
    # Hit@1 and PERR take the lowest index at the tie: video 0 misses, video 1 hits.
    assert r.hit_at_1 == pytest.approx(0.5)
    assert r.perr == pytest.approx(0.5)


def test_expected_gap_equals_mean_over_all_orders_of_tie_groups() -> None:
    # Rows are permutations of {0.9, 0.6, 0.3}: no cut ties at k=2, but the 8 pooled pairs form two tie
    # groups of 4 (0.9s and 0.6s). Enumerate every order inside each group.
    scores = np.array([[0.9, 0.6, 0.3], [0.6, 0.9, 0.3], [0.3, 0.6, 0.9], [0.9, 0.3, 0.6]])
    labels = np.array([[1, 0, 1], [0, 0, 1], [0, 1, 0], [1, 1, 0]])
    n_pos = int(labels.sum())
    groups = [[], []]  # labels of the pooled pairs at 0.9, then at 0.6
    for row, lab in zip(scores, labels, strict=True):
        for c in np.argsort(-row)[:2]:
            groups[0 if row[c] == 0.9 else 1].append(int(lab[c]))
    gaps = []
    for first in itertools.permutations(groups[0]):
        for second in itertools.permutations(groups[1]):
            ranked = np.array(first + second)
            found = np.cumsum(ranked)
            gaps.append(sum(found[i] / (i + 1) for i in np.flatnonzero(ranked)) / n_pos)
    r = evaluate(scores, labels, top_k=2)
    assert len(gaps) == 576
    assert r.gap == pytest.approx(np.mean(gaps), abs=1e-12)
    assert r.gap_best == pytest.approx(max(gaps), abs=1e-12)
    assert r.gap_worst == pytest.approx(min(gaps), abs=1e-12)
    assert r.tied_pairs == 8


def test_top_k_indices_orders_by_score_then_lowest_index() -> None:
    scores = np.array([[0.2, 0.7, 0.2, 0.7, 0.2]])
    assert top_k_indices(scores, 4).tolist() == [[1, 3, 0, 2]]
    assert top_k_indices(scores, 9).tolist() == [[1, 3, 0, 2, 4]]


# ------------------------------------------------------------------------------ agreement and batching


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_reference_on_tie_free_data(seed: int) -> None:
    scores, labels = _random_case(seed)
    r = evaluate(scores, labels, top_k=20, batch_size=64)
    ref = _reference(scores, labels, 20)
    for name, value in ref.items():
        assert getattr(r, name) == pytest.approx(value, abs=1e-9), name
    assert r.gap == r.gap_best == r.gap_worst  # exactly: no tie anywhere
    assert (r.tied_pairs, r.videos_with_cut_ties) == (0, 0)


def test_result_does_not_depend_on_batching() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, (1500, 12)).astype(np.float32) / 4  # many ties of both kinds
    labels = rng.random((1500, 12)) < 0.25
    results = [evaluate(scores, labels, top_k=3, batch_size=b).to_dict() for b in (1, 7, 1100, 4096)]
    assert results[0]["ties"]["videos_with_cut_ties"] > 0 and results[0]["ties"]["tied_pairs"] > 0
    assert all(r == results[0] for r in results[1:])


def test_label_dtypes_and_memmap_inputs_agree(tmp_path: Path) -> None:
    scores, labels = _random_case(4, n=50, c=30)
    np.save(tmp_path / "p.npy", scores.astype(np.float32))
    np.save(tmp_path / "y.npy", labels.astype(np.float32))
    mapped = evaluate(np.load(tmp_path / "p.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r"))
    for y in (labels, labels.astype(np.int64), labels.astype(np.uint8)):
        assert evaluate(scores.astype(np.float32), y) == mapped


def test_to_dict_is_json_with_ties_nested() -> None:
    d = json.loads(json.dumps(evaluate(np.array([[0.4, 0.4, 0.1]]), np.array([[0, 1, 0]]), top_k=1).to_dict()))
    assert set(d) == {"gap", "hit_at_1", "perr", "map", "n_videos", "n_positives", "top_k", "ties"}
    assert d["ties"] == {"tied_pairs": 0, "videos_with_cut_ties": 1, "gap_best": 1.0, "gap_worst": 0.0}


# ------------------------------------------------------------------------------------- PERR and Hit@1


def test_perr_counts_only_positive_scores() -> None:
    # n=2; top-2 = class 2 (0.5, +) then class 0 (0.0, + but score 0, lowest index among the zeros).
    assert perr_per_video(np.array([[0.0, 0.0, 0.5]]), np.array([[1, 0, 1]])).tolist() == [0.5]
    # Logits: the right class ranks first but its score is negative, so it is no hit.
    assert perr_per_video(np.array([[-1.0, -2.0, -3.0]]), np.array([[1, 0, 0]])).tolist() == [0.0]


def test_perr_min_labels_widens_the_window() -> None:
    scores, labels = np.array([[0.9, 0.5, 0.1], [0.9, 0.5, 0.1]]), np.array([[1, 0, 0], [0, 0, 0]])
    assert perr_per_video(scores, labels).tolist() == [1.0, 0.0]
    assert perr_per_video(scores, labels, min_labels=2).tolist() == [0.5, 0.0]


def test_perr_beyond_k_labels_uses_all_of_them() -> None:
    # 4 labels with k=2: PERR looks at the top-4, of which 3 are positive.
    r = evaluate(np.array([[0.9, 0.8, 0.7, 0.6, 0.5]]), np.array([[1, 0, 1, 1, 1]]), top_k=2)
    assert r.perr == pytest.approx(3 / 4)


def test_hit_at_1_ties_take_the_lowest_index() -> None:
    scores = np.array([[0.5, 0.5], [0.5, 0.5]])
    assert evaluate(scores, np.array([[0, 1], [1, 0]]), top_k=1).hit_at_1 == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------------ errors


def test_shape_and_value_errors_name_the_argument() -> None:
    ev = Evaluator(4)
    with pytest.raises(ValueError, match="num_classes=4"):
        ev.update(np.zeros((2, 5)), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="labels must have the shape"):
        ev.update(np.zeros((2, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="predictions must be 2-D"):
        ev.update(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match=r"labels\[1, 2\] = 0\.5"):
        ev.update(np.zeros((2, 4)), np.array([[0, 0, 0, 0], [0, 0, 0.5, 0]]))
    with pytest.raises(ValueError, match=r"predictions\[0, 3\] is NaN"):
        ev.update(np.array([[0, 0, 0, np.nan]]), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="top_k"):
        Evaluator(4, top_k=0)
    with pytest.raises(ValueError, match="num_classes"):
        Evaluator(0)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(np.zeros((2, 4)), np.zeros((2, 4)), batch_size=0)
    assert ev.result().n_videos == 0  # rejected batches leave no trace


def test_class_average_precision_ranks_every_video() -> None:
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.2, 0.6]])
    labels = np.array([[0, 0], [1, 1], [1, 0]])
    # class 0: ranking rows 0, 1, 2 -> hits at ranks 2 and 3: (1/2 + 2/3) / 2; class 1: row 1 first -> 1
    assert class_average_precision(scores, labels, [0, 1]) == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1) / 2)
    assert class_average_precision(scores, labels, [0]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="positive"):
        class_average_precision(scores, np.zeros_like(labels), [0])
