"""Dashboard render time with a big run store (the Dashboard issue: "page render time with 10k runs and 1M
metric rows in the database, each page < 1 s").

A fresh ``$Y8M_HOME`` (SQLite, the embedded default) gets the schema and the 80 configurations
(``worker.runs.prepare``), one synthetic dataset with YouTube-8M 2018's 3,862 classes (the tiny preset's
400 videos; registered as a row, its vocabulary, ground truth and thumbnails are real), then ``--runs`` runs
spread over the 80 configurations (train for single models, stack for ensembles, merge for #80; ~90%
succeeded with validate1/validate2 scores, the rest failed, cancelled or still active; four events and the
usual artifacts each) and ``--metric-runs`` x ``--points`` x 10 metric rows (loss, lr, examples/s and the
validate1/validate2 scores at each step). Succeeded runs of #23-#27 hold an attention artifact and succeeded
class-wise stacks a stacking_weights artifact; the newest ``--files`` of each point to real files: an
attention dump of the 20 validate2 videos (weights [T, 8] float32, sketch [T, 32] float16, labels, as the
worker writes them) plus a dense validate2 prediction store, and stacking weights [4, 3862].

Each page is rendered with ``streamlit.testing.v1.AppTest``: cold = the first render after the Streamlit
caches are cleared (the app's modules already imported, as in a server that has served another page), warm =
the median of ``--repeats`` reruns of the same session (what a user's next interaction costs). The Runs page
is timed twice: the table alone, and with a selected run (``?run=ID``) that has 1,000 metric points.
Prints a table, writes ``bench/results/app.json``, exits 1 when a warm render takes 1 s or more.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
MAIN = ROOT / "app" / "main.py"
METRICS = ("loss", "lr", "examples_per_second", "validate1/gap", "validate1/hit_at_1", "validate1/perr",
           "validate1/map", "validate2/gap", "validate2/hit_at_1", "validate2/perr")
CLASSES = 3862
LIMIT_S = 1.0


def _environment(home: Path) -> None:
    os.environ.update({"Y8M_HOME": str(home), "Y8M_DATA_ROOTS": str(home / "datasets"),
                       "Y8M_DATABASE_URL": f"sqlite:///{home / 'y8m.db'}", "Y8M_BROKER_URL": "filesystem://",
                       "Y8M_ARTIFACTS": str(home), "Y8M_CACHE_DIR": str(home / "cache")})
    for key in ("Y8M_APP_PASSWORD", "Y8M_FRAMES_DIR"):
        os.environ.pop(key, None)


def _kind(config) -> str:  # noqa: ANN001 - a y8m_models Configuration
    if config.model is not None:
        return "train"
    return "merge" if config.ensemble.method == "merge" else "stack"


def _classwise(config) -> bool:  # noqa: ANN001
    combiner = getattr(config.ensemble, "combiner", None) if config.ensemble else None
    return combiner is not None and combiner.kind == "classwise"


def _write_attention(folder: Path, dataset: Path, rng: np.random.Generator) -> None:
    """An attention dump as the worker writes it, for the dataset's first 20 validate2 videos, and a dense
    validate2 prediction store (the page's top predictions)."""
    from y8m_models.store import PredictionWriter

    with np.load(dataset / "ground_truth.npz") as truth:
        rows = np.flatnonzero(truth["splits"][truth["file_index"]] == "validate2")  # splits: per file
        ids, frames = truth["ids"][rows].tolist(), truth["num_frames"][rows]
    arrays = {}
    for vid, T in zip(ids[:20], frames[:20], strict=True):
        T = int(min(T, 300))
        logits_TK = rng.normal(size=(T, 8))
        arrays[f"weights/{vid}"] = (np.exp(logits_TK) / np.exp(logits_TK).sum(axis=0)).astype(np.float32)
        arrays[f"sketch/{vid}"] = rng.normal(size=(T, 32)).astype(np.float16)
        arrays[f"labels/{vid}"] = rng.choice(CLASSES, size=3, replace=False).astype(np.int32)
    (folder / "attention").mkdir(parents=True, exist_ok=True)
    np.savez(folder / "attention" / "validate2.npz", **arrays)
    with PredictionWriter(folder / "predictions" / "validate2", CLASSES) as writer:
        writer.add(ids, rng.random((len(ids), CLASSES), dtype=np.float32))


def _write_stacking(folder: Path, members: list[str], rng: np.random.Generator) -> None:
    weights_MC = rng.dirichlet(np.ones(len(members)), size=CLASSES).T.astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "stacking_weights.npz", members=np.array(members), class_weights=weights_MC,
             videos=np.array([], dtype="<U1"))


