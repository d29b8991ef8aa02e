"""#80's top-k merge: a hand-worked case for both ``missing`` rules, union sizes, chunking, and errors."""

from __future__ import annotations

import numpy as np
import pytest

from y8m_models.ensemble import merge
from y8m_models.ensemble.merge import merge_top_k

A = np.array([[0.9, 0.1, 0.8, 0.3, 0.0],    # top-2 {0, 2}
              [0.2, 0.2, 0.2, 0.6, 0.1]],   # top-2 {3, 0}: the 0.2 tie goes to the lowest class
             dtype=np.float32)
B = np.array([[0.7, 0.6, 0.1, 0.2, 0.0],    # top-2 {0, 1}
              [0.5, 0.1, 0.1, 0.4, 0.3]],   # top-2 {0, 3}
             dtype=np.float32)


def test_zero_rule_halves_tags_listed_once():
    got = merge_top_k(A, B, top_k=2, missing="zero")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [[(0.9 + 0.7) / 2, 0.6 / 2, 0.8 / 2, 0, 0],
                                     [(0.2 + 0.5) / 2, 0, 0, (0.6 + 0.4) / 2, 0]], rtol=1e-6)


def test_single_rule_keeps_tags_listed_once():
    got = merge_top_k(A, B, top_k=2, missing="single")
    np.testing.assert_allclose(got, [[(0.9 + 0.7) / 2, 0.6, 0.8, 0, 0],
                                     [(0.2 + 0.5) / 2, 0, 0, (0.6 + 0.4) / 2, 0]], rtol=1e-6)


def test_default_is_top_20_and_zero():
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 60)), rng.random((3, 60))
    np.testing.assert_array_equal(merge_top_k(a, b), merge_top_k(a, b, top_k=20, missing="zero"))


def _reference(a: np.ndarray, b: np.ndarray, k: int, missing: str) -> np.ndarray:
    """One video and one tag at a time; stable argsort of -score = score desc, then class index asc."""
    out = np.zeros(a.shape)
    for n in range(a.shape[0]):
        lists = [dict((int(c), s[n, c]) for c in np.argsort(-s[n], kind="stable")[:k]) for s in (a, b)]
        for c in set(lists[0]) | set(lists[1]):
            listed = [ls[c] for ls in lists if c in ls]
            out[n, c] = sum(listed) / (2 if missing == "zero" else len(listed))
    return out


@pytest.mark.parametrize("missing", ["zero", "single"])
def test_random_rows_match_the_reference_across_chunks(missing, monkeypatch):
    monkeypatch.setattr(merge, "_CHUNK_ROWS", 3)  # 10 rows -> 4 chunks, the last one short
    rng = np.random.default_rng(1)
    a = rng.integers(0, 6, (10, 30)) / 5  # coarse scores: many ties at the cut
    b = rng.random((10, 30)).astype(np.float32)
    got = merge_top_k(a, b, top_k=4, missing=missing)
    np.testing.assert_allclose(got, _reference(a, b.astype(np.float64), 4, missing), rtol=1e-6)
    union = (got > 0).sum(1)  # every top-4 score is > 0 with this seed
    assert ((union >= 4) & (union <= 8)).all()


def test_union_size_is_between_k_and_2k():
    rng = np.random.default_rng(2)
    a, b = rng.random((20, 50)) + 0.01, rng.random((20, 50)) + 0.01  # all > 0, no tie
    union = (merge_top_k(a, b, top_k=5) > 0).sum(1)
    assert union.min() >= 5 and union.max() <= 10
    same = merge_top_k(a, a, top_k=5)  # identical lists: the union is the list and the merge is a
    assert ((same > 0).sum(1) == 5).all()
    np.testing.assert_allclose(same[same > 0], a[same > 0], rtol=1e-6)


def test_k_above_classes_averages_everything():
    a, b = np.array([[0.2, 0.4]]), np.array([[0.6, 0.0]])
    np.testing.assert_allclose(merge_top_k(a, b, top_k=20), [[0.4, 0.2]], rtol=1e-6)


@pytest.mark.parametrize(("a", "b", "kwargs", "message"), [
    (np.zeros((2, 5)), np.zeros((3, 5)), {}, r"scores_a has shape \(2, 5\) but scores_b has \(3, 5\)"),
    (np.zeros((2, 5)), np.zeros((2, 4)), {}, "join the two prediction sets"),
    (np.zeros(5), np.zeros(5), {}, "scores_a must be 2-D"),
    (np.zeros((2, 5)), np.full((2, 5), np.nan), {}, r"scores_b\[0, 0\] is NaN"),
    (np.zeros((2, 5)), np.zeros((2, 5)), {"top_k": 0}, "top_k must be an integer >= 1"),
    (np.zeros((2, 5)), np.zeros((2, 5)), {"missing": "max"}, r"missing must be one of \('zero', 'single'\)"),
])
def test_rejects_bad_inputs(a, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        merge_top_k(a, b, **kwargs)
