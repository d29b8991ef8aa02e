"""The run API without worker processes: bad input refused before anything is queued, the DAG of a
submission, cancel, failure propagation, claiming, the recovery loop, the reporter's metric rows, the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.worker.conftest import Backend


def _count_runs() -> int:
    from db.engine import reading
    from db.models import Run
    from worker.store import prepare

    with reading(prepare()) as s:
        return s.scalar(select(func.count()).select_from(Run))


def _set(run_id: int, **values) -> None:
    from db.engine import get_engine, writing
    from db.models import Run

    with writing(get_engine()) as s:
        run = s.get(Run, run_id)
        for key, value in values.items():
            setattr(run, key, value)


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_bad_input_is_refused_before_anything_is_queued(env: Backend, tmp_path: Path) -> None:
    from worker.runs import SubmitError, submit
    from y8m_models.options import OptionsError, RunOptions

    before = _count_runs()
    cases = [
        (dict(configs="89"), "1 to 88"),
        (dict(configs="chaining_cn"), "did you mean chaining_cnn"),
        (dict(configs="3", overrides={"model.training.no_such_knob": 1}), "no_such_knob"),
        (dict(configs="3", data="no-such-dataset"), "not a registered dataset"),
        (dict(configs="3", data=tmp_path), "nor a folder inside the data roots"),
        (dict(configs="3", eval_every=0), "--eval-every must be from 1 to 2147483647, not 0"),
        (dict(configs="3", seed=10**20), "--seed must be from 0 to 2147483647, not 100000000000000000000"),
        (dict(configs="3", max_steps=0), "--max-steps must be from 1 to 2147483647, not 0"),
        (dict(configs="3", device="anything"), "--device 'anything': expected auto, cpu, cuda, cuda:N or mps"),
        (dict(configs="3", overrides={"model.params.cells": 1_000_000_000}),
         r"#3 lstm_1024x2_moe8: [\d,]+ parameters is over the limit 4,000,000,000 \(Y8M_MAX_PARAMETERS raises it\)"),
        (dict(configs="3", overrides={"model.training.batch_size": 10**9}),
         "batch size 1,000,000,000 is over the limit 65,536 \\(Y8M_MAX_BATCH raises it\\)"),
        (dict(configs="75", epochs=1.0), "--epochs applies to single models"),
    ]
    for kwargs, message in cases:
        configs, data = kwargs.pop("configs"), kwargs.pop("data", env.data)
        with pytest.raises((SubmitError, OptionsError), match=message):  # OptionsError: RunOptions.of's
            submit(configs, data, RunOptions.of(**kwargs))
    # a directory in a data root without frame-level files, for a frame-level configuration
    video_only = env.data.parent / "video_only"
    video_only.mkdir(exist_ok=True)
    for name in ("video", "vocabulary.csv"):
        if not (video_only / name).exists():
            (video_only / name).symlink_to(env.data / name)
    with pytest.raises(SubmitError, match="#3 .* needs frame-level .*train1"):
        submit("3", video_only, RunOptions())
    assert _count_runs() == before


def test_a_submission_is_the_pipeline_dag_with_links_and_reuse(env: Backend) -> None:
    """#47 (#2's model with #75's predictions as input): #75's four members and stack, then #47; only the
    members can start. #2 submitted alone afterwards is the member run already there."""
    from worker.runs import show, submit
    from y8m_models.options import RunOptions

    sub = submit("47", env.data, RunOptions(max_steps=3, seed=7))
    assert len(sub.created) == 6 and not sub.reused
    infos = [show(r) for r in sub.created]
    assert [i["status"] for i in infos] == ["queued"] * 4 + ["waiting"] * 2
    stack, cascade = infos[4], infos[5]
    assert stack["number"] == 75 and [x["run"] for x in stack["inputs"]] == sub.created[:4]
    assert cascade["number"] == 47 and cascade["inputs"] == [{"role": "stream", "position": 0, "run": stack["id"]}]
    again = submit("2", env.data, RunOptions(max_steps=3, seed=7))
    assert again.targets == {2: sub.created[0]} and not again.created
    # Each run's own parameters, counted at submission; a run's size adds those of every run it predicts with.
    from db.engine import reading
    from db.models import Run
    from db.queries import sizes
    from worker.store import prepare
    from y8m_models.configs import resolve
    from y8m_models.configs.build import parameter_count

    with reading(prepare()) as s:
        runs = [s.get(Run, r) for r in sub.created]
        classes = runs[0].dataset.num_classes
        own = [r.parameters for r in runs]
        total = sizes(s, sub.created)
    members = [parameter_count(resolve(n, "tiny").model, classes) for n in (2, 10, 18, 25)]
    assert own[:4] == members and own[4] == classes * 4 + 4  # #75's class-wise combiner: W2 [C, M] and w1 [M]
    assert own[5] == parameter_count(resolve(47, "tiny").model, classes)
    assert total[sub.created[4]] == sum(own[:5]) and total[sub.created[5]] == sum(own)