def build(home: Path, runs: int, metric_runs: int, points: int, files: int, seed: int) -> dict:
    """The run store described in the module docstring; returns what the timing needs and the build figures."""
    from sqlalchemy import func, insert, select

    from db.engine import writing
    from db.models import Artifact, Dataset, Metric, Run, RunEvent, Score
    from worker.store import prepare
    from y8m_models.configs import all_configurations
    from y8m_models.data.synthetic import generate

    start = time.perf_counter()
    _environment(home)
    dataset = home / "datasets" / "bench"
    generate(dataset, preset="micro", classes=CLASSES, seed=seed)
    engine = prepare()
    rng = np.random.default_rng(seed)
    configs = all_configurations()
    spec = {c.number: c.model_dump(mode="json") for c in configs}
    by_number = {c.number: c for c in configs}
    now = datetime.now(UTC)
    with writing(engine) as s:
        s.add(Dataset(id=1, name="bench", path=str(dataset), num_classes=CLASSES, synthetic=True,
                      splits={level: {p: {"files": 1, "records": n} for p, n in
                                      {"train1": 240, "validate1": 24, "train2": 64, "validate2": 40,
                                       "test": 32}.items()} for level in ("frame", "video")}))

    numbers = rng.integers(1, 81, size=runs)
    statuses = rng.choice(["succeeded", "failed", "cancelled"], p=[0.93, 0.04, 0.03], size=runs).astype(object)
    statuses[-60:] = rng.choice(["waiting", "queued", "running", "interrupted"], size=60)  # the newest
    run_rows, score_rows, event_rows, artifact_rows = [], [], [], []
    attention_runs, stack_runs = [], []
    for i in range(runs):
        run_id, number, status = i + 1, int(numbers[i]), str(statuses[i])
        config = by_number[number]
        kind = _kind(config)
        created = now - timedelta(minutes=10 * (runs - i))
        steps = 2000 if kind == "train" else 300
        step = steps if status == "succeeded" else int(rng.integers(0, steps))
        job = {"key": f"{run_id:012x}", "kind": kind, "config": spec[number], "seed": 0, "number": number,
               "epochs": None, "splits": ["test", "validate2"], "weights": None,
               "inputs": {"init": None, "teacher": None, "streams": [], "members": []}}
        run_rows.append({
            "id": run_id, "kind": kind, "key": job["key"], "number": number, "slug": config.slug,
            "config": spec[number], "job": job,
            "options": {"preset": "small", "max_steps": None, "overrides": {}, "eval_every": 1000},
            "dataset_id": 1, "preset": "small", "seed": 0, "status": status, "attempts": 1,
            "created_at": created, "started_at": None if status in ("waiting", "queued") else created,
            "finished_at": created + timedelta(minutes=9) if status in ("succeeded", "failed", "cancelled") else None,
            "heartbeat_at": created + timedelta(minutes=9), "step": step, "steps": steps,
            "loss": float(rng.uniform(2, 6)), "examples_per_second": float(rng.uniform(500, 2000)),
            "error": "RuntimeError: CUDA out of memory" if status == "failed" else None,
            "artifact_dir": f"runs/{run_id}"})
        event_rows += [{"run_id": run_id, "event": e, "message": m, "at": created}
                       for e, m in (("created", f"{kind} {config.slug}"), ("queued", ""),
                                    ("started", "host:1 attempt 1"), (status, ""))]
        if status != "succeeded":
            continue
        gap = (config.paper_gap or 0.8) - float(rng.uniform(0.0, 0.05))
        splits = ("validate1", "validate2") if kind == "train" else ("validate2",)
        score_rows += [{"run_id": run_id, "split": split, "gap": gap - 0.01 * (split == "validate1"),
                        "hit_at_1": gap + 0.05, "perr": gap - 0.05, "map": gap - 0.35, "n_videos": 40, "step": step}
                       for split in splits]
        kinds = [("metrics", ""), ("predictions", "validate2"), ("predictions", "test")]
        if kind == "train":
            kinds += [("checkpoint", ""), ("best", ""), ("predictions", "validate1")]
            if 23 <= number <= 27:
                kinds.append(("attention", "validate2"))
                attention_runs.append(run_id)
        if kind == "stack" and _classwise(config):
            kinds += [("stack", ""), ("stacking_weights", "")]
            stack_runs.append(run_id)
        for k, split in kinds:
            name = {"attention": f"attention/{split}.npz", "stacking_weights": "stacking_weights.npz",
                    "predictions": f"predictions/{split}"}.get(k, f"{k}.pt")
            artifact_rows.append({"run_id": run_id, "kind": k, "split": split, "path": f"runs/{run_id}/{name}",
                                  "bytes": 1 << 20, "created_at": created})
    succeeded_train = [r["id"] for r in run_rows if r["status"] == "succeeded" and r["kind"] == "train"]
    with_metrics = sorted(rng.choice(succeeded_train, size=min(metric_runs, len(succeeded_train)), replace=False))
    with writing(engine) as s:
        for table, rows in ((Run, run_rows), (Score, score_rows), (RunEvent, event_rows), (Artifact, artifact_rows)):
            for first in range(0, len(rows), 5000):
                s.execute(insert(table), rows[first:first + 5000])
    steps_P = np.arange(1, points + 1) * 20
    for chunk in range(0, len(with_metrics), 50):
        rows = [{"run_id": int(run_id), "name": name, "step": int(step), "value": float(value)}
                for run_id in with_metrics[chunk:chunk + 50] for name in METRICS
                for step, value in zip(steps_P, rng.random(points), strict=True)]
        with writing(engine) as s:
            s.execute(insert(Metric), rows)
    for run_id in attention_runs[-files:]:
        _write_attention(home / "runs" / str(run_id), dataset, rng)
    for run_id in stack_runs[-files:]:
        _write_stacking(home / "runs" / str(run_id), [f"member_{k}" for k in range(4)], rng)
    with writing(engine) as s:
        counted = {t.__tablename__: s.scalar(select(func.count()).select_from(t))
                   for t in (Run, Metric, Score, RunEvent, Artifact)}
    return {"seconds": time.perf_counter() - start, "rows": counted, "selected": int(with_metrics[-1]),
            "attention_runs": len(attention_runs), "stacking_runs": len(stack_runs),
            "database_bytes": (home / "y8m.db").stat().st_size}


