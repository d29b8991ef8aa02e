"""The run API the CLI and the dashboard share: register datasets, submit configurations, list, show and
cancel runs, predict a trained run. The scheduling around the tasks (``dispatch``, ``recover``) is in
``worker.schedule``.

A submission is the pipeline's DAG in the database: every job of ``pipeline.plan`` is a run (or reuses a run
with the same content hash that succeeded or is on its way), linked to the runs it reads. Runs start
``waiting``; ``dispatch`` moves those whose inputs all succeeded to ``queued`` and sends one task each, so
independent members run on different workers at once and an ensemble starts when its last member is done.
The DAG lives in the database (``worker.schedule``) rather than in a Celery chord: a chord's join state is
in the result backend, and a member whose worker was killed never reports to it; a run re-sent by the recovery loop
does.

Bad input is refused before anything is written or queued (``SubmitError`` names the option): an unknown
configuration, an override the schema rejects, a dataset that is not registered and not a directory, a
directory outside the data roots, a dataset without the files a job needs.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from db.engine import reading, writing
from db.models import ACTIVE, FINISHED, Dataset, Run, RunLink
from db.models import Variant as VariantRow
from db.queries import (
    add_event,
    artifacts,
    clock,
    dataset_at,
    dataset_named,
    events,
    metric_count,
    readers,
    reusable_run,
    runs_query,
    set_status,
    variant_named,
)
from db.queries import sizes as stored_sizes
from db.settings import Settings
from worker.celery_app import celery_for
from worker.schedule import dispatch
from worker.store import prepare
from worker.variants import get_variant
from y8m_models.configs.schema import Variant
from y8m_models.configs.variants import target_key, title
from y8m_models.data.errors import Y8MDataError
from y8m_models.data.layout import YOUTUBE_8M, FeatureLayout, find_layout
from y8m_models.limits import Limits
from y8m_models.options import OptionsError, RunOptions, check_device

log = logging.getLogger("y8m.worker")

ROLE_OF_INPUT = {"init": "init", "teacher": "teacher", "streams": "stream", "members": "member",
                 "previous": "previous"}


class SubmitError(ValueError):
    """Input refused before anything was queued; the message names the option or file."""


# ---------------------------------------------------------------------------------------------- datasets

def _split_counts(path: Path) -> dict[str, dict[str, dict[str, int]]]:
    from y8m_models.data.splits import split_files
    from y8m_models.data.tfrecord import build_index

    out: dict[str, dict[str, dict[str, int]]] = {}
    for level in ("frame", "video"):
        if (path / level).is_dir():
            parts = split_files(path, level)
            out[level] = {part: {"files": len(files), "records": sum(len(build_index(f)) for f in files)}
                          for part, files in parts.items() if files}
    return out


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path.is_relative_to(root.resolve()) for root in roots)


def register_dataset(data: str | Path, *, name: str | None = None, num_classes: int | None = None,
                     settings: Settings | None = None) -> Dataset:
    """A dataset by registered name, or a directory (registered on first use: inside a data root, with
    ``frame/`` or ``video/`` holding train1 files, and a class count from vocabulary.csv or ``num_classes``)."""
    from y8m_models.data.errors import Y8MDataError
    from y8m_models.data.splits import split_files
    from y8m_models.data.vocabulary import resolve_num_classes

    settings = settings or Settings.from_env()
    engine = prepare(settings)
    with reading(engine) as s:
        found = dataset_named(s, str(data))
        if found is not None:
            return found
    path = Path(data).expanduser().resolve()
    # Outside the roots, whether the folder exists is not said: the form must not reveal the server's paths.
    if not _inside(path, settings.data_roots):
        with reading(engine) as s:
            known = ", ".join(d.name for d in s.scalars(select(Dataset).order_by(Dataset.name))) or "none yet"
        raise SubmitError(f"--data {data}: not a registered dataset (registered: {known}), nor a folder inside the "
                          f"data roots ({', '.join(map(str, settings.data_roots))}); Y8M_DATA_ROOTS sets them")
    if not path.is_dir():
        raise SubmitError(f"--data {path}: not a directory")
    with reading(engine) as s:
        found = dataset_at(s, str(path))
        if found is not None:
            return found
    leaving = [f for f in (path / "vocabulary.csv", *(f for lv in ("video", "frame") if (path / lv).is_dir()
                                                       for f in sorted((path / lv).iterdir())))
               if f.exists() and not _inside(f.resolve(), settings.data_roots)]
    if leaving:
        raise SubmitError(f"--data {path}: {leaving[0]} links outside the data roots; copy the file in, or add its "
                          "folder to Y8M_DATA_ROOTS")
    levels = [lv for lv in ("video", "frame") if (path / lv).is_dir() and split_files(path, lv).get("train1")]
    if not levels:
        raise SubmitError(f"--data {path}: no train1 files (train??.tfrecord) under {path}/frame or {path}/video")
    try:
        classes = resolve_num_classes(split_files(path, levels[0])["train1"], num_classes)
        splits = _split_counts(path)
    except (ValueError, Y8MDataError) as exc:
        raise SubmitError(f"--data {path}: {exc}") from None
    if classes is None:
        raise SubmitError(f"--data {path}: no vocabulary.csv tells the number of classes; pass --num-classes")
    with writing(engine) as s:
        taken = {d.name for d in s.scalars(select(Dataset))}
        base = name or path.name
        unique = next(n for n in (base, *(f"{base}-{k}" for k in range(2, 1000))) if n not in taken)
        dataset = Dataset(name=unique, path=str(path), num_classes=classes, splits=splits,
                          synthetic=(path / "synthetic.json").exists())
        s.add(dataset)
    return dataset


# ------------------------------------------------------------------------------------------- submitting

@dataclass
class Submission:
    """``targets``: the run of each configuration asked for (by paper number, baseline slug or variant name);
    ``created`` and ``reused``: the DAG's runs made now and those taken from earlier submissions."""

    targets: dict[int | str, int]
    created: list[int]
    reused: list[int]
    titles: dict[int | str, str]  # each target in one line: "#18 chaining_cnn", "#25 · k16"
    # with a byte budget: each target's parameters (``Job.predicting``'s) and the widest dtype that fits
    fits: dict[int | str, tuple[int, str]] = field(default_factory=dict)


