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
``merge`` joins the reports of sets with other seeds (``--first-seed``) into one, so that a long set can be
trained in parts, in different sessions or on different machines.

**The demo** (``y8m paper --demo``, the Paper page's demo button): ``submit_demo`` submits its runs,
``demo_findings`` judges its three findings (``y8m_models.paper.demo``) on the newest of them in the database
and their artifacts, ``run_demo`` does both around local workers and writes ``OUT/demo.md`` and ``demo.json``.

Nothing here imports torch at import time (the dashboard imports this module); submitting does.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from db import queries
from db.engine import reading
from db.models import FINISHED, Artifact, Run
from db.settings import Settings
from worker.runs import SubmitError, preview, register_dataset, submit
from worker.store import prepare
from y8m_models.options import OptionsError, RunOptions
from y8m_models.paper import QUICK, RunKey, demo, gaps_of, runs_needed, to_json, to_markdown

REPORT_MD, REPORT_JSON = "paper.md", "paper.json"
DEMO_MD, DEMO_JSON = "demo.md", "demo.json"
log = logging.getLogger("y8m.worker")


@dataclass(frozen=True)
class PaperOptions:
    """What a paper set regenerates and how: the tables, seeds first_seed..first_seed+seeds-1, and the options of
    every run. Sets of other seeds (say seed 0 in one session, seeds 1 and 2 in another) are joined by ``merge``."""

    tables: tuple[int, ...] = QUICK
    seeds: int = 1
    preset: str = "tiny"
    max_steps: int | None = None
    eval_every: int | None = None  # None: every half epoch (``experiment.evaluation_steps``)
    first_seed: int = 0

    @property
    def seed_list(self) -> range:
        return range(self.first_seed, self.first_seed + self.seeds)


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
    """``<dataset>-quick`` for the quick set at the tiny preset, else ``<dataset>-t<tables>-s<seeds>-<preset>``
    (``-s<seeds>from<first seed>`` when the seeds do not start at 0)."""
    if (options.tables == QUICK and options.seeds == 1 and options.preset == "tiny" and options.max_steps is None
            and options.first_seed == 0):
        return f"{dataset}-quick"
    tables = "-".join(map(str, options.tables))
    steps = f"-steps{options.max_steps}" if options.max_steps else ""
    first = f"from{options.first_seed}" if options.first_seed else ""
    return f"{dataset}-t{tables}-s{options.seeds}{first}-{options.preset}{steps}"


def _folder(settings: Settings) -> Path:
    return settings.artifacts / "paper"


def submit_set(data: str | Path, options: PaperOptions, settings: Settings | None = None) -> Manifest:
    """Every (run key, seed) of the tables as a run in the store (created, or reused by content hash), and the
    set's manifest written beside the runs (``$Y8M_ARTIFACTS/paper/<name>.json``)."""
    settings = settings or Settings.from_env()
    dataset = register_dataset(data, settings=settings)
    asks = []
    for seed in options.seed_list:
        for key in runs_needed(options.tables):
            try:
                ask = RunOptions.of(preset=options.preset, seed=seed, max_steps=options.max_steps,
                                    eval_every=options.eval_every, overrides=key.overrides_dict())
            except OptionsError as exc:
                raise SubmitError(str(exc)) from None
            asks.append((key, seed, ask))
    for key, seed, ask in asks:  # every run checked before the first is queued: a bad one queues nothing
        try:
            preview([key.config], dataset.name, ask, settings=settings)
        except SubmitError as exc:
            raise SubmitError(f"{key.name} (seed {seed}): {exc}") from None
    runs = {(key, seed): next(iter(submit([key.config], dataset.name, ask, settings=settings).targets.values()))
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


def statuses(run_ids: Iterable[int], settings: Settings | None = None) -> dict[int, str]:
    """Each run's status (a set's: ``manifest.runs.values()``)."""
    with reading(prepare(settings)) as s:
        return dict(s.execute(select(Run.id, Run.status).where(Run.id.in_(set(run_ids)))).all())


def wait(run_ids: Iterable[int], settings: Settings | None = None, *, poll: float = 2.0,
         timeout: float | None = None, log: Callable[[str], None] = print) -> dict[int, str]:
    """Until every run has ended (succeeded, failed, cancelled); a line whenever the counts change."""
    deadline, last, run_ids = None if timeout is None else time.monotonic() + timeout, "", set(run_ids)
    while True:
        status = statuses(run_ids, settings)
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


def _train(run_ids: Iterable[int], settings: Settings, workers: int, timeout: float | None,
           log: Callable[[str], None]) -> None:
    """Until the runs have ended: on ``workers`` local workers started for the call (0: the deployment's)."""
    from worker.local import LocalWorkers

    local = LocalWorkers({}, settings.home / "logs" / "paper") if workers else None
    try:
        for _ in range(workers):
            local.start(wait=120)
        wait(run_ids, settings, timeout=timeout, log=log)
    finally:
        if local is not None:
            local.stop()


def regenerate(data: str | Path, out: Path, options: PaperOptions, *, settings: Settings | None = None,
               workers: int = 0, timeout: float | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Submit the set, train it (on ``workers`` local workers, or the deployment's with 0), wait, and write the
    report into ``out`` (``paper.md``, ``paper.json``); returns it, with the call's wall time."""
    settings = settings or Settings.from_env()
    started = time.monotonic()
    manifest = submit_set(data, options, settings)
    log(f"paper: set {manifest.name}: tables {', '.join(map(str, options.tables))}, seed(s) "
        f"{', '.join(map(str, options.seed_list))}, "
        f"preset {options.preset}: {len(manifest.runs)} runs asked for")
    _train(manifest.runs.values(), settings, workers, timeout, log)
    gaps, meta = measured(manifest, settings)
    meta.update(wall_seconds=round(time.monotonic() - started, 1), cpu_count=os.cpu_count())
    result = to_json(options.tables, gaps, meta=meta)
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_JSON).write_text(json.dumps(result, indent=1))
    (out / REPORT_MD).write_text(to_markdown(options.tables, gaps, meta=_readable(meta)))
    return result


def merge(reports: list[Path], out: Path) -> dict[str, Any]:
    """``y8m paper --merge``: the reports of sets on one dataset and preset with different seeds (``paper.json``
    files, e.g. seed 0 from one session and seeds 1-2 from another) as one report over all their seeds and
    tables, written into ``out``; its meta adds up their run and wall seconds. SubmitError naming the files
    where they do not fit together (another dataset or preset, a seed in two of them, not a report)."""
    gaps: dict[RunKey, list[float]] = {}
    tables: set[int] = set()
    seen: dict[int, Path] = {}
    metas = []
    for path in reports:
        try:
            report = json.loads(path.read_text())
            meta, found = report["meta"], gaps_of(report)
            seeds = range(meta.get("first_seed", 0), meta.get("first_seed", 0) + meta["seeds"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SubmitError(f"{path}: not a paper report ({type(exc).__name__}: {exc})") from None
        if metas and (meta.get("dataset"), meta.get("preset")) != (metas[0].get("dataset"), metas[0].get("preset")):
            raise SubmitError(f"{path}: dataset {meta.get('dataset')!r}, preset {meta.get('preset')!r}; "
                              f"{reports[0]}: {metas[0].get('dataset')!r}, {metas[0].get('preset')!r}")
        for seed in seeds:
            if seed in seen:
                raise SubmitError(f"seed {seed} is in both {seen[seed]} and {path}")
            seen[seed] = path
        for key, values in found.items():
            gaps.setdefault(key, []).extend(values)
        tables.update(t["number"] for t in report["tables"])
        metas.append(meta)
    if not metas:
        raise SubmitError("--merge: no report given")
    total = {k: round(sum(m.get(k) or 0 for m in metas), 1) for k in ("run_seconds", "wall_seconds")}
    meta = {"name": "+".join(m.get("name", "?") for m in metas), "dataset": metas[0].get("dataset"),
            "preset": metas[0].get("preset"), "seeds": len(seen), "seed_list": sorted(seen),
            "merged": [str(p) for p in reports], "runs_in_all": sum(m.get("runs_in_all") or 0 for m in metas),
            **total, "cpu_count": metas[0].get("cpu_count"),
            "runs": {}, "not_succeeded": {k: v for m in metas for k, v in m.get("not_succeeded", {}).items()}}
    for m in metas:
        for name, ids in m.get("runs", {}).items():
            meta["runs"].setdefault(name, []).extend(ids)
    result = to_json(sorted(tables), gaps, meta=meta)
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_JSON).write_text(json.dumps(result, indent=1))
    (out / REPORT_MD).write_text(to_markdown(sorted(tables), gaps, meta=_readable(meta)))
    return result


def _readable(meta: dict[str, Any]) -> dict[str, Any]:
    """The Markdown report's header: the options and figures, without the JSON's per-run listings."""
    shown = {k.replace("_", " "): ", ".join(map(str, v)) if isinstance(v, list | tuple) else v
             for k, v in meta.items() if k not in ("runs", "not_succeeded") and v is not None}
    return shown | {"not succeeded": len(meta["not_succeeded"])}


# ---------------------------------------------------------------------------------------------------- the demo

def submit_demo(data: str | Path, settings: Settings | None = None) -> dict[int, int]:
    """The demo's runs (``y8m_models.paper.demo.DEMO`` at the tiny preset, with every run they read) submitted, or
    reused by content hash; {configuration: run id}."""
    return dict(submit(list(demo.DEMO), data, RunOptions(preset="tiny"), settings=settings).targets)


def demo_findings(data: str | Path, settings: Settings | None = None) -> dict[str, Any]:
    """The demo's three findings (``demo.findings``) on a dataset (name or folder), from its newest #75 run at the
    tiny preset and the members it reads (#2, #10, #18, #25, with #25's attention dump; without a #75 run, the
    newest succeeded run of each), the newest succeeded #23, and the dataset's synthetic ground truth; ``runs``:
    the run id of each configuration read. Findings whose runs have not succeeded yet are ``shows: None``."""
    settings = settings or Settings.from_env()
    with reading(prepare(settings)) as s:
        dataset = queries.dataset_named(s, str(data)) or queries.dataset_at(s, str(Path(data).resolve()))
        if dataset is None:
            raise SubmitError(f"no dataset {data!r} in the run store: register it (or run the demo) first")

        def newest(number: int, *status: str) -> Run | None:
            return s.scalars(select(Run).where(Run.number == number, Run.dataset_id == dataset.id,
                                               Run.variant_id.is_(None),  # a variant's run is not the configuration
                                               Run.preset == "tiny", Run.kind != "predict",
                                               *([Run.status.in_(status)] if status else []))
                             .order_by(Run.id.desc()).limit(1)).first()

        def artifact(run: Run | None, kind: str) -> Path | None:
            found = None if run is None else s.scalars(select(Artifact.path).where(
                Artifact.run_id == run.id, Artifact.kind == kind, Artifact.split.in_(("validate2", "")))).first()
            return None if found is None else settings.artifacts / found

        stack = newest(demo.STACK_MODEL)  # any status: its members may have succeeded before it
        members = {link.input.number: link.input for link in stack.inputs} if stack is not None else {}
        runs = {n: members.get(n) or newest(n, "succeeded") for n in (demo.VIDEO_MODEL, *demo.FRAME_MODELS)}
        runs = {n: r for n, r in {**runs, demo.STACK_MODEL: stack}.items() if r is not None and r.status == "succeeded"}
        stack = runs.get(demo.STACK_MODEL)
        gaps = {n: r.gap("validate2") for n, r in runs.items() if r.gap("validate2") is not None}
        numbers = {r.slug: n for n, r in runs.items()}  # a stack names its members by folder: <slug>-<hash>
        attention_file = artifact(runs.get(demo.ATTENTION_MODEL), "attention")
        weights_file = artifact(stack, "stacking_weights")
        truth_file = Path(dataset.path) / "ground_truth.npz"
    attention, uninformative, class_weights = None, {}, None
    if attention_file is not None:
        with np.load(attention_file) as dump:
            attention = {k.split("/", 1)[1]: dump[k] for k in dump.files if k.startswith("weights/")}
    if truth_file.exists():
        with np.load(truth_file) as truth:
            uninformative = dict(zip(truth["ids"].tolist(), truth["uninformative"], strict=True))
    if weights_file is not None:
        with np.load(weights_file) as weights:
            members = [str(m) for m in weights["members"]]
            class_weights = (weights["class_weights"], [f"#{numbers[m.rsplit('-', 1)[0]]}"
                                                        if m.rsplit("-", 1)[0] in numbers else m for m in members])
    result = demo.findings(gaps, attention, uninformative, class_weights)
    return {**result, "dataset": dataset.name, "runs": {str(n): r.id for n, r in sorted(runs.items())},
            "gaps": {str(n): g for n, g in sorted(gaps.items())}}


def run_demo(data: str | Path, out: Path, *, settings: Settings | None = None, workers: int = 0,
             timeout: float | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """``y8m paper --demo``: submit the demo, train it (on ``workers`` local workers, or the deployment's with 0),
    wait, and write its findings into ``out`` (``demo.md``, ``demo.json``); returns them, with the wall time."""
    settings = settings or Settings.from_env()
    started = time.monotonic()
    targets = submit_demo(data, settings)
    log(f"demo: #{', #'.join(map(str, targets))} submitted (runs {', '.join(map(str, targets.values()))})")
    with reading(prepare(settings)) as s:  # the targets and every run they read
        every = [r.id for r in _every_run_of(s, set(targets.values()))]
    _train(every, settings, workers, timeout, log)
    result = {**demo_findings(data, settings), "wall_seconds": round(time.monotonic() - started, 1),
              "cpu_count": os.cpu_count()}
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_JSON).write_text(json.dumps(result, indent=1))
    (out / DEMO_MD).write_text(demo.to_markdown(result))
    return result