def _clear_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def first_render(page: str, query: dict[str, str] | None = None) -> float:
    """The page's first render in this process (its modules imported, caches empty), discarded from cold."""
    from streamlit.testing.v1 import AppTest

    _clear_caches()
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    if page == "launch":
        return _timed(at)
    at.run()
    at.query_params.update(query or {})
    at.switch_page(f"pages/{page}.py")
    return _timed(at)


def time_page(page: str, repeats: int, idle: float, query: dict[str, str] | None = None) -> dict:
    """Cold, warm and after-idle render times of ``pages/<page>.py`` (see the module docstring)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(MAIN), default_timeout=120)
    if page != "launch":
        at.run()  # registers st.navigation's pages
        at.query_params.update(query or {})
        at.switch_page(f"pages/{page}.py")
    _clear_caches()
    cold = _timed(at)
    if at.exception:
        raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
    warm = [_timed(at) for _ in range(repeats)]
    out = {"cold_s": cold, "warm_s": statistics.median(warm), "warm_all_s": warm,
           "charts": len(at.get("plotly_chart")), "images": len(at.image)}
    if idle:
        time.sleep(idle)
        out["idle_s"] = _timed(at)
    if page == "attention":  # another video of the same run: its thumbnails and top predictions are new
        box = at.selectbox(key="attention_video")
        out["next_video_s"] = statistics.median(
            _timed(box.select_index(i)) for i in range(1, min(len(box.options), repeats + 1)))
    return out


def _timed(at) -> float:  # noqa: ANN001 - an AppTest or one of its widgets (run() reruns the script)
    start = time.perf_counter()
    at.run()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metric-runs", type=int, default=1_000, help="runs with metric rows")
    parser.add_argument("--points", type=int, default=100, help="steps per metric series (10 series a run)")
    parser.add_argument("--files", type=int, default=3, help="attention / stacking runs with real files")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--idle", type=float, default=6.0,
                        help="seconds before one more render (past the loaders' 1-5 s ttl); 0: skip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary $Y8M_HOME and print it")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="y8m-bench-app-"))
    built = build(home, args.runs, args.metric_runs, args.points, args.files, args.seed)
    print(f"built in {built['seconds']:.1f} s: {built['rows']}, {built['database_bytes'] / 1e6:.0f} MB, "
          f"{built['attention_runs']} attention runs, {built['stacking_runs']} class-wise stacks")

    cases = [("launch", "launch", None), ("runs", "runs", None),
             ("runs + selected run", "runs", {"run": str(built["selected"])}),
             ("leaderboard", "leaderboard", None), ("attention", "attention", None),
             ("stacking", "stacking", None), ("datasets", "datasets", None)]
    first = {label: first_render(page, query) for label, page, query in cases}  # imports: a server's first views
    results = {label: {"first_s": first[label], **time_page(page, args.repeats, args.idle, query)}
               for label, page, query in cases}
    slow = [label for label, r in results.items() if r["warm_s"] >= LIMIT_S]
    late = [label for label, r in results.items() if r.get("idle_s", 0) >= LIMIT_S]

    idle = f" | after {args.idle:g} s idle (s)" if args.idle else ""
    print(f"\n| page | first in the process (s) | cold (s) | warm, median of {args.repeats} (s){idle} |")
    print("|---" * (5 if idle else 4) + "|")
    for label, r in results.items():
        print(f"| {label} | {r['first_s']:.3f} | {r['cold_s']:.3f} | {r['warm_s']:.3f}"
              + (f" | {r['idle_s']:.3f}" if idle else "") + " |")
        if "next_video_s" in r:
            print(f"| {label}: another video | | | {r['next_video_s']:.3f}" + (" | " if idle else "") + " |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "app.json").write_text(json.dumps({
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "args": vars(args), "build": built,
        "limit_s": LIMIT_S, "pages": results, "slow": slow, "slow_after_idle": late}, indent=1))
    if args.keep:
        print(f"kept {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    if late:
        print(f"after {args.idle:g} s idle >= {LIMIT_S} s (not in the exit status): {', '.join(late)}")
    if slow:
        print(f"warm render >= {LIMIT_S} s: {', '.join(slow)}")
    return 1 if slow else 0

if __name__ == "__main__":
    sys.exit(main())
