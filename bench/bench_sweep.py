"""What a sweep costs beyond its runs (issue 22: "the measured overhead of a trial over a plain run").

* **Trials vs. plain runs**: one worker; a sweep of N trials of #1 (tiny, a learning rate drawn per trial, one at a
  time: ``--parallel 1``, no pruning), then the same N learning rates as N plain runs submitted at once (another
  seed, so nothing is reused). Each run's training time is the same work either way; the sweep adds what happens
  between its trials: the ended run's outcome, the sweep's advance (its Optuna study rebuilt, the next values
  drawn, the trial written, its run planned, counted and sent) and the worker taking the new message. Reported:
  wall time of both, the overhead per trial ((sweep - plain) / N) and as a share of a plain run's wall time.
* **One decision**: what ``advance`` computes from the records, by trials recorded (10, 100, 400): the next trial's
  values (the Optuna study rebuilt, TPE) and a running trial's pruning (the median rule), median of 5.

Embedded default (SQLite + ``filesystem://``) in a fresh ``$Y8M_HOME``. Writes ``bench/results/sweep.json``.
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
LR = "model.training.learning_rate"




def trials_vs_runs(data: Path, work: Path, n: int, steps: int) -> dict:
    from worker.local import LocalWorkers
    from worker.runs import list_runs, submit
    from worker.sweeps import SweepRequest, create_sweep, show_sweep
    from y8m_models.configs.space import SearchSpace
    from y8m_models.options import RunOptions

    pool = LocalWorkers({k: os.environ[k] for k in ("Y8M_HOME", "Y8M_DATA_ROOTS", "Y8M_DATABASE_URL",
                                                    "Y8M_BROKER_URL", "Y8M_HEARTBEAT_SECONDS")}, work / "logs")
    try:
        pool.start()
        options = RunOptions(seed=1, max_steps=steps, eval_every=steps)
        start = time.perf_counter()
        sweep_id = create_sweep(SweepRequest("1", str(data), SearchSpace.from_ranges([f"{LR}=0.001:0.1:log"]),
                                             options, n_trials=n, parallel=1, sampler="random"))
        wait_until(lambda: show_sweep(sweep_id)["status"] == "finished", 60 * n, "the sweep")
        swept = time.perf_counter() - start
        trials = show_sweep(sweep_id)["trials"]
        assert all(t["state"] == "complete" for t in trials), trials
        start = time.perf_counter()
        ids = [submit("1", data, options.model_copy(update={"seed": 2, "overrides": t["params"]})).targets[1]
               for t in trials]
        wait_until(lambda: all(r["status"] == "succeeded" for r in list_runs(limit=1000) if r["id"] in ids), 60 * n,
              "the plain runs")
        plain = time.perf_counter() - start
    finally:
        pool.stop()
    per_run = plain / n
    return {"trials": n, "steps": steps, "sweep_s": round(swept, 2), "plain_runs_s": round(plain, 2),
            "plain_run_s": round(per_run, 2), "overhead_per_trial_s": round((swept - plain) / n, 3),
            "overhead_share_of_a_run": round((swept - plain) / n / per_run, 3)}


def one_decision(sizes: list[int]) -> list[dict]:
    """The two decisions ``advance`` makes from records, by trials recorded: the next trial's values (TPE, the
    study rebuilt) and whether a running trial is pruned (the median rule; every trial with 10 evaluations)."""
    import random

    from y8m_models.configs.space import SearchSpace
    from y8m_models.study import Pruning, TrialRecord, next_values, should_prune

    space = SearchSpace.from_ranges([f"{LR}=0.0001:0.1:log", "model.params.mixtures=[1,2,4]"])
    rng = random.Random(0)
    out = []
    for size in sizes:
        trials = [TrialRecord(k, {LR: 10 ** rng.uniform(-4, -1), "model.params.mixtures": rng.choice([1, 2, 4])},
                              "complete", rng.random(), {s: rng.random() for s in range(10, 110, 10)})
                  for k in range(size)]
        running = [*trials, TrialRecord(size, trials[0].params, "running", None, {10: 0.1, 20: 0.1})]
        asking, pruning = [], []
        for _ in range(5):
            start = time.perf_counter()
            next_values("s", space, trials, sampler="tpe", seed=0)
            asking.append(time.perf_counter() - start)
            start = time.perf_counter()
            should_prune("s", space, running, size, Pruning("median"))
            pruning.append(time.perf_counter() - start)
        out.append({"trials": size, "next_values_ms": round(1000 * sorted(asking)[2], 1),
                    "should_prune_ms": round(1000 * sorted(pruning)[2], 1)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    from y8m_models.data.synthetic import generate

    work = Path(tempfile.mkdtemp(prefix="y8m-bench-sweep-"))
    data = work / "data" / "micro"
    generate(data, preset="micro", seed=3)
    os.environ.update({"Y8M_HOME": str(work / "home"), "Y8M_DATA_ROOTS": str(data.parent),
                       "Y8M_DATABASE_URL": f"sqlite:///{work / 'home' / 'y8m.db'}", "Y8M_BROKER_URL": "filesystem://",
                       "Y8M_HEARTBEAT_SECONDS": "0.5"})
    results = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
               "trials_vs_runs": trials_vs_runs(data, work, args.trials, args.steps),
               "one_decision": one_decision([10, 100, 400])}
    print(json.dumps(results, indent=1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sweep.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