def _check_splits(jobs: list[Any], dataset: Dataset) -> None:
    """Every job's files exist: train1 for training, train2 and validate2 for stacking, the splits predicted."""
    for job in jobs:
        if job.kind == "train":
            level, needed = job.config.model.level, {"train1", *job.splits}
        elif job.kind == "stack" and job.config.ensemble.combiner.kind == "attention":
            level, needed = "video", {"train2", "validate2", *job.splits}
        else:
            level, needed = None, {"train2", "validate2"} if job.kind == "stack" else set(job.splits)
        have = dataset.splits.get(level, {}) if level else {k for lv in dataset.splits.values() for k in lv}
        missing = sorted(split for split in needed if split not in have)
        if missing:
            where = f"{level}-level " if level else ""
            raise SubmitError(f"{job.config.name} needs {where}{', '.join(missing)} files, which dataset "
                              f"{dataset.name} ({dataset.path}) does not have")


def _check_sizes(jobs: list[Any], num_classes: int, features: FeatureLayout) -> dict[str, int]:
    """Every training job's batch and parameter count within ``y8m_models.limits``, so that ``--set
    model.params.cells=1000000000`` is refused here, not by a worker's OOM. Returns the parameters each job trains
    itself, by key: a model's, a stack's combiner's, a merge's 0 (``Run.parameters``)."""
    from y8m_models.configs.schema import SingleModel

    bounds = Limits.from_env()
    jobs = [job for job in jobs if job.finished is None]  # a finished run as a member: counted when it was submitted
    trains = [job for job in jobs if isinstance(job.config.model, SingleModel)]
    for job in trains:
        if job.config.model.training.batch_size > bounds.batch:
            raise SubmitError(f"{job.config.name}: batch size {job.config.model.training.batch_size:,} is over "
                              f"the limit {bounds.batch:,} ({Limits.variable('batch')} raises it)")
    stacks = [job for job in jobs if job.kind == "stack"]
    try:
        counted = parameter_counts([job.config.model for job in trains] +
                                   [{"combiner": job.config.ensemble.combiner.model_dump(),
                                     "members": len(job.members)} for job in stacks], num_classes, features)
    except ValueError as exc:  # a model that cannot be built as configured (e.g. Context Gating without an MoE)
        raise SubmitError(str(exc)) from None
    for job, count in zip(trains, counted, strict=False):
        if count > bounds.parameters:
            raise SubmitError(f"{job.config.name}: {count:,} parameters is over the limit {bounds.parameters:,} "
                              f"({Limits.variable('parameters')} raises it)")
    sizes = {job.key: 0 for job in jobs if job.kind == "merge"}
    return sizes | {job.key: count for job, count in zip(trains + stacks, counted, strict=True)}


