"""A sweep's trials as an Optuna study rebuilt from records: the next values differ from trial to trial though the
study is built anew each time, running trials count (TPE's constant liar), and the pruners decide on the validate1
GAP by step as Optuna's would in one long-lived study."""

from __future__ import annotations

import pytest

from y8m_models.configs.space import SearchSpace
from y8m_models.study import Pruning, TrialRecord, build_study, next_values, should_prune

SPACE = SearchSpace.from_ranges(["model.training.learning_rate=0.0001:0.1:log", "model.params.mixtures=[1,2,4]"])


def _trial(number: int, state: str, curve: dict[int, float], lr: float = 0.01) -> TrialRecord:
    value = max(curve.values()) if state == "complete" else None
    return TrialRecord(number, {"model.training.learning_rate": lr, "model.params.mixtures": 2}, state, value, curve)


def test_each_rebuilt_study_draws_new_values_and_repeats_them_for_the_same_history() -> None:
    trials: list[TrialRecord] = []
    for number in range(6):
        values = next_values("sweep-1", SPACE, trials, sampler="random", seed=7)
        assert values == next_values("sweep-1", SPACE, trials, sampler="random", seed=7)  # the same history: the same
        trials.append(TrialRecord(number, values, "running"))
    lrs = [t.params["model.training.learning_rate"] for t in trials]
    assert len(set(lrs)) == 6 and all(0.0001 <= lr <= 0.1 for lr in lrs)
    assert {t.params["model.params.mixtures"] for t in trials} <= {1, 2, 4}
    tpe = next_values("sweep-1", SPACE, trials, sampler="tpe", seed=7)
    assert tpe["model.training.learning_rate"] not in lrs


def test_the_study_holds_each_state_and_refuses_gaps_in_the_numbers() -> None:
    from optuna.trial import TrialState

    study = build_study("s", SPACE, [_trial(0, "complete", {10: 0.5}), _trial(1, "pruned", {10: 0.1}),
                                     _trial(2, "failed", {}), _trial(3, "stopped", {}), _trial(4, "asked", {})])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL,
                                               TrialState.FAIL, TrialState.RUNNING]
    assert study.best_value == 0.5 and study.trials[0].intermediate_values == {10: 0.5}
    with pytest.raises(ValueError, match="trial numbers run 0, 1, 2"):
        build_study("s", SPACE, [_trial(1, "complete", {10: 0.5})])


def test_the_median_rule_prunes_a_trial_behind_the_finished_ones_after_its_startup_trials() -> None:
    done = [_trial(0, "complete", {10: 0.40, 20: 0.50}), _trial(1, "complete", {10: 0.42, 20: 0.52})]
    behind, ahead = _trial(2, "running", {10: 0.20}), _trial(2, "running", {10: 0.45})
    median = Pruning("median", startup_trials=2)
    assert should_prune("s", SPACE, [*done, behind], 2, median)
    assert not should_prune("s", SPACE, [*done, ahead], 2, median)
    assert not should_prune("s", SPACE, [*done, behind], 2, Pruning("median", startup_trials=3))  # too few finished
    assert not should_prune("s", SPACE, [*done, behind], 2, Pruning("median", startup_trials=2, warmup_steps=11))
    assert not should_prune("s", SPACE, [*done, behind], 2, Pruning("none"))
    assert not should_prune("s", SPACE, [*done, _trial(2, "running", {})], 2, median)  # nothing to judge yet


def test_hyperband_decides_on_the_same_records() -> None:
    done = [_trial(k, "complete", {s: 0.3 + 0.01 * k + 0.001 * s for s in range(1, 81)}) for k in range(4)]
    poor = _trial(4, "running", dict.fromkeys(range(1, 31), 0.01))
    decided = should_prune("s", SPACE, [*done, poor], 4, Pruning("hyperband", min_steps=1))
    assert decided == should_prune("s", SPACE, [*done, poor], 4, Pruning("hyperband", min_steps=1))  # stable brackets
    assert isinstance(decided, bool)


@pytest.mark.parametrize(("values", "says"), [({"kind": "asha"}, "pruner 'asha': the pruners are none, median"),
                                              ({"kind": "median", "startup_trials": -1}, "startup_trials -1"),
                                              ({"kind": "hyperband", "min_steps": 0}, "min_steps 0")])
def test_a_bad_pruning_is_refused(values: dict, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Pruning(**values)
