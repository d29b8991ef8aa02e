"""Reliability and throughput of the run store and workers (the Workers issue's figures).

* **Burst**: N tiny training runs (#1, ``--steps`` steps, one seed each) submitted at once, drained by one
  worker and then by two (fresh ``$Y8M_HOME`` each): submitted, succeeded, wall time, runs per minute, the
  most running at once, and any "database is locked" in the worker logs.
* **Kill**: ``--kills`` times, a run of 400 steps with a checkpoint every 20 is killed with its worker
  (``kill -9`` of the process group) past step 60; a new worker starts. Measured from the kill: until the
  recovery loop marks the run ``interrupted``, until training runs again (the first heartbeat of attempt 2), and
  until it succeeds; the steps lost (where it was at the last heartbeat vs. the checkpoint it resumed from).

Embedded default (SQLite + ``filesystem://``) unless ``--services`` (then ``Y8M_BENCH_DATABASE_URL`` or
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres`` for a fresh database, and ``Y8M_BENCH_REDIS_URL``
or ``redis://127.0.0.1:6379/14``). Writes ``bench/results/workers-<backend>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from worker.local import wait_until

RESULTS = Path(__file__).resolve().parent / "results"


def _environment(home: Path, data_root: Path, services: bool) -> tuple[dict[str, str], callable]:
    env = {"Y8M_HOME": str(home), "Y8M_DATA_ROOTS": str(data_root), "Y8M_HEARTBEAT_SECONDS": "0.5",
           "Y8M_STALE_SECONDS": "20", "Y8M_CACHE_DIR": str(home / "cache")}
    if not services:
        return {**env, "Y8M_DATABASE_URL": f"sqlite:///{home / 'y8m.db'}", "Y8M_BROKER_URL": "filesystem://"}, None
    import redis

    from db.engine import scratch_database

    admin_url = os.environ.get("Y8M_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("Y8M_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    redis.Redis.from_url(redis_url).flushdb()
    url, drop = scratch_database(admin_url, "y8m_bench")
    return {**env, "Y8M_DATABASE_URL": url, "Y8M_BROKER_URL": redis_url}, drop


def _use(env: dict[str, str]) -> None:
    os.environ.update(env)




def _most_at_once(spans: list[tuple[str, str]]) -> int:
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, delta in edges:
        now += delta
        most = max(most, now)
    return most


def burst(data: Path, work: Path, n_workers: int, runs: int, steps: int, services: bool) -> dict:
    from worker.local import LocalWorkers
    from worker.runs import list_runs, show, submit
    from y8m_models.options import RunOptions

    env, drop = _environment(work / f"burst-{n_workers}", data.parent, services)
    _use(env)
    pool = LocalWorkers(env, work / f"burst-{n_workers}-logs")
    try:
        for _ in range(n_workers):
            pool.start()
        start = time.perf_counter()
        ids = [submit("1", data, RunOptions(seed=1000 + k, max_steps=steps, eval_every=steps)).targets[1]
               for k in range(runs)]
        # one light query a second: a busy poller would take CPU from the two workers on two cores
        wait_until(lambda: not list_runs(status=("waiting", "queued", "running", "interrupted")), 1800, "the burst",
              interval=1.0)
        wall = time.perf_counter() - start
        infos = [show(r) for r in ids]
    finally:
        pool.stop()
        if drop:
            drop()
    succeeded = sum(i["status"] == "succeeded" for i in infos)
    result = {"workers": n_workers, "submitted": runs, "succeeded": succeeded, "steps_per_run": steps,
              "wall_s": round(wall, 1), "runs_per_minute": round(60 * succeeded / wall, 1),
              "most_running_at_once": _most_at_once([(i["started_at"], i["finished_at"]) for i in infos]),
              "database_locked_in_logs": pool.logs().count("database is locked")}
    print(f"burst, {n_workers} worker(s): {succeeded}/{runs} succeeded in {wall:.1f} s "
          f"({result['runs_per_minute']} runs/min, at most {result['most_running_at_once']} at once, "
          f"'database is locked' {result['database_locked_in_logs']} times)")
    return result


def kill(data: Path, work: Path, trial: int, services: bool) -> dict:
    from worker.local import LocalWorkers
    from worker.runs import show, submit
    from y8m_models.options import RunOptions

    env, drop = _environment(work / f"kill-{trial}", data.parent, services)
    _use(env)
    pool = LocalWorkers(env, work / f"kill-{trial}-logs")
    try:
        first = pool.start()
        options = RunOptions(seed=2000 + trial, epochs=1000, max_steps=400, eval_every=1000, checkpoint_every=20)
        run = submit("1", data, options).targets[1]
        wait_until(lambda: show(run)["step"] >= 60, 120, "step 60")
        pool.kill(first)
        killed = datetime.now(UTC)
        step_at_kill = show(run)["step"]
        pool.start(wait=None)
        wait_until(lambda: show(run)["status"] in ("succeeded", "failed"), 300, "the end")
        info = show(run)
    finally:
        pool.stop()
        if drop:
            drop()

    def after(event: str) -> float:  # seconds from the kill to the event's row (written at most a beat late)
        at = next(e["at"] for e in info["events"] if e["event"] == event)
        return (datetime.fromisoformat(at) - killed).total_seconds()

    interrupted, resumed, done = after("interrupted"), after("resumed"), after(info["status"])
    resumed_from = int(next(e for e in info["events"] if e["event"] == "resumed")["message"].rsplit(" ", 1)[1])
    result = {"status": info["status"], "attempts": info["attempts"], "step_at_last_heartbeat": step_at_kill,
              "resumed_from_step": resumed_from, "kill_to_interrupted_s": round(interrupted, 1),
              "kill_to_training_again_s": round(resumed, 1), "kill_to_succeeded_s": round(done, 1),
              "events": [f"{e['event']}: {e['message']}" for e in info["events"]]}
    print(f"kill {trial}: {info['status']} after {info['attempts']} attempts; killed near step {step_at_kill}, "
          f"resumed from step {resumed_from}; interrupted after {interrupted:.1f} s, training again after "
          f"{resumed:.1f} s, succeeded after {done:.1f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=16, help="runs in the burst")
    parser.add_argument("--steps", type=int, default=40, help="training steps per burst run")
    parser.add_argument("--kills", type=int, default=3, help="kill -9 trials")
    parser.add_argument("--services", action="store_true", help="Redis + PostgreSQL instead of the embedded default")
    args = parser.parse_args()
    from y8m_models.data.synthetic import generate

    backend = "services" if args.services else "embedded"
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        work = Path(tmp)
        data = work / "data" / "tiny"
        generate(data, preset="micro", seed=5)
        results = {"backend": backend, "burst": [burst(data, work, n, args.runs, args.steps, args.services)
                                                 for n in (1, 2)]}
        b1, b2 = results["burst"]
        results["two_over_one_workers"] = round(b1["wall_s"] / b2["wall_s"], 2)
        print(f"two workers drain the burst {results['two_over_one_workers']}x as fast as one (2 cores)")
        results["kill"] = [kill(data, work, k, args.services) for k in range(args.kills)]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"workers-{backend}.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