_apart = False  # count_parameters_apart() was called: this process keeps torch out
COUNT_SECONDS = 600  # a paper-size model is built on the CPU to be counted: seconds, not minutes
_counter: ProcessPoolExecutor | None = None
_counter_lock = threading.Lock()


def count_parameters_apart(apart: bool = True) -> None:
    """Called by a process that must never load torch (the dashboard): ``parameter_counts`` then counts in a
    helper process, started at the first submission and kept (``False``: here again)."""
    global _apart
    _apart = apart


def parameter_counts(models: list[Any], num_classes: int, features: FeatureLayout = YOUTUBE_8M) -> list[int]:
    """Each single model's parameter count (``configs.build.parameter_count``), or a stack's combiner's (a dict
    ``{"combiner": Combiner dump, "members": M}``), on a dataset's ``features`` (``data.layout``): here, or in the
    helper process after ``count_parameters_apart``."""
    if not models:
        return []
    dumped = [m if isinstance(m, dict) else m.model_dump() for m in models]
    if not _apart:
        return _count_all(dumped, num_classes, features)
    global _counter
    with _counter_lock:
        if _counter is None:
            _counter = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        counter = _counter
    try:
        return counter.submit(_count_all, dumped, num_classes, features).result(timeout=COUNT_SECONDS)
    except TimeoutError:
        raise SubmitError(f"the helper process that counts the models' parameters gave no answer in "
                          f"{COUNT_SECONDS} s; submit again") from None
    except BrokenProcessPool:
        with _counter_lock:
            _counter = None
        raise SubmitError("the helper process that counts the models' parameters died; submit again") from None


def _count_all(models: list[dict], num_classes: int, features: FeatureLayout) -> list[int]:
    from y8m_models.configs.build import combiner_parameter_count, parameter_count

    return [combiner_parameter_count(m["combiner"], m["members"], num_classes, features) if "combiner" in m else
            parameter_count(m, num_classes, features) for m in models]


def _planned(configs: str | int | Sequence[int], data: str | Path, options: RunOptions, *,
             num_classes: int | None,
             settings: Settings) -> tuple[Dataset, Any, list[int | str | Variant], dict[str, int]]:
    """The checked input as (dataset, the pipeline's plan, the configurations asked for: ``parse_configs``', the
    parameters each job trains itself by key: ``_check_sizes``); ``SubmitError`` otherwise."""
    from y8m_models.configs import ConfigError, parse_configs
    from y8m_models.pipeline import Refs, plan

    try:
        numbers = parse_configs(",".join(map(str, configs)) if isinstance(configs, list | tuple) else str(configs),
                                variants=lambda name: get_variant(name, settings))
    except ConfigError as exc:
        raise SubmitError(str(exc)) from None
    dataset = register_dataset(data, num_classes=num_classes, settings=settings)
    try:
        jobs = plan(numbers, Path(dataset.path), options, test_split=_has_test(dataset),
                    refs=Refs(variant=lambda name: get_variant(name, settings),
                              run=lambda run_id: _finished_job(run_id, dataset, settings)))
    except (ConfigError, ValueError) as exc:
        raise SubmitError(str(exc)) from None
    _check_splits(jobs.jobs, dataset)
    _check_finished([job for job in jobs.jobs if job.finished is not None], settings)
    try:
        features = find_layout(dataset.path)
    except Y8MDataError as exc:
        raise SubmitError(str(exc)) from None
    sizes = _check_sizes(jobs.jobs, dataset.num_classes, features)
    return dataset, jobs, numbers, sizes


