"""Sweeps through the run store and the workers: a sweep is checked before anything is written; its trials are
ordinary runs; pruned trials stop early and say so; it goes on when the process that started it is killed, and a
stopped sweep resumes; the best trial is saved as a variant and launched. On the embedded default and, in CI, on
Redis and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.worker.conftest import Backend, wait_for
from worker.local import Y8M
from worker.local import LocalWorkers as Workers
from y8m_models.configs.space import SearchSpace
from y8m_models.options import RunOptions

LR = "model.training.learning_rate"


def _request(env: Backend, **changes):
    from worker.sweeps import SweepRequest

    values = {"config": "1", "data": str(env.data), "space": SearchSpace.from_ranges([f"{LR}=0.001:0.1:log"]),
              "n_trials": 2} | changes
    return SweepRequest(**values)


@pytest.mark.parametrize(("changes", "says"), [
    ({"config": "75"}, "--config 75: #75 ensemble4 is an ensemble; a sweep varies a single model"),
    ({"config": "1,2"}, "a sweep varies one configuration, not 2"),
    ({"space": SearchSpace.from_ranges(["model.params.cells=8:16"])}, "model.params.cells: not a value of #1"),
    ({"space": SearchSpace.from_ranges(["model.params.mixtures=[0,2]"])}, "model.params.mixtures=0: "),
    ({"space": SearchSpace.from_ranges(["model.params.mixtures=[2,4]"])},
     "model.params.mixtures: one of 2, 4 gives one model at preset tiny"),
    ({"options": RunOptions(overrides={LR: 0.01})}, f"{LR}: both varied and fixed by --set"),
    ({"n_trials": 0}, "--trials 0: between 1 and 1000"),
    ({"parallel": 3}, "--parallel 3: between 1 and the trials (2)"),
    ({"sampler": "cmaes"}, "--sampler cmaes: the samplers are tpe, random"),
    ({"name": "Big Sweep"}, "--name 'Big Sweep': 1 to 64 of a-z 0-9"),
    ({"data": "/nowhere"}, "--data /nowhere: not a registered dataset"),
    ({"options": RunOptions(overrides={"model.training.batch_size": 10**9})}, "batch size 1,000,000,000 is over"),
])
def test_a_sweep_is_checked_before_anything_is_written(env: Backend, changes: dict, says: str) -> None:
    from db.engine import reading
    from db.models import Run, Sweep
    from worker.store import prepare
    from worker.sweeps import SweepError, create_sweep

    with pytest.raises(SweepError, match=re.escape(says)):
        create_sweep(_request(env, **changes))
    with reading(prepare()) as s:
        assert s.query(Sweep).count() == 0 and s.query(Run).count() == 0


def test_a_trial_written_before_its_run_was_submitted_gets_its_run_once(env: Backend) -> None:
    """A process killed between writing a trial and submitting its run: the next advance submits it, and a second
    submission of the same values finds the same run (content hash)."""
    from db.engine import reading, writing
    from db.models import SweepTrial
    from worker.store import prepare
    from worker.sweeps import advance, create_sweep, show_sweep

    sweep_id = create_sweep(_request(env, name="half-written", n_trials=3, parallel=2))
    first = show_sweep(sweep_id)["trials"]
    assert [t["state"] for t in first] == ["running", "running"] and first[0]["run"] != first[1]["run"]
    with writing(prepare()) as s:
        s.add(SweepTrial(sweep_id=sweep_id, number=2, params=first[0]["params"], state="asked"))
        s.get(SweepTrial, (sweep_id, 0)).state = "failed"  # room for one more
    advance(sweep_id)
    trials = show_sweep("half-written")["trials"]
    assert trials[2]["state"] == "running" and trials[2]["run"] == first[0]["run"]  # the same values: the same run
    with reading(prepare()) as s:
        assert s.query(SweepTrial).count() == 3


def _sweep_cli(env: Backend) -> list[str]:
    return [Y8M, "sweep", "1", "--data", str(env.data), "--set-range", f"{LR}=0.00001:0.1:log",
            "--set-range", "model.params.mixtures=[1,2]", "--trials", "6", "--parallel", "2", "--prune", "median",
            "--prune-startup", "1", "--epochs", "20", "--eval-every", "15", "--seed", "5", "--name", "lr-mix"]


def test_six_trials_on_two_workers_prune_and_survive_their_driver_and_a_stop(env: Backend, workers: Workers) -> None:
    from worker.sweeps import show_sweep

    workers.start()
    workers.start()
    driver = subprocess.Popen(_sweep_cli(env), env={**os.environ, **env.env}, stderr=subprocess.PIPE,
                              text=True)
    wait_for(lambda: _trials(env, "complete"), 240, "a first complete trial")
    driver.send_signal(signal.SIGKILL)  # the process that started the sweep dies: the workers go on with it
    driver.wait()
    runner = CliRunner()
    wait_for(lambda: _trials(env, "running"), 60, "a running trial after the driver died")
    stopped = runner.invoke(_app(), ["sweeps", "stop", "lr-mix"])
    assert stopped.exit_code == 0, stopped.output
    info = show_sweep("lr-mix")
    assert info["status"] == "stopped" and info["trials_by_state"]["stopped"] >= 1
    again = [t for t in info["trials"] if t["state"] == "stopped"]
    resumed = runner.invoke(_app(), ["sweeps", "resume", "lr-mix", "--detach"])
    assert resumed.exit_code == 0, resumed.output
    wait_for(lambda: show_sweep("lr-mix")["status"] == "finished", 400, "the sweep to finish")

    info = show_sweep("lr-mix")
    trials = info["trials"]
    assert len(trials) == 6 and {t["state"] for t in trials} <= {"complete", "pruned"}, trials
    for t in again:  # a stopped trial was asked again with its values, and trained from the start in a new run
        assert trials[t["number"]]["params"] == t["params"] and trials[t["number"]]["run"] != t["run"]
    runs = {t["run"]: json.loads(runner.invoke(_app(), ["runs", "show", str(t["run"]), "--json"]).stdout)
            for t in trials}
    for t in trials:
        run = runs[t["run"]]
        if t["state"] == "complete":
            assert run["status"] == "succeeded" and t["value"] == run["gap"]["validate1"]
        else:  # pruned: stopped before its last step, and the run says why
            assert run["status"] == "cancelled" and run["step"] < run["steps"], run
            assert any(e["event"] == "pruned" and f"trial {t['number']}'s validate1 GAP" in e["message"]
                       for e in run["events"])
            assert t["step"] in dict(t["intermediate"])  # the step judged (the run stops at its next beat)
        assert any(e["event"] == "trial" and "of sweep lr-mix" in e["message"] for e in run["events"])
        assert run["options"]["overrides"] == t["params"]
    assert info["trials_by_state"]["pruned"] >= 1, trials
    best = max((t for t in trials if t["state"] == "complete"), key=lambda t: t["value"])
    assert info["best"]["trial"] == best["number"]

    saved = runner.invoke(_app(), ["sweeps", "save", "lr-mix", "lr-mix-best"])
    assert saved.exit_code == 0, saved.output
    launched = runner.invoke(_app(), ["runs", "submit", "--config", "lr-mix-best", "--data", str(env.data),
                                      "--preset", "tiny", "--epochs", "20", "--eval-every", "15", "--seed", "5"])
    assert launched.exit_code == 0, launched.output
    assert int(launched.stdout.split()[-1]) == best["run"]  # the best trial's run is that variant's, reused
    listed = runner.invoke(_app(), ["sweeps", "list"])
    assert re.search(r"lr-mix\s+finished\s+1\s+6/6", listed.stdout), listed.stdout


def _app():
    from worker.cli import app

    return app


def _trials(env: Backend, state: str) -> bool:
    from worker.sweeps import SweepError, show_sweep

    try:
        return any(t["state"] == state for t in show_sweep("lr-mix")["trials"])
    except SweepError:  # not created yet
        return False


def test_the_worker_parent_advances_sweeps_without_loading_torch(env: Backend, workers: Workers) -> None:
    """The recovery loop in the worker process (which forks the runs) submits trials through the helper that counts
    parameters: it never imports torch (a forked child of a process that ran torch deadlocks)."""
    from db.engine import writing
    from db.models import Sweep, SweepTrial
    from worker.store import prepare
    from worker.sweeps import create_sweep, show_sweep, stop_sweep

    sweep_id = create_sweep(_request(env, name="parent", n_trials=2, options=RunOptions(max_steps=3, eval_every=3)))
    stop_sweep(sweep_id)
    with writing(prepare()) as s:  # as if its driver died after writing trial 0 and before submitting its run
        s.get(Sweep, sweep_id).status = "running"
        trial = s.get(SweepTrial, (sweep_id, 0))
        trial.state, trial.run_id = "asked", None
    worker = workers.start()
    wait_for(lambda: show_sweep(sweep_id)["status"] == "finished", 120, "the workers to run the sweep")
    assert [t["state"] for t in show_sweep(sweep_id)["trials"]] == ["complete", "complete"]
    maps = Path(f"/proc/{worker.pid}/maps").read_text()
    assert "libtorch" not in maps, "the worker's parent process loaded torch"


def test_the_sweep_command_names_what_is_wrong(env: Backend, tmp_path: Path) -> None:
    runner = CliRunner()
    bad_space = tmp_path / "space.yaml"
    bad_space.write_text(f"{LR}: {{low: 0.1, high: 0.01}}\n")
    for args, says in [
        ([], "nothing to vary: give --space SPACE.yaml or --set-range key=low:high"),
        (["--set-range", "lr"], "--set-range 'lr': write key=low:high"),
        (["--space", str(tmp_path / "none.yaml")], f"--space {tmp_path / 'none.yaml'}: No such file or directory"),
        (["--space", str(bad_space)], f"{bad_space}: {LR}: low 0.1 must be below high 0.01"),
        (["--set-range", f"{LR}=0.001:0.1", "--prune", "asha"], "--prune asha: pruner 'asha': the pruners are"),
        (["--set-range", f"{LR}=0.001:0.1", "--trials", "2", "--parallel", "4"], "--parallel 4: between 1 and"),
    ]:
        result = runner.invoke(_app(), ["sweep", "1", "--data", str(env.data), "--preset", "tiny", *args])
        assert result.exit_code == 2 and f"error: {says}" in result.stderr, (args, result.stderr)
    good_space = tmp_path / "good.yaml"
    good_space.write_text(f"{LR}: {{low: 0.001, high: 0.1, log: true}}\n")
    made = runner.invoke(_app(), ["sweep", "1", "--data", str(env.data), "--preset", "tiny", "--space",
                                  str(good_space), "--set-range", "model.params.mixtures=[1,2]", "--trials", "3",
                                  "--name", "from-file", "--detach"])
    assert made.exit_code == 0, made.stderr
    shown = json.loads(runner.invoke(_app(), ["sweeps", "show", made.stdout.strip(), "--json"]).stdout)
    assert shown["name"] == "from-file" and shown["space"] == {LR: {"low": 0.001, "high": 0.1, "log": True},
                                                               "model.params.mixtures": {"choices": [1, 2]}}
    assert [t["state"] for t in shown["trials"]] == ["running"]  # one at a time: --parallel 1
    assert runner.invoke(_app(), ["sweeps", "resume", "from-file"]).stderr.strip() == (
        f"error: sweep {shown['id']} (from-file) is running")
    assert runner.invoke(_app(), ["sweeps", "save", "from-file", "x1"]).stderr.strip() == (
        "error: sweep from-file has no complete trial yet")
    assert runner.invoke(_app(), ["sweeps", "show", "nope"]).stderr.strip() == "error: no sweep nope"


def test_refused_submissions_fail_one_trial_per_call_and_three_in_a_row_stop_the_sweep(env: Backend) -> None:
    """A submission refused for every trial alike (here: a batch over the limit, written into a stopped sweep's
    options behind its back) does not spend the budget in one call."""
    from db.engine import writing
    from db.models import Sweep
    from worker.store import prepare
    from worker.sweeps import SweepError, advance, create_sweep, resume_sweep, show_sweep, stop_sweep

    sweep_id = create_sweep(_request(env, name="refused", n_trials=10, options=RunOptions(seed=901)))  # no reuse
    stop_sweep(sweep_id)
    with writing(prepare()) as s:
        sweep = s.get(Sweep, sweep_id)
        sweep.options = {**sweep.options, "overrides": {"model.training.batch_size": 10**9}}
    with pytest.raises(SweepError, match=r"--trials 0: between the trials done or to redo \(1\) and 1000"):
        resume_sweep(sweep_id, n_trials=0)
    resume_sweep(sweep_id)  # trial 0 asked again: refused
    assert [t["state"] for t in show_sweep(sweep_id)["trials"]] == ["failed"]
    advance(sweep_id)
    advance(sweep_id)
    info = show_sweep(sweep_id)
    assert info["status"] == "stopped" and [t["state"] for t in info["trials"]] == ["failed"] * 3
    assert info["trials"][2]["message"].startswith("submission refused: #1 chaining_video_relabel: batch size")


def test_a_run_the_sweep_did_not_make_is_never_cancelled_by_it(env: Backend) -> None:
    """Content-hash reuse: a trial whose values someone already submitted gets that run; stopping the sweep leaves it
    running for its owner."""
    from worker.runs import show, submit
    from worker.sweeps import create_sweep, show_sweep, stop_sweep

    theirs = {submit("1", env.data, RunOptions(seed=904, overrides={LR: lr})).targets[1] for lr in (0.01, 0.02)}
    sweep_id = create_sweep(_request(env, name="reuser", space=SearchSpace.from_ranges([f"{LR}=[0.01,0.02]"]),
                                     n_trials=2, parallel=2, options=RunOptions(seed=904)))
    assert {t["run"] for t in show_sweep(sweep_id)["trials"]} <= theirs
    assert stop_sweep(sweep_id) == []
    assert {show(r)["status"] for r in theirs} == {"queued"}


def test_a_submission_that_lands_after_a_stop_is_taken_back(env: Backend) -> None:
    """A driver that was submitting a trial's run while the sweep was stopped: the trial stays stopped, and the run
    its submission made is cancelled (not left training for a stopped sweep)."""
    from worker import sweeps
    from worker.runs import list_runs, show

    sweep_id = sweeps.create_sweep(_request(env, name="late", n_trials=2, options=RunOptions(seed=902)))
    sweeps.stop_sweep(sweep_id)
    trial = show_sweep_trial(sweep_id, 0)
    late = sweeps._with(RunOptions(seed=902), {LR: trial["params"][LR] * 1.5})  # values no run has yet: a new run
    assert not sweeps._submit(sweeps.Settings.from_env(), sweep_id, "me:0", "late", 0, "1", str(env.data), late)
    assert show_sweep_trial(sweep_id, 0)["state"] == "stopped"
    newest = max(r["id"] for r in list_runs(limit=5))
    assert show(newest)["status"] == "cancelled"


def show_sweep_trial(sweep_id: int, number: int) -> dict:
    from worker.sweeps import show_sweep

    return show_sweep(sweep_id)["trials"][number]


def test_a_trial_pruned_after_its_run_finished_training_is_kept_as_complete(env: Backend) -> None:
    from db.engine import writing
    from db.models import Run, SweepTrial
    from db.queries import set_scores
    from worker.runs import show
    from worker.store import prepare
    from worker.sweeps import advance, create_sweep, show_sweep

    sweep_id = create_sweep(_request(env, name="late-prune", n_trials=1, options=RunOptions(seed=903)))
    run_id = show_sweep_trial(sweep_id, 0)["run"]
    with writing(prepare()) as s:  # judged on its last evaluation while it was predicting, then it succeeded
        trial = s.get(SweepTrial, (sweep_id, 0))
        trial.state, trial.step, trial.message = "pruned", 75, "pruned by sweep late-prune"
        run = s.get(Run, run_id)
        run.status, run.cancel_requested = "succeeded", True
        set_scores(s, run_id, {"validate1": {"gap": 0.42}})
    advance(sweep_id)
    kept = show_sweep(sweep_id)
    assert kept["trials"][0]["state"] == "complete" and kept["trials"][0]["value"] == 0.42
    assert kept["trials"][0]["message"] == "pruned at step 75, after its run had trained: kept"
    assert kept["status"] == "finished" and show(run_id)["status"] == "succeeded"