def test_a_byte_budget_counts_what_a_model_needs_to_predict(env: Backend) -> None:
    """--budget: a cascade (#47) with the stack it reads and that stack's members; a distilled model (#39) without
    its teacher; the widest dtype that fits; over the budget even in int8, nothing is created."""
    from db.engine import reading
    from db.models import Run
    from worker.runs import SubmitError, cancel, preview, submit
    from worker.store import prepare
    from y8m_models.configs import resolve
    from y8m_models.configs.build import parameter_count
    from y8m_models.options import RunOptions

    options = RunOptions(max_steps=3, seed=90)  # runs of their own: other tests' seeds reuse theirs
    cascade = submit("47", env.data, options, budget=10**9)
    with reading(prepare()) as s:
        classes = s.get(Run, cascade.targets[47]).dataset.num_classes
    members = sum(parameter_count(resolve(n, "tiny").model, classes) for n in (2, 10, 18, 25))
    assert cascade.fits[47] == (members + classes * 4 + 4 + parameter_count(resolve(47, "tiny").model, classes),
                                "fp32")
    student = parameter_count(resolve(39, "tiny").model, classes)
    for budget, dtype in [(4 * student, "fp32"), (4 * student - 1, "fp16"), (2 * student - 1, "int8")]:
        assert submit("39", env.data, options, budget=budget).fits[39] == (student, dtype)
    before = _count_runs()
    with pytest.raises(SubmitError, match=rf"#39 distill_chaining_video: {student:,} parameters \(.* in int8\) is "
                                          r"over the budget of .* even in int8; .* --method distillation"):
        submit("39", env.data, options.model_copy(update={"seed": 91}), budget=student - 1)
    with pytest.raises(SubmitError, match=r"#75 .*parameters in 5 runs .* over the budget"):
        preview("75", env.data, options, budget=1000)
    assert _count_runs() == before
    cancel(cascade.targets[47])  # nothing is left queued for a later test's workers
    cancel(submit("39", env.data, options).targets[39])


def test_cancel_ends_queued_runs_with_their_readers_and_their_own_inputs(env: Backend) -> None:
    from worker.runs import cancel, show, submit
    from y8m_models.options import RunOptions

    sub = submit("75", env.data, RunOptions(max_steps=3, seed=8))
    result = cancel(sub.targets[75])
    assert result == {"cancelled": sorted(sub.created), "stopping": []}
    assert all(show(r)["status"] == "cancelled" for r in sub.created)
    assert show(sub.created[0])["error"] == f"run {sub.targets[75]} was cancelled"


def test_a_failed_input_fails_the_runs_reading_it(env: Backend) -> None:
    from db.engine import get_engine, writing
    from worker.runs import show, submit
    from worker.schedule import fail_readers
    from y8m_models.options import RunOptions

    sub = submit("75", env.data, RunOptions(max_steps=3, seed=9))
    member = sub.created[1]
    _set(member, status="failed", error="boom")
    with writing(get_engine()) as s:
        assert fail_readers(s, member, "failed", "boom") == [sub.targets[75]]
    info = show(sub.targets[75])
    assert info["status"] == "failed" and info["error"] == f"input run {member} failed: boom"