def _check_budget(targets: dict[int | str, Any], sizes: dict[str, int], budget: int,
                  settings: Settings) -> dict[int | str, tuple[int, str]]:
    """Each target's weights within ``budget`` bytes in at least int8 (the 2018 rule: a submitted model of at most
    1 GB), counting what it needs to predict (``Job.predicting``: a stack with its members, not a distillation's
    teacher); returns its parameters and the widest dtype that fits. ``SubmitError`` naming the first that does
    not fit, with its bytes in every dtype."""
    from y8m_models.sizes import human, weight_bytes, widest_fitting

    jobs = {key: target.predicting() for key, target in targets.items()}
    finished = {job.finished for reads in jobs.values() for job in reads if job.finished is not None}
    with reading(prepare(settings)) as s:
        stored = stored_sizes(s, finished)
    out: dict[int | str, tuple[int, str]] = {}
    for key, target in targets.items():
        counts = [stored[job.finished] if job.finished is not None else sizes.get(job.key) for job in jobs[key]]
        if any(count is None for count in counts):
            raise SubmitError(f"{target.config.name}: a run it reads was submitted before runs counted their "
                              "parameters; its size against --budget is unknown")
        parameters = sum(counts)
        dtype = widest_fitting(parameters, budget)
        if dtype is None:
            stored_as = ", ".join(f"{human(b)} in {d}" for d, b in weight_bytes(parameters).items())
            runs = f" in {len(jobs[key])} runs" if len(jobs[key]) > 1 else ""
            raise SubmitError(f"{target.config.name}: {parameters:,} parameters{runs} ({stored_as}) is over the "
                              f"budget of {human(budget)} even in int8; a smaller preset, or an ensemble distilled "
                              "into one model (`y8m ensemble create --method distillation --members MODEL "
                              f"--teacher {key}`) fits")
        out[key] = (parameters, dtype)
    return out


def _finished_job(run_id: int, dataset: Dataset, settings: Settings) -> Any:
    """A ``{"run": ID}`` member: the job a succeeded training, stack or merge run of this dataset was, its
    predictions reused as they are; ``ConfigError`` naming the run otherwise."""
    from y8m_models.configs import ConfigError
    from y8m_models.pipeline import job_from_spec

    with reading(prepare(settings)) as s:
        run = s.get(Run, run_id)
        if run is None or run.kind == "predict":
            raise ConfigError(f"run {run_id}: no such training, stack or merge run")
        if run.status != "succeeded":
            raise ConfigError(f"run {run_id} ({run.slug}) is {run.status}: a member is a finished (succeeded) run")
        if run.dataset_id != dataset.id:
            raise ConfigError(f"run {run_id} ({run.slug}) was trained on dataset {run.dataset.name}, not on "
                              f"{dataset.name}: its predictions are of other videos")
        job = job_from_spec(run.job)
        job.finished = run.id
        return job


def _check_finished(jobs: list[Any], settings: Settings) -> None:
    """A finished stack, merge or cascade run used as a member holds predictions on every split its readers need
    (another training run predicts a missing one on demand; an ensemble predicts only what it was asked for)."""
    with reading(prepare(settings)) as s:  # a cascade predicts a split only from its streams' predictions on it
        for job in (j for j in jobs if j.kind != "train" or j.config.model.cascade is not None):
            have = {a.split for a in artifacts(s, job.finished) if a.kind == "predictions"}
            missing = sorted(job.splits - have)
            if missing:
                raise SubmitError(f"run {job.finished} ({job.config.name}) has no predictions on {', '.join(missing)}, "
                                  "which the ensemble reading it needs; an ensemble or cascade run predicts only the "
                                  "splits it was asked for: give its configuration as the member instead")


def _add_run(session: Any, run: Run, created: str) -> Run:
    """A new run, ``waiting``, with its folder ``runs/<id>`` and its first event."""
    run.status = "waiting"
    session.add(run)
    session.flush()  # its id
    run.artifact_dir = f"runs/{run.id}"
    add_event(session, run.id, "created", created)
    return run


