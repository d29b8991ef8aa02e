"""The multi-machine rehearsal (the Scaling-out issue's figures): a reproduce DAG on one "machine" (one worker
on queues gpu,cpu) and on two (workers with their own ``$Y8M_HOME`` and their own mount of the shared artifacts,
queues gpu and gpu,cpu), each time with a fresh PostgreSQL database and an emptied Redis; both on this machine.

Per setting: runs submitted and succeeded, attempts, wall time from submission to the last run's end, runs
per minute, the most running at once, and the runs each machine did. Needs PostgreSQL and Redis:
``Y8M_BENCH_DATABASE_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``, beside which a
scratch database is made) and ``Y8M_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/14``).
Writes ``bench/results/scaleout.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench_workers import _most_at_once, _wait  # noqa: E402  (this folder, the script's sys.path[0])

from tests.worker.test_scaleout import hosts  # noqa: E402  (the test's machines, not a copy of them)

QUEUES = {"host-a": "gpu", "host-b": "gpu,cpu"}


def rehearse(data_root: Path, work: Path, machines: int, configs: str, steps: int) -> dict:
    from sqlalchemy import select

    from db.engine import get_engine, reading
    from db.models import Run
    from worker.local import LocalWorkers
    from worker.runs import submit
    from y8m_models.options import RunOptions

    names = tuple(QUEUES)[:machines]
    queues = {name: QUEUES[name] if machines > 1 else "gpu,cpu" for name in names}
    envs, _, drop = hosts(work / f"{machines}-machines", data_root, names,
                          os.environ.get("Y8M_BENCH_DATABASE_URL",
                                         "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                          os.environ.get("Y8M_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    pools = {name: LocalWorkers(envs[name], work / f"{machines}-machines" / name / "logs") for name in names}
    try:
        for name in names:
            pools[name].start(queues=queues[name])
        os.environ.update(envs[names[0]])
        start = time.time()
        sub = submit(configs, data_root / "tiny", RunOptions(max_steps=steps))
        engine = get_engine(envs[names[0]]["Y8M_DATABASE_URL"])

        def finished() -> list[Run] | None:
            with reading(engine) as s:
                runs = s.scalars(select(Run)).all()
            return runs if all(r.status in ("succeeded", "failed", "cancelled") for r in runs) else None

        runs = _wait(finished, 1800, "the DAG", interval=0.5)
        end = max(r.finished_at.timestamp() for r in runs)
    finally:
        for pool in pools.values():
            pool.stop()
        drop()
    ran = {name: len(set(re.findall(r"run (\d+) \(\w+\): attempt", pools[name].logs()))) for name in names}
    most = _most_at_once([(r.started_at.timestamp(), r.finished_at.timestamp()) for r in runs])
    wall = end - start
    result = {"machines": machines, "queues": queues,
              "configs": configs, "steps": steps, "runs": len(runs), "created": len(sub.created),
              "succeeded": sum(r.status == "succeeded" for r in runs), "attempts": sorted({r.attempts for r in runs}),
              "wall_s": round(wall, 1), "runs_per_min": round(60 * len(runs) / wall, 1), "most_at_once": most,
              "runs_by_machine": ran}
    print(json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="28,47", help="the DAG: configurations to submit")
    parser.add_argument("--steps", type=int, default=60, help="training steps per run (--max-steps)")
    args = parser.parse_args()
    from y8m_models.data.synthetic import generate

    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        work = Path(tmp)
        generate(work / "data" / "tiny", preset="micro", seed=5)
        results = {"rehearsal": [rehearse(work / "data", work, m, args.configs, args.steps) for m in (1, 2)]}
    one, two = results["rehearsal"]
    results["two_over_one_machines"] = round(one["wall_s"] / two["wall_s"], 2)
    print(f"{two['runs']} runs: one machine {one['wall_s']} s, two {two['wall_s']} s "
          f"({results['two_over_one_machines']}x; both on this machine's 2 cores)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "scaleout.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