def test_a_run_is_not_claimed_twice(env: Backend) -> None:
    from db.engine import get_engine
    from db.models import utcnow
    from db.settings import Settings
    from worker.execute import _claim
    from worker.runs import submit
    from y8m_models.options import RunOptions

    run_id = submit("1", env.data, RunOptions(max_steps=3, seed=10)).targets[1]
    settings, engine = Settings.from_env(), get_engine()
    _set(run_id, status="running", worker=f"{socket.gethostname()}:{os.getpid()}", heartbeat_at=utcnow())
    assert _claim(engine, run_id, "elsewhere:1", settings) is None  # alive on this host
    _set(run_id, worker="other-host:1", heartbeat_at=utcnow())
    assert _claim(engine, run_id, "elsewhere:1", settings) is None  # fresh heartbeat from another host
    _set(run_id, worker=f"{socket.gethostname()}:{_dead_pid()}")
    claimed = _claim(engine, run_id, "elsewhere:1", settings)  # its process is gone: taken over
    assert claimed is not None and claimed["attempt"] == 1
    _set(run_id, status="succeeded")
    assert _claim(engine, run_id, "elsewhere:2", settings) is None


def test_the_recovery_loop_resends_dead_runs_and_leaves_live_ones(env: Backend) -> None:
    from db.models import utcnow
    from worker.runs import show, submit
    from worker.schedule import recover
    from y8m_models.options import RunOptions

    ids = [submit("1", env.data, RunOptions(max_steps=3, seed=s)).targets[1] for s in (20, 21, 22, 23, 24, 25)]
    here, old = socket.gethostname(), utcnow() - timedelta(seconds=3600)
    _set(ids[0], status="running", worker=f"{here}:{_dead_pid()}", heartbeat_at=utcnow(), step=40)
    _set(ids[1], status="running", worker=f"{here}:{_dead_pid()}", heartbeat_at=utcnow(), cancel_requested=True)
    _set(ids[2], status="running", worker="far-away:12", heartbeat_at=utcnow())
    _set(ids[3], status="running", worker="far-away:13", heartbeat_at=old)
    _set(ids[4], celery_id=None)  # queued, but its message was never sent (the broker was away)
    _set(ids[5], status="running", worker=f"{here}:{_dead_pid()}", heartbeat_at=utcnow(), attempts=5)
    before = show(ids[0])["celery_id"]
    result = recover()
    assert sorted(result["resent"]) == [ids[0], ids[3], ids[4]] and sorted(result["ended"]) == [ids[1], ids[5]]
    assert show(ids[5])["status"] == "failed" and "5 attempts" in show(ids[5])["error"]
    assert show(ids[4])["celery_id"] is not None
    first = show(ids[0])
    assert first["status"] == "interrupted" and first["celery_id"] != before
    assert "stopped at step 40" in first["error"]
    assert show(ids[2])["status"] == "running"