def preview(configs: str | int | Sequence[int], data: str | Path, options: RunOptions = RunOptions(), *,
            num_classes: int | None = None, budget: int | None = None,
            settings: Settings | None = None) -> list[dict[str, Any]]:
    """What ``submit`` with the same arguments would do, writing nothing: one row per run of the DAG (job
    name, kind, paper number, what it reads) with the run it would reuse, if any."""
    settings = settings or Settings.from_env()
    dataset, jobs, _, sizes = _planned(configs, data, options, num_classes=num_classes, settings=settings)
    if budget is not None:
        _check_budget(jobs.targets, sizes, budget, settings)
    with reading(prepare(settings)) as s:
        reused = {job.key: reusable_run(s, job.key, dataset.id) for job in jobs.jobs}
        return [{"job": job.name, "kind": job.kind, "number": job.number, "inputs": [d.name for d in job.inputs],
                 "reuse": reused[job.key].id if reused[job.key] else None,
                 "reuse_status": reused[job.key].status if reused[job.key] else None} for job in jobs.jobs]


def submit(configs: str | int | Sequence[int], data: str | Path, options: RunOptions = RunOptions(), *,
           num_classes: int | None = None, budget: int | None = None, settings: Settings | None = None) -> Submission:
    """Create the runs the configurations need (reusing finished or active ones with the same content hash)
    and send those that can start, each with ``options`` stored. Raises ``SubmitError`` before writing
    anything when the input is bad. ``num_classes``: a dataset registered here without a vocabulary.csv.
    ``budget``: bytes every configuration asked for must fit in, in int8 at least (``_check_budget``)."""
    from y8m_models.pipeline import job_spec

    settings = settings or Settings.from_env()
    dataset, jobs, asked, sizes = _planned(configs, data, options, num_classes=num_classes, settings=settings)
    fits = _check_budget(jobs.targets, sizes, budget, settings) if budget is not None else {}
    # The variants run as themselves: no overrides on top, and changes the preset does not scale away.
    as_itself = [job for job in jobs.jobs if job.variant and job.key != _base_job(job.variant, dataset, options).key]
    preset = options.preset
    engine = prepare(settings)
    by_key: dict[str, int] = {}
    created, reused = [], []
    with writing(engine) as s:
        for job in jobs.jobs:
            found = reusable_run(s, job.key, dataset.id)
            if found is None and job.finished is not None:
                raise SubmitError(f"run {job.finished} ({job.config.name}) is no longer a finished run of "
                                  f"{dataset.name}")
            if found is not None:
                by_key[job.key] = found.id
                reused.append(found.id)
                continue
            spec = job_spec(job)
            run = _add_run(s, Run(kind=job.kind, key=job.key, number=job.number, slug=job.config.slug,
                                  config=spec["config"], job=spec, options=options.stored(), dataset_id=dataset.id,
                                  preset=preset, seed=job.seed, parameters=sizes.get(job.key)),
                           f"{job.kind} {job.config.name} on {dataset.name}, preset {preset}, seed {job.seed}")
            for field, keys in spec["inputs"].items():
                for position, key in enumerate([keys] if isinstance(keys, str) else keys or []):
                    s.add(RunLink(run_id=run.id, role=ROLE_OF_INPUT[field], position=position, input_id=by_key[key]))
            by_key[job.key] = run.id
            created.append(run.id)
        for job in as_itself:
            _use_variant(s, job.variant, by_key[job.key])
    dispatch(settings)
    return Submission({n: by_key[j.key] for n, j in jobs.targets.items()}, created, reused,
                      {target_key(n): title(n) + (" with --set" if options.overrides and isinstance(n, Variant) else "")
                       for n in asked}, fits)


def _base_job(variant: Variant, dataset: Dataset, options: RunOptions) -> Any:
    """The job the variant's base is at these options: the variant's own where its changes are all scaled away
    by the preset (#1 with 8 mixtures instead of 4 is #1 itself at tiny, 2 mixtures either way). Such a run is
    the base's, not the variant's."""
    from y8m_models.pipeline import plan

    plain = options.model_copy(update={"overrides": {}, "epochs": None})
    return plan([variant.base], Path(dataset.path), plain, test_split=_has_test(dataset)).targets[variant.base]


