"""Composed ensembles: ``configs.variants.compose`` (each method as the variant of the paper's configuration of
that method), ``y8m ensemble create`` (flags and a YAML spec, references checked, the plan before submitting),
and end to end on a worker: a stack of three finished runs (reused, not retrained), bagging of a variant,
distillation from the composed stack and a cascade on it, a member from another dataset refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.worker.conftest import Backend, wait_for
from worker.local import LocalWorkers as Workers
from y8m_models.configs import ConfigError
from y8m_models.configs.schema import Variant
from y8m_models.configs.variants import compose

K3 = Variant(name="k3", base=25, overrides={"model.params.groups": 3})


@pytest.mark.parametrize("method, members, extra, base, changes", [
    ("classwise", ["2", "k3", "run:7"], {}, 75,
     {"ensemble.members": [2, {"variant": "k3"}, {"run": 7}], "ensemble.combiner.kind": "classwise"}),
    ("attention", ["#2", "18"], {"changes": {"ensemble.combiner.attentions": 8}}, 78,
     {"ensemble.members": [2, 18], "ensemble.combiner.kind": "attention", "ensemble.combiner.attentions": 8}),
    ("merge", ["75", "mystack"], {}, 80, {"ensemble.members": [75, {"variant": "mystack"}]}),
    ("bagging", ["k3"], {"count": 4}, 28, {"ensemble.member": {"variant": "k3"}, "ensemble.count": 4}),
    ("boosting", ["18"], {"rule": "discard", "threshold": 3.0}, 32,
     {"ensemble.member": 18, "ensemble.reweighting.rule": "discard", "ensemble.reweighting.threshold": 3.0}),
    ("distillation", ["k3"], {"teacher": "mystack", "weight": 0.3}, 25,
     {"model.params.groups": 3, "model.distillation": {"teacher": {"variant": "mystack"}, "weight": 0.3}}),
    ("cascade", ["2", "mystack", "76"], {}, 2, {"model.cascade": {"streams": [{"variant": "mystack"}, 76]}}),
    ("cascade", ["48", "75"], {}, 48, {"model.cascade.streams": [75]}),  # #48's other cascade settings kept
])
def test_each_method_is_the_variant_of_its_paper_configuration(method, members, extra, base, changes) -> None:
    assert compose(method, members, find_variant={"k3": K3}.get, **extra) == (base, changes)


@pytest.mark.parametrize("method, members, extra, says", [
    ("vote", ["2", "18"], {}, "--method 'vote': one of mean, linear"),
    ("bagging", ["2", "18"], {}, "bagging takes one model, not 2"),
    ("distillation", ["2"], {}, "--teacher: distillation needs the ensemble"),
    ("distillation", ["run:3"], {"teacher": "75"}, "a finished run cannot be it"),
    ("cascade", ["2"], {}, "a cascade is its model, then the ensembles it reads"),
    ("cascade", ["nope", "75"], {}, "'nope': neither a configuration number nor a saved variant"),
    ("mean", [], {}, "--members: give the members"),
    ("distillation", ["75"], {"teacher": "76"}, "distillation trains a single model; #75 is an ensemble"),
    ("cascade", ["75", "76"], {}, "a cascade trains a single model; #75 is an ensemble"),
])
def test_a_composition_that_does_not_fit_its_method_is_refused(method, members, extra, says) -> None:
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")):
        compose(method, members, find_variant={"k3": K3}.get, **extra)


def test_bagging_an_ensemble_is_refused_when_planned() -> None:
    from y8m_models.pipeline import plan

    base, changes = compose("bagging", ["75"])
    with pytest.raises(ConfigError, match="its member #75 is an ensemble; bagging and boosting train a single model"):
        plan([Variant(name="bag75", base=base, overrides=changes)], Path("/nowhere"))


def test_ensemble_create_saves_checks_references_and_shows_the_plan(env: Backend, tmp_path: Path) -> None:
    from worker.cli import app
    from worker.variants import get_variant

    runner = CliRunner()
    saved = runner.invoke(app, ["configs", "save", "cli-g3", "--from", "25", "--set", "model.params.groups=3"])
    assert saved.exit_code == 0, saved.output
    spec = tmp_path / "stack.yaml"
    spec.write_text("name: cli-stack\nmethod: attention\nmembers: [2, cli-g3]\n"
                    "set:\n  ensemble.combiner.attentions: 4\nnote: two members\n")
    made = runner.invoke(app, ["ensemble", "create", str(spec), "--data", str(env.data), "--dry-run", "--max-steps",
                               "3"])
    assert made.exit_code == 0, made.output
    assert get_variant("cli-stack") is None  # a dry run saves nothing
    again = runner.invoke(app, ["ensemble", "create", str(spec)])
    assert again.exit_code == 0 and again.stderr.startswith("saved #78 · cli-stack: attention of 2, cli-g3")
    saved = get_variant("cli-stack")
    assert (saved.base, saved.note) == (78, "two members")
    assert saved.overrides["ensemble.members"] == [2, {"variant": "cli-g3"}]
    assert saved.overrides["ensemble.combiner.attentions"] == 4
    plan = made.stdout.splitlines()
    assert [line.split()[0] for line in plan] == ["train", "train", "stack"]
    assert all(line.endswith("new") for line in plan)
    assert get_variant("cli-stack").frozen_by is None  # saved, not submitted
    for args, says in [
        (["--name", "cli-bad", "--method", "mean", "--members", "2,run:999999"], "member run 999999 is no such run"),
        (["--name", "cli-bad", "--method", "mean", "--members", "2,cli-nope"],
         "it reads variant 'cli-nope', which is not saved"),
        (["--name", "cli-bad", "--method", "mean", "--members", "2"], "stacking needs at least 2 'members'"),
        (["--method", "mean", "--members", "2,3"], "give --name and --method"),
    ]:
        bad = runner.invoke(app, ["ensemble", "create", *args])
        assert bad.exit_code == 2 and says in bad.stderr, (args, bad.stderr)
    # distilled into one model under a byte budget: checked before the variant is saved
    distil = ["ensemble", "create", "--name", "cli-distil", "--method", "distillation", "--members", "2", "--teacher",
              "75", "--max-steps", "3", "--seed", "77"]  # runs of its own, cancelled below
    bad = runner.invoke(app, [*distil, "--budget", "1GB"])
    assert bad.exit_code == 2 and "--budget 1GB: a model's size depends on the dataset's classes: give --data" in (
        bad.stderr)
    bad = runner.invoke(app, [*distil, "--budget", "a lot", "--data", str(env.data)])
    assert bad.exit_code == 2 and "--budget 'a lot' is not a size" in bad.stderr
    bad = runner.invoke(app, [*distil, "--budget", "10kB", "--data", str(env.data)])
    assert bad.exit_code == 2 and "over the budget of 10.0 kB even in int8" in bad.stderr, bad.stderr
    assert get_variant("cli-distil") is None
    made = runner.invoke(app, [*distil, "--budget", "1GB", "--data", str(env.data)])
    assert made.exit_code == 0, made.output
    assert re.search(r"run\(s\) created, \d+ reused, [\d,]+ parameters: fits 1GB in fp32 \(\d+\.\d [kMG]B\)",
                     made.stderr)
    assert get_variant("cli-distil").overrides["model.distillation"] == {"teacher": 75, "weight": 0.5}
    from worker.runs import cancel

    cancel(int(made.stdout.split()[-1]))  # with what it reads: nothing is left queued for the workers of a later test
    spec.write_text("name: x\nmethod: mean\nmember: 2\n")
    bad = runner.invoke(app, ["ensemble", "create", str(spec)])
    assert bad.exit_code == 2 and "unknown option(s) member" in bad.stderr


def _finished(*run_ids: int) -> None:
    from worker.runs import show

    wait_for(lambda: all(show(r)["status"] in ("succeeded", "failed", "cancelled") for r in run_ids), 300,
             f"runs {run_ids}")
    failed = {r: show(r)["error"] for r in run_ids if show(r)["status"] != "succeeded"}
    assert not failed, failed


@pytest.mark.slow
def test_composed_ensembles_run_on_a_worker_reusing_finished_runs(env: Backend, workers: Workers,
                                                                  tmp_path: Path) -> None:
    if env.name != "embedded":
        pytest.skip("the composition is the database's and the pipeline's, the same on both backends")
    from worker.runs import SubmitError, register_dataset, show, submit
    from worker.variants import save_variant
    from y8m_models.data.synthetic import generate
    from y8m_models.options import RunOptions

    options = RunOptions(max_steps=3, seed=21)
    workers.start()
    first = submit("2,18,25", env.data, options)
    runs = [first.targets[n] for n in (2, 18, 25)]
    _finished(*runs)

    # a class-wise stack of the three finished runs: they are reused as they are, only the stack is new
    base, changes = compose("classwise", [f"run:{r}" for r in runs])
    save_variant("e2e-stack", str(base), changes)
    stack = submit("e2e-stack", env.data, options)
    assert stack.reused == runs and len(stack.created) == 1
    _finished(stack.targets["e2e-stack"])
    info = show(stack.targets["e2e-stack"])
    assert info["variant"] == "e2e-stack" and [i["run"] for i in info["inputs"]] == runs
    assert "stacking_weights" in {a["kind"] for a in info["artifacts"]}
    # the stack as a member of another: it predicted validate2 and test only, not the train2 a stack reads
    base, changes = compose("mean", [f"run:{stack.targets['e2e-stack']}", "2"])
    with pytest.raises(SubmitError, match=f"run {stack.targets['e2e-stack']} .* has no predictions on train2"):
        submit("75", env.data, options.model_copy(update={"overrides": changes}))

    # bagging of a variant; distillation of #2 from the composed stack; a cascade of #2 on it
    save_variant("e2e-g5", "25", {"model.params.groups": 5})
    for name, method, members, extra in [("e2e-bag", "bagging", ["e2e-g5"], {"count": 2}),
                                         ("e2e-distil", "distillation", ["2"], {"teacher": "e2e-stack"}),
                                         ("e2e-cascade", "cascade", ["2", "e2e-stack"], {})]:
        base, changes = compose(method, members, find_variant=_variant, **extra)
        save_variant(name, str(base), changes)
    composed = submit("e2e-bag,e2e-distil,e2e-cascade", env.data, options)
    _finished(*composed.targets.values())
    assert set(runs) <= set(composed.reused)  # the stack's members again, for the teacher's and stream's splits
    for name, run_id in composed.targets.items():
        assert show(run_id)["variant"] == name and 0 < show(run_id)["gap"]["validate2"] <= 1

    # a finished run of another dataset is refused, naming it
    generate(Path(env.data).parent / "other", preset="micro", seed=4)
    register_dataset(Path(env.data).parent / "other")
    with pytest.raises(SubmitError, match=f"run {runs[0]} .* was trained on dataset tiny, not on other"):
        submit("e2e-stack", Path(env.data).parent / "other", options)


def _variant(name: str):
    from worker.variants import get_variant

    return get_variant(name)
