"""Runs exported to the experiment trackers people keep their history in: MLflow (any tracking URI its client
takes: a folder here gets ``FOLDER/mlflow.db``, SQLite, as MLflow's file store is closed to new writes) and
TensorBoard (event files, one folder per run).

What goes: the run's identity (id, configuration, variant, dataset, kind, status, start and end), its frozen
configuration flattened to dotted keys with the run options as parameters (TensorBoard: hyper-parameters), every
metric row (loss, lr, examples/s, ``<split>/gap`` and the other scores by step), its final scores, its tags and
note, and its small files (``run.json``, ``metrics.jsonl``, a submission CSV) as MLflow artifacts. Checkpoints and
predictions stay (they can be gigabytes): the exported run names its folder. y8m records steps, not the time of each
point, so every point carries the run's start as its time. Exporting again skips runs already there (MLflow: a run
of the experiment with the ``y8m.run_id`` tag and the completion tag; TensorBoard: the run's folder, written as
``.partial`` and renamed when complete); a part-way export is made again. Only finished runs are exported.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from db.engine import reading
from db.models import Metric, Run
from db.settings import Settings
from worker.store import prepare

MLFLOW_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}
DONE_TAG = "y8m.exported"  # written last: an MLflow run without it is an export that stopped part-way
SMALL_FILES = ("run.json", "metrics.jsonl", "submission.csv")


class ExportError(ValueError):
    """An export that cannot be made; the message names the run, folder or package."""


@dataclass
class RunRecord:
    """One run as the trackers get it."""

    id: int
    name: str
    status: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: list[tuple[str, int, float]]  # (name, step, value)
    scores: dict[str, float]  # "<split>/<score>" -> value
    start_ms: int
    end_ms: int | None
    folder: Path
    note: str


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """A configuration as dotted keys -> text (lists of numbers as JSON: ``model.params.cells`` = ``[1024, 512]``)."""
    if isinstance(data, dict):
        out: dict[str, str] = {}
        for key, value in data.items():
            out |= flatten(value, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): data if isinstance(data, str) else json.dumps(data)}


def records(run_ids: Sequence[int], settings: Settings | None = None) -> list[RunRecord]:
    """The runs to export, read once."""
    settings = settings or Settings.from_env()
    with reading(prepare(settings)) as s:
        runs = {r.id: r for r in s.scalars(select(Run).where(Run.id.in_(list(run_ids)))
                                           .options(selectinload(Run.scores)))}
        missing = sorted(set(run_ids) - set(runs))
        if missing:
            raise ExportError(f"no run {', '.join(map(str, missing))}")
        active = sorted(i for i, r in runs.items() if r.status not in MLFLOW_STATUS)
        if active:
            raise ExportError(f"run {', '.join(map(str, active))} has not finished: export it once it has")
        points: dict[int, list[tuple[str, int, float]]] = {}
        for run_id, name, step, value in s.execute(select(Metric.run_id, Metric.name, Metric.step, Metric.value)
                                                   .where(Metric.run_id.in_(list(run_ids)))
                                                   .order_by(Metric.run_id, Metric.name, Metric.step)):
            points.setdefault(run_id, []).append((name, step, value))
        out = []
        for run_id in run_ids:
            run = runs[run_id]
            options = {f"options.{k}": v for k, v in flatten(run.options).items()}
            label = f"{run.slug} · {run.variant.name}" if run.variant else run.slug
            tags = {"y8m.run_id": str(run.id), "y8m.configuration": label, "y8m.number": str(run.number or ""),
                    "y8m.dataset": run.dataset.name, "y8m.kind": run.kind, "y8m.status": run.status,
                    "y8m.preset": run.preset, "y8m.seed": str(run.seed), "y8m.folder": str(settings.artifacts /
                                                                                             run.artifact_dir),
                    **({"y8m.tags": ",".join(run.tags)} if run.tags else {}),
                    **({"y8m.error": run.error[:5000]} if run.error else {})}
            scores = {f"{sc.split}/{k}": getattr(sc, k) for sc in run.scores for k in ("gap", "hit_at_1", "perr", "map")
                      if getattr(sc, k) is not None}
            start = run.started_at or run.created_at
            out.append(RunRecord(run.id, f"{run.id} {label}", run.status, tags,
                                 {**flatten(run.config), **options, "dataset": run.dataset.name},
                                 points.get(run_id, []), scores, int(start.timestamp() * 1000),
                                 int(run.finished_at.timestamp() * 1000) if run.finished_at else None,
                                 settings.artifacts / run.artifact_dir, run.note))
        return out


# ------------------------------------------------------------------------------------------------- MLflow

def tracking_uri(target: str) -> tuple[str, str | None]:
    """``--mlflow``: a tracking URI as given (``sqlite:///...``, ``http://...``; artifacts where its server keeps
    them), or a folder, which gets a SQLite store ``FOLDER/mlflow.db`` (MLflow's file store takes no new writes) and
    its artifacts beside it; returns (URI, artifact location or None)."""
    if "://" in target:
        return target, None
    folder = Path(target).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


def to_mlflow(runs: Sequence[RunRecord], target: str, experiment: str = "y8m",
              log: Callable[[str], None] = print) -> list[int]:
    """Each run as an MLflow run of ``experiment`` (made if missing); returns the runs written."""
    try:
        from mlflow.entities import Metric as MlflowMetric
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ExportError("--mlflow needs MLflow's client: pip install mlflow-skinny") from None
    uri, artifacts = tracking_uri(target)
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment,
                                                                               artifact_location=artifacts)
    written = []
    for run in runs:
        there = client.search_runs([experiment_id], filter_string=f"tags.`y8m.run_id` = '{run.id}'")
        if any(r.data.tags.get(DONE_TAG) == "1" for r in there):
            log(f"run {run.id}: already in {uri} (MLflow run {there[0].info.run_id}), skipped")
            continue
        for half in there:  # an export that stopped part-way: made again
            client.delete_run(half.info.run_id)
        tags = {**run.tags, **({"mlflow.note.content": run.note} if run.note else {})}
        mlflow_id = client.create_run(experiment_id, start_time=run.start_ms, run_name=run.name, tags=tags).info.run_id
        params = [Param(k, v[:6000]) for k, v in run.params.items()]
        metrics = [MlflowMetric(name, value, run.start_ms, step) for name, step, value in run.metrics]
        metrics += [MlflowMetric(f"final/{name}", value, run.end_ms or run.start_ms, 0)
                    for name, value in run.scores.items()]
        for k in range(0, len(params), 100):  # MLflow's batch limits: 100 params, 1000 metrics, 1000 items
            client.log_batch(mlflow_id, params=params[k:k + 100])
        for k in range(0, len(metrics), 1000):
            client.log_batch(mlflow_id, metrics=metrics[k:k + 1000])
        for name in SMALL_FILES:
            if (run.folder / name).is_file():
                client.log_artifact(mlflow_id, str(run.folder / name))
        client.set_terminated(mlflow_id, MLFLOW_STATUS[run.status], end_time=run.end_ms)
        client.set_tag(mlflow_id, DONE_TAG, "1")  # last: a run without it is made again
        log(f"run {run.id}: MLflow run {mlflow_id} in experiment {experiment!r} ({uri})")
        written.append(run.id)
    return written


# -------------------------------------------------------------------------------------------- TensorBoard

def to_tensorboard(runs: Sequence[RunRecord], folder: Path, log: Callable[[str], None] = print) -> list[int]:
    """Each run as ``FOLDER/run-<id>-<slug>``: its metrics as scalars by step, its scalar parameters and final
    scores as hyper-parameters (the HParams tab), its configuration and note as text; returns the runs written."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ExportError("--tensorboard needs TensorBoard's writer: pip install tensorboard") from None
    written = []
    for run in runs:
        target = folder / f"run-{run.id}-{run.tags['y8m.configuration'].split(' ')[0]}"
        if target.exists():
            log(f"run {run.id}: {target} exists, skipped")
            continue
        partial = target.with_name(target.name + ".partial")  # renamed when complete
        shutil.rmtree(partial, ignore_errors=True)
        wall = run.start_ms / 1000
        with SummaryWriter(str(partial)) as writer:
            for name, step, value in run.metrics:
                writer.add_scalar(name, value, step, walltime=wall)
            hparams = {k: _scalar(v) for k, v in run.params.items() if _scalar(v) is not None}
            writer.add_hparams(hparams, {f"final/{k}": v for k, v in run.scores.items()} or {"final/none": 0.0},
                               run_name=".")
            writer.add_text("configuration", "```\n" + json.dumps(run.params, indent=1) + "\n```", 0, walltime=wall)
            if run.note:
                writer.add_text("note", run.note, 0, walltime=wall)
        partial.rename(target)
        log(f"run {run.id}: {target}")
        written.append(run.id)
    return written


def _scalar(text: str) -> float | str | bool | None:
    """A parameter TensorBoard's HParams takes (a number, text or truth value), else None (lists)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, bool | int | float | str) else None