def _has_test(dataset: Dataset) -> bool:
    return "test" in {split for level in dataset.splits.values() for split in level}


def _use_variant(session: Any, planned: Variant, run_id: int) -> None:
    """Run ``run_id`` completes variant ``planned`` (its leaderboard row is the variant's), which is frozen from
    now on. A run reused from a submission with the same values (``--set``) becomes the variant's too; a variant
    submitted with more overrides on top is not run as itself, and is left alone. ``SubmitError`` (and nothing
    written) when the variant changed since it was planned."""
    row = variant_named(session, planned.name, lock=True)
    if row is None or row.overrides != planned.overrides:
        raise SubmitError(f"variant {planned.name!r} was changed while it was being submitted; submit again")
    session.execute(update(VariantRow).where(VariantRow.id == row.id, VariantRow.frozen_by.is_(None))
                    .values(frozen_by=run_id))  # the first run keeps it, whoever commits last
    session.execute(update(Run).where(Run.id == run_id, Run.variant_id.is_(None)).values(variant_id=row.id))


def predict(run_id: int, split: str = "test", *, submission: bool = True, attention_videos: list[str] | None = None,
            device: str = "auto", settings: Settings | None = None) -> int:
    """A predict run of a succeeded train run on ``split`` (a submission CSV with ``submission``); returns its
    id."""
    from y8m_models.configs import Configuration

    try:
        check_device(device)
    except OptionsError as exc:
        raise SubmitError(str(exc)) from None
    settings = settings or Settings.from_env()
    engine = prepare(settings)
    with writing(engine) as s:
        source = s.get(Run, run_id)
        if source is None:
            raise SubmitError(f"no run {run_id}")
        if source.kind != "train" or source.status != "succeeded":
            raise SubmitError(f"run {run_id} is a {source.status} {source.kind} run: only a succeeded train run "
                              "predicts")
        level = Configuration.model_validate(source.config).level
        if split not in source.dataset.splits.get(level, {}):
            raise SubmitError(f"--split {split}: dataset {source.dataset.name} has no {level}-level {split} files")
        run = _add_run(s, Run(kind="predict", key=uuid.uuid4().hex[:12], number=source.number, slug=source.slug,
                              config=source.config, job={"source": run_id}, dataset_id=source.dataset_id,
                              preset=source.preset, seed=source.seed,
                              options={"split": split, "submission": submission, "attention_videos": attention_videos,
                                       "device": device}),
                       f"predict run {run_id} on {split}")
        s.add(RunLink(run_id=run.id, role="source", position=0, input_id=run_id))
        new = run.id
    dispatch(settings)
    return new


# ----------------------------------------------------------------------------------- listing, cancelling

def summary(run: Run) -> dict[str, Any]:
    """A run as one JSON row (``y8m runs list``)."""
    return {"id": run.id, "status": run.status, "kind": run.kind, "number": run.number, "slug": run.slug,
            "variant": run.variant.name if run.variant else None, "dataset": run.dataset.name, "preset": run.preset,
            "seed": run.seed, "step": run.step, "steps": run.steps, "loss": run.loss,
            "examples_per_second": run.examples_per_second, "parameters": run.parameters,
            "gap": {s.split: s.gap for s in run.scores}, "attempts": run.attempts,
            "created_at": run.created_at.isoformat(), "error": run.error, "tags": run.tags, "note": run.note,
            "archived": run.archived_at is not None}


def list_runs(status: Sequence[str] | None = None, configs: Sequence[int | str] | None = None, limit: int = 100,
              settings: Settings | None = None, *, tags: Sequence[str] = (), search: str | None = None,
              where: Sequence[Any] = (), archived: bool = False) -> list[dict[str, Any]]:
    """The newest ``limit`` runs, of these statuses and configurations (paper numbers, baseline slugs), with every
    tag, the text and every value filter (``curation.matches``); archived runs only with ``archived``."""
    from sqlalchemy.orm import selectinload

    from worker.curation import matches

    engine = prepare(settings)
    with reading(engine) as s:
        query = runs_query(status, configs, archived=None if archived else False).options(selectinload(Run.scores))
        if not (tags or search or where):
            return [summary(r) for r in s.scalars(query.limit(limit))]
        found = (r for r in s.scalars(query) if matches(r, tags, search, where))
        return [summary(r) for _, r in zip(range(limit), found, strict=False)]


