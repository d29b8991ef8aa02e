"""Runs through real worker processes, on the embedded default and on Redis + PostgreSQL: a run to
``succeeded`` with its scores and metric rows; cancel of a running run; ``kill -9`` of a worker in the middle
of a run and its resumption by a new worker; a burst on two workers beside a reader; an ensemble's DAG
spread over two workers."""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.worker.conftest import Backend, wait_for
from worker.local import LocalWorkers as Workers

pytestmark = pytest.mark.slow


def _status(run_id: int) -> str:
    from worker.runs import show

    return show(run_id)["status"]


def _finished(run_ids: list[int]) -> bool:
    return all(_status(r) in ("succeeded", "failed", "cancelled") for r in run_ids)


def test_a_run_goes_from_submit_to_succeeded_with_scores_and_metrics(env: Backend, workers: Workers) -> None:
    from worker.runs import predict, show, submit
    from y8m_models.options import RunOptions

    process = workers.start()
    sub = submit("1", env.data, RunOptions(max_steps=30, eval_every=10))
    run_id = sub.targets[1]
    wait_for(lambda: _finished([run_id]), 120, f"run {run_id}")
    info = show(run_id)
    assert info["status"] == "succeeded", info["error"]
    # the worker process took the message (a kill from here on is seen by the recovery loop), its child ran the run
    taken = [e["message"] for e in info["events"] if e["event"] == "taken"]
    assert taken and taken[0].endswith(f":{process.pid}") and not info["worker"].endswith(f":{process.pid}")
    assert info["step"] == info["steps"] == 30 and info["attempts"] == 1 and info["examples_per_second"] > 0
    assert 0 < info["scores"]["validate2"]["gap"] <= 1 and info["scores"]["validate1"]["step"] in (10, 20, 30)
    # loss, lr and examples/s every 10 steps; validate1 scores at 10, 20, 30; validate2 at the end
    assert info["metric_rows"] == 3 * 3 + 3 * 4 + 4
    kinds = {(a["kind"], a["split"]) for a in info["artifacts"]}
    assert {("checkpoint", ""), ("best", ""), ("predictions", "validate2"), ("metrics", "")} <= kinds
    assert (Path(info["dir"]) / "best.pt").exists()
    predicted = predict(run_id, "test")  # the predict task: the test split and a submission CSV
    wait_for(lambda: _finished([predicted]), 60, f"predict run {predicted}")
    assert show(predicted)["status"] == "succeeded", show(predicted)["error"]
    csv = (Path(show(predicted)["dir"]) / "submission.csv").read_text().splitlines()
    assert csv[0] == "VideoId,LabelConfidencePairs" and len(csv) > 1
    assert ("predictions", "test") in {(a["kind"], a["split"]) for a in show(run_id)["artifacts"]}


def test_a_run_reads_its_data_with_loader_workers_inside_a_worker(env: Backend, workers: Workers) -> None:
    """``--loader-workers 2``: the run's DataLoader starts two reader processes from the Celery child that trains it
    (a prefork child is daemonic, and Python refuses a daemonic process children unless told otherwise)."""
    from worker.runs import show, submit
    from y8m_models.options import RunOptions

    workers.start()
    run_id = submit("3", env.data, RunOptions(max_steps=6, eval_every=100, loader_workers=2)).targets[3]
    wait_for(lambda: _finished([run_id]), 120, f"run {run_id}")
    info = show(run_id)
    assert info["status"] == "succeeded", info["error"]
    assert info["options"]["loader_workers"] == 2 and info["step"] == 6


def test_a_failing_run_says_why_and_fails_the_runs_reading_it(env: Backend, workers: Workers) -> None:
    """#75 on a dataset whose frame-level train files are damaged after submission: the frame members fail
    with the reader's message (file, record, byte), #2 (video-level) succeeds, the stack fails naming its
    input."""
    from worker.runs import show, submit
    from y8m_models.options import RunOptions

    doomed = env.data.parent / f"doomed-{env.name}"
    shutil.copytree(env.data, doomed)
    sub = submit("75", doomed, RunOptions(max_steps=4))
    for damaged in (doomed / "frame").glob("train*.tfrecord"):  # every record's payload, through each file
        data = bytearray(damaged.read_bytes())
        for at in range(100, len(data), 5000):
            data[at:at + 16] = bytes(16)
        damaged.write_bytes(data)
    workers.start()
    wait_for(lambda: _finished(sub.created), 120, "the DAG")
    infos = [show(r) for r in sub.created]
    assert [i["status"] for i in infos] == ["succeeded", "failed", "failed", "failed", "failed"]
    frame = f"{doomed / 'frame'}/train"
    assert all(i["error"].startswith(frame) and "CRC mismatch" in i["error"] for i in infos[1:4])
    assert re.match(rf"input run ({'|'.join(map(str, sub.created[1:4]))}) failed: {frame}", infos[4]["error"])
    assert (Path(infos[1]["dir"]) / "error.log").read_text().startswith("Traceback")


def test_cancel_stops_a_running_run_at_its_next_step(env: Backend, workers: Workers) -> None:
    from worker.runs import cancel, show, submit
    from y8m_models.options import RunOptions

    workers.start()
    run_id = submit("1", env.data, RunOptions(epochs=10_000, eval_every=100_000)).targets[1]
    wait_for(lambda: show(run_id)["step"] > 20, 60, "the run to make progress")
    assert cancel(run_id) == {"cancelled": [], "stopping": [run_id]}
    wait_for(lambda: _status(run_id) == "cancelled", 30, "the run to stop")
    info = show(run_id)
    assert info["step"] < info["steps"] and info["finished_at"] is not None
    with pytest.raises(Exception, match="already cancelled"):
        cancel(run_id)