def test_a_message_taken_by_a_worker_that_died_before_claiming_its_run_is_sent_again(env: Backend) -> None:
    """A worker killed between taking a run's message and its child claiming the run: the folder broker has
    deleted the message and Redis gives it back only after the visibility timeout, so the recovery loop sends the run
    again, judging the taker as it judges a running run's worker (a dead pid here, a stale heartbeat from any
    host). Before ``take`` such a run stayed queued for ever."""
    from db.models import utcnow
    from db.settings import Settings
    from worker.runs import show, submit
    from worker.schedule import recover, take
    from y8m_models.options import RunOptions

    ids = [submit("1", env.data, RunOptions(max_steps=3, seed=s)).targets[1] for s in (30, 31, 32, 33)]
    settings, here = Settings.from_env(), socket.gethostname()
    sent = {i: show(i)["celery_id"] for i in ids}
    assert all(sent.values())
    assert take(settings, ids[0], f"{here}:{_dead_pid()}")  # this host, its process gone
    assert take(settings, ids[1], "far-away:12")  # another host, a fresh heartbeat: its child is claiming
    assert take(settings, ids[2], "far-away:13")
    _set(ids[2], heartbeat_at=utcnow() - timedelta(seconds=3600))  # another host, silent for an hour
    _set(ids[3], status="running", worker=f"{here}:{_dead_pid()}", heartbeat_at=utcnow())
    assert not take(settings, ids[3], "far-away:14")  # claimed already: nothing to record
    taken = show(ids[0])
    assert taken["status"] == "queued" and taken["worker"].startswith(here)
    assert taken["events"][-1]["event"] == "taken"
    result = recover()
    assert sorted(result["resent"]) == [ids[0], ids[2], ids[3]]
    for lost in (ids[0], ids[2]):
        info = show(lost)
        assert info["status"] == "queued" and info["worker"] is None and info["celery_id"] not in (None, sent[lost])
        assert "stopped before starting it" in info["events"][-1]["message"]
    assert show(ids[1])["celery_id"] == sent[ids[1]] and show(ids[1])["worker"] == "far-away:12"
    interrupted = show(ids[3])  # its worker died while running it; the resent message waits to be taken
    assert interrupted["status"] == "interrupted" and interrupted["worker"] is None
    assert recover()["resent"] == []  # nothing taken, nothing lost: no second message