def show(run_id: int, settings: Settings | None = None) -> dict[str, Any]:
    """Everything about one run: status, progress, scores, error, what it reads, its artifacts."""
    settings = settings or Settings.from_env()
    engine = prepare(settings)
    with reading(engine) as s:
        run = s.get(Run, run_id)
        if run is None:
            raise SubmitError(f"no run {run_id}")
        return {**summary(run), "key": run.key, "config": run.config, "options": run.options, "worker": run.worker,
                "celery_id": run.celery_id, "cancel_requested": run.cancel_requested,
                "started_at": run.started_at and run.started_at.isoformat(),
                "finished_at": run.finished_at and run.finished_at.isoformat(),
                "heartbeat_at": run.heartbeat_at and run.heartbeat_at.isoformat(),
                "scores": {sc.split: {"gap": sc.gap, "hit_at_1": sc.hit_at_1, "perr": sc.perr, "map": sc.map,
                                      "n_videos": sc.n_videos, "step": sc.step} for sc in run.scores},
                "inputs": [{"role": link.role, "position": link.position, "run": link.input_id}
                          for link in run.inputs],
                "metric_rows": metric_count(s, run_id),
                "events": [{"at": e.at.isoformat(), "event": e.event, "message": e.message} for e in events(s, run_id)],
                "dir": str(settings.artifacts / run.artifact_dir),
                "artifacts": [{"kind": a.kind, "split": a.split, "path": a.path, "bytes": a.bytes}
                              for a in artifacts(s, run_id)]}


def cancel(run_id: int, settings: Settings | None = None) -> dict[str, list[int]]:
    """Cancel a run, the unfinished runs that read it, and its unfinished inputs that nothing else still
    needs (cancelling an ensemble stops its members). Queued and waiting runs end at once; a running one
    stops at its next training step (the flag its reporter reads) and its message is revoked."""
    settings = settings or Settings.from_env()
    engine = prepare(settings)
    with writing(engine) as s:
        run = s.get(Run, run_id)
        if run is None:
            raise SubmitError(f"no run {run_id}")
        if run.status in FINISHED:
            raise SubmitError(f"run {run_id} already {run.status}")
        chosen = {run.id: run} | {r.id: r for r in readers(s, [run.id])}
        grew = True
        while grew:  # inputs only the chosen runs read
            grew = False
            for link in s.scalars(select(RunLink).where(RunLink.run_id.in_(list(chosen)))).all():
                source = link.input
                if source.id in chosen or source.status in FINISHED:
                    continue
                others = s.scalars(select(RunLink.run_id).join(Run, Run.id == RunLink.run_id)
                                   .where(RunLink.input_id == source.id, Run.status.in_(ACTIVE))).all()
                if set(others) <= set(chosen):
                    chosen[source.id], grew = source, True
        stopping, ended, revoke = [], [], []
        for r in chosen.values():
            if r.status == "running":
                r.cancel_requested = True
                stopping.append(r.id)
                add_event(s, r.id, "cancel asked", "stops at its next training step")
            elif set_status(s, r.id, "cancelled", expected=("waiting", "queued", "interrupted"),
                            finished_at=clock(s), cancel_requested=True,
                            error=None if r.id == run_id else f"run {run_id} was cancelled"):
                ended.append(r.id)
            elif s.execute(update(Run).where(Run.id == r.id, Run.status == "running")  # claimed meanwhile
                           .values(cancel_requested=True)).rowcount:
                stopping.append(r.id)
            if r.celery_id:
                revoke.append(r.celery_id)
    app = celery_for(settings)
    for task_id in revoke:
        app.control.revoke(task_id)
    return {"cancelled": sorted(ended), "stopping": sorted(stopping)}
