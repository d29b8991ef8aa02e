"""`y8m paper` and the dashboard's Paper page: the paper's Tables 2-12 regenerated on a dataset, every run
through the run store.

A **paper set** is what one call asked for: tables, seeds, preset, dataset. ``submit_set`` submits, for each
seed, every run the tables read (``y8m_models.paper.runs_needed``) as ``y8m runs submit`` would
(``worker.runs.submit``): a run with the same content hash that succeeded or is on its way is reused, so the
tables share their runs (#3 trains once per seed for Tables 2-7), a second call reuses everything, and an
interrupted call resumes (its runs are in the database; a worker's start-up sweep sends the interrupted ones
again, from their checkpoints). The set's manifest (``$Y8M_ARTIFACTS/paper/<name>.json``: the options and the
run id of every (run, seed)) is what the report is computed from, at any time, from the database alone
(``report``): each table's rows beside the paper's, each comparison the paper draws, reproduced or not; rows
fill in as runs succeed. ``regenerate`` (the CLI) submits, trains on local workers, waits and writes
``OUT/paper.md`` and ``OUT/paper.json``. The Paper page lists the manifests and submits the quick set.

Nothing here imports torch at import time (the dashboard imports this module); submitting does.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from db.engine import reading
from db.models import FINISHED, Run
from db.settings import Settings
from worker.runs import SubmitError, prepare, preview, register_dataset, submit
from y8m_models.paper import QUICK, RunKey, runs_needed, to_json, to_markdown

REPORT_MD, REPORT_JSON = "paper.md", "paper.json"
log = logging.getLogger("y8m.worker")


@dataclass(frozen=True)
class PaperOptions:
    """What a paper set regenerates and how: the tables, seeds 0..seeds-1, and the options of every run."""

    tables: tuple[int, ...] = QUICK
    seeds: int = 1
    preset: str = "tiny"
    max_steps: int | None = None
    eval_every: int | None = None  # None: the preset's rule (``presets.evaluation_steps``) on the dataset's train1


@dataclass(frozen=True)
class Manifest:
    """A submitted paper set: its name, dataset, options and the run id of every (run key, seed)."""

    name: str
    dataset: str
    options: PaperOptions
    runs: dict[tuple[RunKey, int], int]
    created: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dataset": self.dataset, "options": asdict(self.options), "created": self.created,
                "runs": [{"run": key.to_json(), "seed": seed, "id": run_id}
                         for (key, seed), run_id in self.runs.items()]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        options = {**data["options"], "tables": tuple(data["options"]["tables"])}
        runs = {(RunKey.of(r["run"]["config"], r["run"]["overrides"]), r["seed"]): r["id"] for r in data["runs"]}
        return cls(data["name"], data["dataset"], PaperOptions(**options), runs, data["created"])


def set_name(dataset: str, options: PaperOptions) -> str:
    """``<dataset>-quick`` for the quick set at the tiny preset, else ``<dataset>-t<tables>-s<seeds>-<preset>``."""
    if options.tables == QUICK and options.seeds == 1 and options.preset == "tiny" and options.max_steps is None:
        return f"{dataset}-quick"
    tables = "-".join(map(str, options.tables))
    steps = f"-steps{options.max_steps}" if options.max_steps else ""
    return f"{dataset}-t{tables}-s{options.seeds}-{options.preset}{steps}"


def _folder(settings: Settings) -> Path:
    return settings.artifacts / "paper"


def submit_set(data: str | Path, options: PaperOptions, settings: Settings | None = None) -> Manifest:
    """Every (run key, seed) of the tables as a run in the store (created, or reused by content hash), and the
    set's manifest written beside the runs (``$Y8M_ARTIFACTS/paper/<name>.json``)."""
    from y8m_models.configs.presets import evaluation_steps  # imports torch: not at the dashboard's import

    settings = settings or Settings.from_env()
    dataset = register_dataset(data, settings=settings)
    eval_every = options.eval_every
    if eval_every is None:
        train1 = max(level.get("train1", {}).get("records", 0) for level in dataset.splits.values())
        eval_every = evaluation_steps(options.preset, train1)
    asks = [(key, seed, {"preset": options.preset, "seed": seed, "max_steps": options.max_steps,
                         "eval_every": eval_every, "overrides": key.overrides_dict() or None})
            for seed in range(options.seeds) for key in runs_needed(options.tables)]
    for key, seed, ask in asks:  # every run checked before the first is queued: a bad one queues nothing
        try:
            preview([key.config], dataset.name, settings=settings, **ask)
        except SubmitError as exc:
            raise SubmitError(f"{key.name} (seed {seed}): {exc}") from None
    runs = {(key, seed): next(iter(submit([key.config], dataset.name, settings=settings, **ask).targets.values()))
            for key, seed, ask in asks}
    manifest = Manifest(set_name(dataset.name, options), dataset.name, options, runs,
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    folder = _folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{manifest.name}.json.tmp"
    tmp.write_text(json.dumps(manifest.to_json(), indent=1))
    os.replace(tmp, folder / f"{manifest.name}.json")
    return manifest


def manifests(settings: Settings | None = None) -> list[Manifest]:
    """The submitted paper sets, newest first. A file that is not a manifest is passed over with a warning
    naming it (one damaged file must not hide the others)."""
    settings = settings or Settings.from_env()
    found = []
    for path in sorted(_folder(settings).glob("*.json")):
        try:
            found.append(Manifest.from_json(json.loads(path.read_text())))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: not a paper set manifest, passed over (%s: %s)", path, type(exc).__name__, exc)
    return sorted(found, key=lambda m: m.created, reverse=True)


def statuses(manifest: Manifest, settings: Settings | None = None) -> dict[int, str]:
    """Each of the set's runs' status."""
    with reading(prepare(settings)) as s:
        ids = set(manifest.runs.values())
        return dict(s.execute(select(Run.id, Run.status).where(Run.id.in_(ids))).all())


def wait(manifest: Manifest, settings: Settings | None = None, *, poll: float = 2.0, timeout: float | None = None,
         log: Callable[[str], None] = print) -> dict[int, str]:
    """Until every run of the set has ended (succeeded, failed, cancelled); a line whenever the counts change."""
    deadline, last = None if timeout is None else time.monotonic() + timeout, ""
    while True:
        status = statuses(manifest, settings)
        line = ", ".join(f"{n} {k}" for k, n in sorted(Counter(status.values()).items()))
        if line != last:
            log(f"paper: {len(status)} runs: {line}")
            last = line
        if all(v in FINISHED for v in status.values()):
            return status
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"paper: runs still not ended after {timeout:.0f} s: {line} (they go on; call again "
                               "to collect them)")
        time.sleep(poll)


