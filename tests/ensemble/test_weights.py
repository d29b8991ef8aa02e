"""Bagging and boosting example weights: bootstrap counts, Eq. 6 with clip / discard / none by hand,
the pool redistribution, 1 - PERR errors, and the id -> weight table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from y8m_models.configs.schema import Reweighting
from y8m_models.ensemble.weights import (
    OOV_WEIGHT,
    ExampleWeights,
    boosting_weights,
    bootstrap_weights,
    example_errors,
)

IDS = [f"v{i:03d}" for i in range(50)]

# ------------------------------------------------------------------------------------------ bagging


def test_bootstrap_counts_are_draws_that_sum_to_n():
    table = bootstrap_weights(IDS, seed=3)
    w = table.values_for(IDS)
    assert w.sum() == len(IDS)
    assert np.array_equal(w, np.round(w)) and w.min() >= 0
    assert (w == 0).any() and (w >= 2).any()  # 50 draws with replacement: some missed, some repeated


def test_bootstrap_is_n_uniform_draws_over_the_sorted_ids():
    ids = ["c", "a", "d", "b"]
    draws = np.random.default_rng(11).integers(0, 4, size=4)  # indices into sorted ids a, b, c, d
    expected = {vid: float((draws == i).sum()) for i, vid in enumerate(["a", "b", "c", "d"])}
    got = bootstrap_weights(ids, seed=11)
    assert dict(zip(ids, got.values_for(ids), strict=True)) == {vid: expected[vid] for vid in ids}


def test_bootstrap_reproducible_per_seed_and_independent_of_id_order():
    shuffled = list(np.random.default_rng(0).permutation(IDS))
    a, b = bootstrap_weights(IDS, seed=5), bootstrap_weights(shuffled, seed=5)
    assert np.array_equal(a.values_for(IDS), b.values_for(IDS))
    assert not np.array_equal(a.values_for(IDS), bootstrap_weights(IDS, seed=6).values_for(IDS))


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bootstrap_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        bootstrap_weights(IDS, seed=seed)


def test_bootstrap_rejects_duplicates_and_empty():
    with pytest.raises(ValueError, match="'a' appears more than once"):
        bootstrap_weights(["a", "b", "a"], seed=0)
    with pytest.raises(ValueError, match="empty"):
        bootstrap_weights([], seed=0)


# ------------------------------------------------------------------------------------------- table


def test_lookup_gives_float32_in_batch_order_and_oov_weighs_one():
    table = ExampleWeights(["b", "a", "c"], [2.0, 0.0, 3.0])
    got = table.lookup(["c", "zz-unknown", "a", "b", "c"])
    assert got.dtype == torch.float32
    assert got.tolist() == [3.0, OOV_WEIGHT, 0.0, 2.0, 3.0]
    assert OOV_WEIGHT == 1.0
    assert ExampleWeights([], []).lookup(["x"]).tolist() == [1.0]


def test_save_load_round_trip_at_the_exact_path(tmp_path):
    table = bootstrap_weights(IDS, seed=1)
    path = tmp_path / "member_3.weights"
    table.save(path)
    assert path.exists()  # no ".npz" appended
    loaded = ExampleWeights.load(path)
    assert np.array_equal(loaded.ids, table.ids) and np.array_equal(loaded.weights, table.weights)


def test_load_names_the_file_and_missing_arrays(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, ids=np.array(["a"]))
    with pytest.raises(ValueError, match=r"bad\.npz.*\['weights'\]"):
        ExampleWeights.load(path)


@pytest.mark.parametrize(("weights", "message"), [([1.0, -1.0], r"weights\[1\] = -1.0"),
                                                  ([1.0, np.nan], "finite"), ([1.0], "shape")])
def test_table_rejects_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        ExampleWeights(["a", "b"], weights)


# ------------------------------------------------------------------------------------------ errors


def test_example_errors_are_one_minus_perr_with_at_least_one_label():
    scores = np.array([[0.9, 0.8, 0.7, 0.1],   # labels {0, 2}: top-2 = {0, 1}, 1 hit -> PERR 1/2
                       [0.1, 0.9, 0.2, 0.3],   # no labels: top-1 checked, no hit -> PERR 0
                       [0.1, 0.2, 0.3, 0.4]])  # label {3}: top-1 = {3} -> PERR 1
    labels = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]])
    assert example_errors(scores, labels).tolist() == [0.5, 1.0, 0.0]


# ---------------------------------------------------------------------------------------- boosting

PREVIOUS = np.array([0.5, 1.0, 2.0, 1.5, 0.0])  # mean 1; the last video was discarded earlier
ERRORS = np.array([0.0, 0.5, 1.0, 0.5, 0.0])  # Err_k = 0.4
# r_k = log((1 + 1e-6 - 0.4) / (0.4 + 1e-6)), so exp(r_k * e) = RATIO ** e
RATIO = (1 + 1e-6 - 0.4) / (0.4 + 1e-6)
UPDATED = np.array([0.5, math.sqrt(RATIO), 2.0 * RATIO, 1.5 * math.sqrt(RATIO), 0.0])  # ~[.5 1.22 3 1.84 0]


def _boost(rule: str, threshold: float = 2.0, seed: int = 7) -> np.ndarray:
    return boosting_weights(PREVIOUS, ERRORS, Reweighting(rule=rule, threshold=threshold),
                            np.random.default_rng(seed))


def test_none_is_eq6_normalised_to_mean_one():
    expected = UPDATED / UPDATED.mean()
    got = _boost("none")
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # with RATIO ~ 1.5: [0.5, 1.2247, 3, 1.8371, 0] / 1.31237
    np.testing.assert_allclose(got, [0.380989, 0.933227, 2.285936, 1.399848, 0.0], atol=1e-4)


def test_clip_caps_at_threshold_and_spreads_the_excess_over_nonzero_videos():
    w = UPDATED.copy()
    pool = w[2] - 2.0  # only video 2 (~3.0) exceeds tau = 2
    w[2] = 2.0
    # videos 0-3 have weight > 0 (video 4 stays 0); each gets U(0, 2 * pool / N) with N = 5 (all videos)
    w[:4] += np.random.default_rng(7).uniform(0.0, 2.0 * pool / 5, size=4)
    got = _boost("clip")
    np.testing.assert_allclose(got, w / w.mean(), rtol=1e-12)
    assert got[4] == 0.0 and got.mean() == pytest.approx(1.0)


def test_discard_zeroes_heavy_videos_and_spreads_their_mass():
    w = UPDATED.copy()
    pool = w[2]
    w[2] = 0.0
    w[[0, 1, 3]] += np.random.default_rng(7).uniform(0.0, 2.0 * pool / 5, size=3)
    got = _boost("discard")
    np.testing.assert_allclose(got, w / w.mean(), rtol=1e-12)
    assert got[2] == 0.0 and got[4] == 0.0 and got.mean() == pytest.approx(1.0)


def test_clip_without_excess_equals_none():
    np.testing.assert_allclose(_boost("clip", threshold=5.0), _boost("none"), rtol=1e-12)


def test_uniform_start_with_equal_errors_stays_uniform():
    got = boosting_weights(np.ones(4), np.full(4, 0.3), Reweighting(), np.random.default_rng(0))
    np.testing.assert_allclose(got, np.ones(4), rtol=1e-12)


@pytest.mark.parametrize(("previous", "errors", "message"), [
    (np.ones(3), np.ones(4) / 2, "shape"),
    (np.ones(3), np.array([0.1, np.nan, 0.2]), r"errors\[1\] = nan"),
    (np.ones(3), np.array([0.1, 1.5, 0.2]), r"errors\[1\] = 1.5.*\[0, 1\]"),
    (np.array([1.0, -0.5, 1.0]), np.zeros(3), r"previous\[1\] = -0.5"),
    (np.array([1.0, np.inf, 1.0]), np.zeros(3), "finite"),
    (np.ones((2, 2)), np.zeros((2, 2)), "1-D"),
    (np.zeros(0), np.zeros(0), "no videos"),
])
def test_boosting_rejects_bad_inputs(previous, errors, message):
    with pytest.raises(ValueError, match=message):
        boosting_weights(previous, errors, Reweighting(), np.random.default_rng(0))


def test_boosting_rejects_a_rule_that_leaves_nothing():
    with pytest.raises(ValueError, match="every weight is 0"):
        boosting_weights(np.ones(3), np.zeros(3), Reweighting(rule="discard", threshold=0.5),
                         np.random.default_rng(0))


def test_boosting_rejects_a_legacy_random_state():
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        boosting_weights(np.ones(3), np.zeros(3), Reweighting(), np.random.RandomState(0))
