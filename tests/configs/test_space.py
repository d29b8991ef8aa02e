"""The search space of a sweep: written as YAML or --set-range, checked as data (each error names the key and what
is wrong), and turned into Optuna's distributions and back (choices of any JSON value)."""

from __future__ import annotations

import re

import pytest

from y8m_models.configs.space import SearchSpace, SpaceError

YAML = """
model.training.learning_rate: {low: 0.0001, high: 0.01, log: true}
model.params.cells: {low: 256, high: 2048, step: 256}
model.params.mixtures: [2, 4, 8]
model.params.shape: [[512, 512], [1024]]
"""


def test_a_space_from_yaml_and_from_ranges_is_the_same_data() -> None:
    space = SearchSpace.from_yaml(YAML, "space.yaml")
    assert list(space.params) == ["model.training.learning_rate", "model.params.cells", "model.params.mixtures",
                                  "model.params.shape"]
    lr, cells, mixtures = (space.params[k] for k in list(space.params)[:3])
    assert (lr.low, lr.high, lr.log, lr.integer) == (0.0001, 0.01, True, False)
    assert (cells.integer, cells.step, cells.ends) == (True, 256, [256, 2048])
    assert mixtures.ends == [2, 4, 8] and mixtures.text() == "one of 2, 4, 8"
    ranges = SearchSpace.from_ranges(["model.training.learning_rate=0.0001:0.01:log", "model.params.cells=256:2048",
                                      "model.params.mixtures=[2,4,8]"])
    assert ranges.params["model.training.learning_rate"] == lr and ranges.params["model.params.mixtures"] == mixtures
    assert ranges.params["model.params.cells"].integer and ranges.params["model.params.cells"].text() == "256..2048"
    assert SearchSpace.of(space.stored(), "stored") == space  # what the run store keeps reads back the same


def test_distributions_and_values_round_trip_through_optuna() -> None:
    import optuna

    space = SearchSpace.from_yaml(YAML, "space.yaml")
    dists = space.distributions()
    assert isinstance(dists["model.params.cells"], optuna.distributions.IntDistribution)
    assert dists["model.params.cells"].step == 256 and dists["model.training.learning_rate"].log
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    drawn = [space.overrides(study.ask(dists).params) for _ in range(30)]
    assert {tuple(d["model.params.shape"]) for d in drawn} == {(512, 512), (1024,)}  # lists come back as lists
    assert all(0.0001 <= d["model.training.learning_rate"] <= 0.01 for d in drawn)
    assert all(d["model.params.cells"] % 256 == 0 and isinstance(d["model.params.cells"], int) for d in drawn)
    assert space.overrides(space.internal(drawn[0])) == drawn[0]


@pytest.mark.parametrize(("text", "says"), [
    ("[1, 2]", "space.yaml: a search space is a mapping"),
    ("a: [", "space.yaml: not YAML"),
    ("x: {low: 1}", "space.yaml: x: a range needs low and high"),
    ("x: {low: 2, high: 1}", "x: low 2 must be below high 1"),
    ("x: {low: 0, high: 1, log: true}", "x: a log range starts above 0, not at 0"),
    ("x: {low: 1, high: 9, log: true, step: 2}", "x: a range is either log or stepped"),
    ("x: {low: 1, high: 9, step: 0.5}", "x: an integer range takes an integer step"),
    ("x: {low: 1, high: 9, choices: [1]}", "x: give either choices or low/high"),
    ("x: []", "x: choices: give at least one value"),
    ("x: [1, 1]", "x: choices [1, 1]: a value is given twice"),
    ("x: {low: 1, high: .inf}", "x: inf is not a finite number"),
    ("x: {low: 1, high: 2, lo: 3}", "x: Extra inputs are not permitted"),
    ("'a b': [1]", "'a b' is not a configuration key"),
])
def test_a_bad_space_file_is_refused_naming_the_key(text: str, says: str) -> None:
    with pytest.raises(SpaceError, match=re.escape(says)):
        SearchSpace.from_yaml(text, "space.yaml")


@pytest.mark.parametrize(("pairs", "says"), [
    (["lr"], "--set-range 'lr': write key=low:high"),
    (["lr=1:2:3"], "--set-range 'lr=1:2:3': write key=low:high"),
    (["lr=a:2"], "--set-range 'lr=a:2': 'a' is not a number"),
    (["m=[2,4"], "the choices are not a JSON list"),
    (["lr=1:2", "lr=1:3"], "--set-range lr: given twice"),
    (["lr=3:2"], "--set-range: lr: low 3 must be below high 2"),
])
def test_a_bad_set_range_is_refused_naming_it(pairs: list[str], says: str) -> None:
    with pytest.raises(SpaceError, match=re.escape(says)):
        SearchSpace.from_ranges(pairs)


def test_a_key_given_by_both_the_file_and_set_range_is_refused() -> None:
    with pytest.raises(SpaceError, match="model.params.mixtures: given both"):
        SearchSpace.from_yaml(YAML, "f").merged(SearchSpace.from_ranges(["model.params.mixtures=[2,4]"]))