def measured(manifest: Manifest, settings: Settings | None = None) -> tuple[dict[RunKey, list[float]],
                                                                            dict[str, Any]]:
    """The set as the database holds it now: (validate2 GAPs of the succeeded runs per run key, one per seed;
    the report's ``meta``: the options, the run ids per row, the runs not (yet) succeeded, and the seconds every
    run of the set took from start to end, its members, bases and teachers included)."""
    with reading(prepare(settings)) as s:
        rows = {r.id: r for r in s.scalars(select(Run).where(Run.id.in_(set(manifest.runs.values()))))}
        gaps: dict[RunKey, list[float]] = {}
        ids: dict[str, list[int]] = {}
        pending: dict[str, str] = {}
        for (key, _seed), run_id in sorted(manifest.runs.items(), key=lambda item: item[0][1]):
            run = rows[run_id]
            ids.setdefault(key.name, []).append(run_id)
            gap = run.gap("validate2")
            if run.status == "succeeded" and gap is not None:
                gaps.setdefault(key, []).append(gap)
            else:
                pending[str(run_id)] = f"{run.status}: {run.error}" if run.error else run.status
        every = _every_run_of(s, set(manifest.runs.values()))
        seconds = sum((r.finished_at - r.started_at).total_seconds() for r in every
                      if r.started_at is not None and r.finished_at is not None)
    meta = {"name": manifest.name, "dataset": manifest.dataset, **asdict(manifest.options),
            "created": manifest.created, "runs": ids, "not_succeeded": pending,
            "runs_in_all": len(every), "run_seconds": round(seconds, 1)}
    return gaps, meta


def report(manifest: Manifest, settings: Settings | None = None) -> dict[str, Any]:
    """The set's report from the database as it is now (``y8m_models.paper.to_json`` with ``measured``'s meta)."""
    gaps, meta = measured(manifest, settings)
    return to_json(manifest.options.tables, gaps, meta=meta)


def _every_run_of(session: Any, targets: set[int]) -> list[Run]:
    """The targets and every run they read, transitively (members, bases, teachers, streams)."""
    seen, todo = set(), list(targets)
    while todo:
        run_id = todo.pop()
        if run_id not in seen:
            seen.add(run_id)
            todo.extend(link.input_id for link in session.get(Run, run_id).inputs)
    return [session.get(Run, r) for r in sorted(seen)]


def regenerate(data: str | Path, out: Path, options: PaperOptions, *, settings: Settings | None = None,
               workers: int = 0, timeout: float | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Submit the set, train it (on ``workers`` local workers, or the deployment's with 0), wait, and write the
    report into ``out`` (``paper.md``, ``paper.json``); returns it, with the call's wall time."""
    from worker.local import LocalWorkers

    settings = settings or Settings.from_env()
    started = time.monotonic()
    manifest = submit_set(data, options, settings)
    log(f"paper: set {manifest.name}: tables {', '.join(map(str, options.tables))}, {options.seeds} seed(s), "
        f"preset {options.preset}: {len(manifest.runs)} runs asked for")
    local = LocalWorkers({}, settings.home / "logs" / "paper") if workers else None
    try:
        for _ in range(workers):
            local.start(wait=120)
        wait(manifest, settings, timeout=timeout, log=log)
    finally:
        if local is not None:
            local.stop()
    gaps, meta = measured(manifest, settings)
    meta.update(wall_seconds=round(time.monotonic() - started, 1), cpu_count=os.cpu_count())
    result = to_json(options.tables, gaps, meta=meta)
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_JSON).write_text(json.dumps(result, indent=1))
    (out / REPORT_MD).write_text(to_markdown(options.tables, gaps, meta=_readable(meta)))
    return result


def _readable(meta: dict[str, Any]) -> dict[str, Any]:
    """The Markdown report's header: the options and figures, without the JSON's per-run listings."""
    shown = {k.replace("_", " "): ", ".join(map(str, v)) if isinstance(v, list | tuple) else v
             for k, v in meta.items() if k not in ("runs", "not_succeeded") and v is not None}
    return shown | {"not succeeded": len(meta["not_succeeded"])}