def test_heartbeats_are_written_and_judged_by_the_databases_clock(env: Backend,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker machine whose clock is 3 hours behind writes a heartbeat; a recovery loop on a machine with the right
    time must not take the live run for dead. PostgreSQL's clock is the one both share; SQLite lives on one
    machine, whose clock is its own."""
    from db import queries
    from db.engine import get_engine, reading
    from db.models import utcnow
    from worker.runs import show, submit
    from worker.schedule import recover
    from y8m_models.options import RunOptions

    run_id = submit("1", env.data, RunOptions(max_steps=3, seed=40)).targets[1]
    behind = utcnow() - timedelta(hours=3)
    with monkeypatch.context() as skewed:
        skewed.setattr(queries, "utcnow", lambda: behind)
        with reading(get_engine()) as s:
            beat = queries.clock(s)
    if env.name == "embedded":
        assert beat == behind  # one machine, one clock
        return
    assert abs((beat - utcnow()).total_seconds()) < 60  # the server's time, not the skewed machine's
    _set(run_id, status="running", worker="behind-host:7", heartbeat_at=beat)
    recover()
    assert show(run_id)["status"] == "running"


def test_the_reporter_writes_one_row_per_metric_and_step(env: Backend, tmp_path: Path) -> None:
    from db.engine import get_engine, reading
    from db.models import utcnow
    from db.queries import metric_series
    from worker.execute import Reporter
    from worker.runs import show, submit
    from y8m_models.options import RunOptions

    run_id = submit("1", env.data, RunOptions(max_steps=3, seed=30)).targets[1]
    me = "here:1"
    _set(run_id, status="running", worker=me, heartbeat_at=utcnow())
    lines = [{"step": 10, "loss": 2.0, "lr": 0.1, "examples_per_second": 5.0},
             {"split": "validate1", "step": 10, "gap": 0.5, "hit_at_1": 0.6, "perr": 0.4, "map": 0.3}]
    resumed = [{"step": 10, "loss": 2.5}]  # a resumed run's file repeats steps: one INSERT must not hold both
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in [*resumed, *lines])
                                            + '{"step": 20, "lo')
    reporter = Reporter(get_engine(), run_id, tmp_path, me, 60)
    reporter.progress.update(step=12, loss=1.5)
    reporter.flush()
    with open(tmp_path / "metrics.jsonl", "a") as out:  # the half line completed; step 10 again (a resume)
        out.write('ss": 1.0}\n' + json.dumps({"step": 10, "loss": 3.0}) + "\n")
    reporter.flush()
    with reading(get_engine()) as s:
        series = metric_series(s, run_id)
    assert series["loss"] == [(10, 3.0), (20, 1.0)] and series["validate1/gap"] == [(10, 0.5)]
    info = show(run_id)
    assert info["step"] == 12 and info["loss"] == 1.5 and not reporter.cancelled.is_set()
    _set(run_id, cancel_requested=True)
    reporter.flush()
    assert reporter.cancelled.is_set()
    _set(run_id, worker="someone-else:2")
    reporter.flush()
    assert reporter.taken_over.is_set()


def test_scores_are_the_selected_checkpoint_s_and_the_last_evaluation() -> None:
    from worker.execute import metric_points, scores_of

    lines = [{"split": "validate1", "step": 10, "gap": 0.4}, {"split": "validate1", "step": 20, "gap": 0.6},
             {"split": "validate1", "step": 30, "gap": 0.5}, {"split": "validate2", "gap": 0.55, "n_videos": 40}]
    scores = scores_of(lines)
    assert scores["validate1"]["gap"] == 0.6 and scores["validate1"]["step"] == 20
    assert scores["validate2"]["gap"] == 0.55 and scores["validate2"]["n_videos"] == 40
    assert metric_points(lines[3], 30) == [("validate2/gap", 30, 0.55)]


def test_the_cli_submits_lists_shows_and_cancels(env: Backend) -> None:
    from worker.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["runs", "submit", "--config", "chaining_cnn", "--data", "tiny", "--preset", "tiny",
                                 "--max-steps", "3", "--seed", "40"])
    assert result.exit_code == 0, result.output
    run_id = int(result.stdout.strip().splitlines()[-1])
    listed = json.loads(runner.invoke(app, ["runs", "list", "--json", "--status", "queued"]).stdout)
    assert run_id in [r["id"] for r in listed]
    shown = runner.invoke(app, ["runs", "show", str(run_id)])
    assert f"run {run_id}: queued  #18 chaining_cnn" in shown.stdout
    assert runner.invoke(app, ["runs", "cancel", str(run_id)]).stdout.startswith(f"cancelled: [{run_id}]")
    bad = runner.invoke(app, ["runs", "submit", "--config", "18", "--data", "/nowhere", "--preset", "tiny"])
    assert bad.exit_code == 2 and "not a registered dataset" in bad.output
    assert runner.invoke(app, ["runs", "show", "999999"]).exit_code == 2
    assert runner.invoke(app, ["worker", "--queues", "tpu"]).exit_code == 2


def test_a_dataset_whose_files_link_outside_the_data_roots_is_refused(env: Backend, tmp_path: Path) -> None:
    """A symbolic link inside a registered folder must not let a user reach files outside the data roots."""
    import shutil

    from worker.runs import SubmitError, register_dataset

    folder = env.data.parent / f"linked-{env.name}"
    shutil.copytree(env.data, folder)
    try:
        secret = tmp_path / "secret.tfrecord"
        shutil.copy(folder / "frame" / "validate00.tfrecord", secret)
        (folder / "frame" / "validate00.tfrecord").unlink()
        (folder / "frame" / "validate00.tfrecord").symlink_to(secret)
        before = _count_runs()
        with pytest.raises(SubmitError, match=r"frame/validate00.tfrecord links outside the data roots"):
            register_dataset(folder)
        assert _count_runs() == before
    finally:
        shutil.rmtree(folder)


def test_runs_predict_asks_for_a_submission_by_its_name_and_still_takes_the_old_spelling(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.cli import app

    asked = []
    monkeypatch.setattr("worker.runs.predict", lambda run_id, split, **kw: asked.append(kw["submission"]) or 7)
    for args, notice in (([], False), (["--no-submission"], False), (["--no-csv"], True), (["--csv"], True)):
        result = CliRunner().invoke(app, ["runs", "predict", "3", *args])
        assert result.exit_code == 0 and result.stdout.strip() == "7", result.output
        assert ("--csv/--no-csv is now --submission/--no-submission" in result.stderr) is notice
    assert asked == [True, False, False, True]
