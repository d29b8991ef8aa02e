"""The Leaderboard's rank agreement (app/components/ranking.py) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.components.ranking import descending_ranks, kendall_tau_b, paired_ranks, tau_metric

# ------------------------------------------------------------------------------------------------ ranks


@pytest.mark.parametrize(("values", "ranks"), [
    ([0.7, 0.9, 0.8], [3, 1, 2]),
    ([0.9, 0.8, 0.8, 0.7], [1, 2.5, 2.5, 4]),
    ([0.5, 0.5, 0.5], [2, 2, 2]),
    ([0.6], [1]),
    ([], []),
])
def test_ranks_put_the_highest_first_and_average_ties(values: list[float], ranks: list[float]) -> None:
    np.testing.assert_array_equal(descending_ranks(values), ranks)


def test_ranks_refuse_a_missing_value() -> None:
    with pytest.raises(ValueError, match="values: expected finite numbers"):
        descending_ranks([0.8, float("nan")])


def test_paired_ranks_rank_only_the_configurations_with_both_gaps() -> None:
    gaps = {1: (0.81, 0.60), 2: (0.82, 0.70), 3: (0.83, None), 4: (None, 0.90), 5: (0.80, 0.70)}
    assert paired_ranks(gaps) == {1: (2.0, 3.0), 2: (1.0, 1.5), 5: (3.0, 1.5)}
    assert paired_ranks({3: (0.83, None)}) == {}


# ------------------------------------------------------------------------------------------ Kendall's tau-b


@pytest.mark.parametrize(("x", "y", "tau"), [
    ([1, 2, 3, 4], [1, 2, 3, 4], 1.0),
    ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    # 6 pairs, one discordant (2nd, 3rd): (5 - 1) / 6
    ([1, 2, 3, 4], [1, 3, 2, 4], 2 / 3),
    # one tie on each side, in different pairs: 4 concordant of 5 untied on x and 5 untied on y
    ([1, 2, 2, 3], [1, 2, 3, 3], 4 / 5),
    # three tied on x (3 tied pairs), none on y: 3 concordant / sqrt(3 * 6)
    ([1, 2, 2, 2], [1, 2, 3, 4], 1 / math.sqrt(2)),
    # a tie on each side: the one pair untied on both is discordant, 2 pairs untied on each side: -1 / sqrt(2 * 2)
    ([1, 1, 2], [1, 2, 1], -0.5),
    ([0.8157, 0.8373], [0.31, 0.29], -1.0),
])
def test_tau_b_matches_hand_computed_values(x: list[float], y: list[float], tau: float) -> None:
    assert kendall_tau_b(x, y) == pytest.approx(tau)
    assert kendall_tau_b(y, x) == pytest.approx(tau)  # symmetric


def test_tau_b_is_the_same_on_values_and_on_their_ranks() -> None:
    x, y = [0.81, 0.83, 0.83, 0.80, 0.82], [0.4, 0.6, 0.5, 0.5, 0.3]
    assert kendall_tau_b(descending_ranks(x), descending_ranks(y)) == pytest.approx(kendall_tau_b(x, y))


@pytest.mark.parametrize(("x", "y"), [([], []), ([0.8], [0.3]), ([0.8, 0.8, 0.8], [0.1, 0.2, 0.3])])
def test_tau_b_is_undefined_without_an_untied_pair_on_each_side(x: list[float], y: list[float]) -> None:
    assert kendall_tau_b(x, y) is None


def test_tau_b_refuses_pairings_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="got 3 and 2"):
        kendall_tau_b([1, 2, 3], [1, 2])


# ------------------------------------------------------------------------------------------------ metric


def test_metric_shows_tau_with_its_n_or_says_why_there_is_none() -> None:
    assert tau_metric(2 / 3, 4) == ("Rank agreement with the paper: Kendall's tau-b over n = 4 configurations",
                                    "0.667")
    label, value = tau_metric(None, 1)
    assert label.endswith("n = 1 configuration") and value == "cannot be computed yet (needs 2)"
    assert tau_metric(None, 0)[1] == "cannot be computed yet (needs 2)"
    assert tau_metric(None, 3)[1] == "undefined (all tied on one side)"