def test_a_killed_worker_s_run_resumes_from_its_checkpoint_on_a_new_worker(env: Backend, workers: Workers) -> None:
    """kill -9 of the worker (parent and child) at ~step 60 of 400 with a checkpoint every 20 steps: a new
    worker's start-up recovery pass sends the run again; it resumes from its last checkpoint and succeeds, with one
    metric row per (name, step) and nothing left running."""
    from db.engine import get_engine, reading
    from db.models import Metric, Run
    from worker.runs import show, submit
    from y8m_models.options import RunOptions

    first = workers.start()
    run_id = submit("1", env.data, RunOptions(epochs=1000, max_steps=400, eval_every=1000,
                                               checkpoint_every=20)).targets[1]
    wait_for(lambda: show(run_id)["step"] >= 60, 90, "the run to pass step 60")
    workers.kill(first)
    killed_at, step_at_kill = time.monotonic(), show(run_id)["step"]
    assert show(run_id)["status"] == "running"  # nobody has noticed yet
    workers.start()
    wait_for(lambda: show(run_id)["attempts"] == 2 and show(run_id)["step"] > 0, 60, "the run to resume")
    resumed_after = time.monotonic() - killed_at
    wait_for(lambda: _finished([run_id]), 180, f"run {run_id}")
    info = show(run_id)
    assert info["status"] == "succeeded", info["error"]
    assert info["step"] == 400 and info["attempts"] == 2
    happened = [(e["event"], e["message"]) for e in info["events"]]  # what the user sees
    assert [e for e, _ in happened] == ["created", "queued", "taken", "running", "interrupted", "taken", "running",
                                        "resumed", "succeeded"]
    assert "stopped at step" in happened[4][1] and "resume" in happened[4][1]
    resumed_from = int(happened[7][1].rsplit(" ", 1)[1])
    assert resumed_from >= 20 and resumed_from % 20 == 0  # from a checkpoint, not from the start
    with reading(get_engine()) as s:
        rows = s.execute(select(Metric.name, Metric.step, func.count()).where(Metric.run_id == run_id)
                         .group_by(Metric.name, Metric.step)).all()
        assert rows and all(count == 1 for _, _, count in rows)
        assert len([r for r in rows if r[0] == "loss"]) == 40  # steps 10..400
        assert s.scalar(select(func.count()).select_from(Run).where(Run.status == "running")) == 0
    print(f"\n[{env.name}] killed at step {step_at_kill}; training resumed {resumed_after:.1f} s after the kill, "
          f"from step {resumed_from}")


def test_a_burst_on_two_workers_beside_a_reader(env: Backend, workers: Workers) -> None:
    """Eight tiny runs on two workers, a reader polling the whole time: all succeed, two run at once, and
    nobody sees "database is locked" (on SQLite: WAL, busy timeout, BEGIN IMMEDIATE)."""
    from worker.runs import list_runs, show, submit
    from y8m_models.options import RunOptions

    workers.start()
    workers.start()
    ids = [submit("1", env.data, RunOptions(seed=seed, max_steps=40, eval_every=20)).targets[1]
           for seed in range(100, 108)]
    errors: list[Exception] = []
    reads = 0
    done = threading.Event()

    def reader() -> None:
        nonlocal reads
        while not done.is_set():
            try:
                list_runs()
                show(ids[0])
                reads += 1
            except Exception as exc:  # pragma: no cover - the assertion below reports it
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        wait_for(lambda: _finished(ids), 240, "the burst")
    finally:
        done.set()
        thread.join()
    infos = [show(r) for r in ids]
    assert [i["status"] for i in infos] == ["succeeded"] * 8, [i["error"] for i in infos]
    assert not errors and reads > 10
    spans = [(i["started_at"], i["finished_at"]) for i in infos]
    assert any(a[0] < b[1] and b[0] < a[1] for k, a in enumerate(spans) for b in spans[k + 1:]), "never two at once"


def test_an_ensemble_dag_spreads_over_two_workers_and_is_reused(env: Backend, workers: Workers) -> None:
    """#75 (a stack of #2, #10, #18, #25): the four members on two workers at once, the stack after the last
    member; submitting it again reuses all five runs."""
    from worker.runs import show, submit
    from y8m_models.options import RunOptions

    workers.start()
    workers.start()
    sub = submit("75", env.data, RunOptions(max_steps=4))
    assert len(sub.created) == 5 and not sub.reused
    stack = sub.targets[75]
    wait_for(lambda: _finished(sub.created), 240, "the DAG")
    infos = {r: show(r) for r in sub.created}
    assert all(i["status"] == "succeeded" for i in infos.values()), {r: i["error"] for r, i in infos.items()}
    members = [i for r, i in infos.items() if r != stack]
    assert infos[stack]["started_at"] >= max(m["finished_at"] for m in members)
    spans = [(m["started_at"], m["finished_at"]) for m in members]
    assert any(a[0] < b[1] and b[0] < a[1] for k, a in enumerate(spans) for b in spans[k + 1:])
    assert [link["role"] for link in infos[stack]["inputs"]] == ["member"] * 4
    assert 0 < infos[stack]["scores"]["validate2"]["gap"] <= 1
    again = submit("75", env.data, RunOptions(max_steps=4))
    assert again.targets == sub.targets and not again.created and sorted(again.reused) == sorted(sub.created)
