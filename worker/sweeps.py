"""Sweeps in the run store: a search over a single model's configuration values (``configs.space``) whose trials are
ordinary runs (same store, same workers, same resume), sampled and pruned by Optuna (``y8m_models.study``).

A sweep needs no process of its own. ``advance`` makes every decision there is to make now, from the records:
a trial whose run ended gets its value (the run's validate1 GAP at its selected checkpoint) or its failure; a running
trial whose validate1 GAP falls behind is pruned (its run is cancelled, saying why); new trials are asked and
submitted while fewer than ``parallel`` run and the budget is not spent; a sweep whose trials are all done is
finished. Whoever sees a change calls it: a worker when a trial's run records a validate1 GAP or ends
(``worker.execute``), every worker's recovery loop periodically (``worker.tasks``), ``y8m sweep`` while it follows its
sweep, the Sweeps page when it creates one. One process advances a sweep at a time (a lease on its row: ``driver``,
``driven_at``; a holder that died is taken over after ``LEASE_SECONDS``), so killing any of them loses nothing: the
next call goes on from the records.

A trial is written (``asked``, with its values) before its run is submitted, and its run is found by content hash
when it is submitted again: a process killed between the two leaves no run without its trial and no trial twice.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from db.engine import reading, writing
from db.models import ACTIVE, Metric, Run, Score, Sweep, SweepTrial
from db.queries import add_event, clock, readers
from db.settings import Settings
from worker.processes import worker_name
from worker.runs import SubmitError, cancel, preview, register_dataset, submit
from worker.store import prepare
from worker.variants import VariantError, get_variant, save_variant, user_name
from y8m_models.configs import ConfigError, parse_configs, resolve
from y8m_models.configs.registry import MISSING, get_path
from y8m_models.configs.schema import Variant
from y8m_models.configs.space import SearchSpace, values_text
from y8m_models.options import RunOptions
from y8m_models.study import SAMPLERS, Pruning, TrialRecord, build_study, next_values, should_prune

log = logging.getLogger("y8m.worker")

OBJECTIVE = "validate1"  # a trial's value and its pruning: this split's GAP (validate2 stays the held-out score)
LEASE_SECONDS = 60.0
MAX_TRIALS = 1000
NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
ACTIVE_TRIALS = ("asked", "running")
SUBMISSION_REFUSED = "submission refused"
REFUSED_IN_A_ROW = 3
MAX_SUBMISSIONS = 4  # per advance call
DONE_TRIALS = ("complete", "pruned", "failed")


class SweepError(ValueError):
    """A sweep refused or an action on one refused; the message names the option, key or value."""


@dataclass(frozen=True)
class SweepRequest:
    """What ``create_sweep`` is asked: a configuration (number, slug or variant), its dataset, the options every
    trial shares (``RunOptions``; ``overrides`` are fixed values under the varied ones), the space, the budget of
    trials, how many run at once, the sampler, the pruning, a name and a note."""

    config: str
    data: str
    space: SearchSpace
    options: RunOptions = RunOptions()
    n_trials: int = 20
    parallel: int = 1
    sampler: str = "tpe"
    pruning: Pruning = Pruning()
    name: str | None = None
    note: str = ""


# ------------------------------------------------------------------------------------------------ creating

def _base(config: str, settings: Settings) -> tuple[int | str, dict[str, Any]]:
    """The configuration a sweep varies, as (its base: number or slug, the values a variant sets on it)."""
    try:
        asked = parse_configs(config, variants=lambda name: get_variant(name, settings))
    except ConfigError as exc:
        raise SweepError(str(exc)) from None
    if len(asked) != 1:
        raise SweepError(f"--config {config}: a sweep varies one configuration, not {len(asked)}")
    item = asked[0]
    return (item.base, dict(item.overrides)) if isinstance(item, Variant) else (item, {})


def check_space(config: str, space: SearchSpace, options: RunOptions, settings: Settings | None = None) -> None:
    """Every varied key is a value of the configuration, not also fixed by ``--set``; the configuration is valid with
    each end of every range and every choice; the preset does not make a range's ends one model (a width sweep at
    ``tiny``). ``SweepError`` naming the key and value."""
    settings = settings or Settings.from_env()
    base, fixed = _base(config, settings)
    try:
        plain = resolve(base, options.preset, options.as_in_code, {**fixed, **options.overrides})
    except ConfigError as exc:
        raise SweepError(str(exc)) from None
    if plain.model is None:
        raise SweepError(f"--config {config}: {plain.name} is an ensemble; a sweep varies a single model, whose trials "
                         f"are judged by their {OBJECTIVE} GAP")
    data = plain.model_dump()
    for key, param in space.params.items():
        if key in options.overrides:
            raise SweepError(f"{key}: both varied and fixed by --set; give it one way")
        if get_path(data, key) is MISSING:
            raise SweepError(f"{key}: not a value of {plain.name} (e.g. model.training.learning_rate, "
                             "model.params.<name>: `y8m configs show` lists them)")
        models = []
        for value in param.ends:
            try:
                models.append(resolve(base, options.preset, options.as_in_code,
                                      {**fixed, **options.overrides, key: value}).model_dump())
            except ConfigError as exc:
                raise SweepError(f"{key}={value}: {exc}") from None
        if len(param.ends) > 1 and all(m == models[0] for m in models):
            raise SweepError(f"{key}: {param.text()} gives one model at preset {options.preset} (the preset sets or "
                             "scales it); sweep it at preset small or paper")


def create_sweep(request: SweepRequest, settings: Settings | None = None) -> int:
    """Check the request (``check_space``; the runs of the smallest and largest values as ``runs submit`` checks
    them; validate1 files, which judge the trials), record the sweep and ask its first trials; returns its id.
    ``SweepError``, with nothing written, on bad input. A variant's values are written into the sweep: its trials do
    not move when the variant is changed later."""
    settings = settings or Settings.from_env()
    if not 1 <= request.n_trials <= MAX_TRIALS:
        raise SweepError(f"--trials {request.n_trials}: between 1 and {MAX_TRIALS}")
    if not 1 <= request.parallel <= request.n_trials:
        raise SweepError(f"--parallel {request.parallel}: between 1 and the trials ({request.n_trials})")
    if request.sampler not in SAMPLERS:
        raise SweepError(f"--sampler {request.sampler}: the samplers are {', '.join(SAMPLERS)}")
    if request.name is not None and not NAME.fullmatch(request.name):
        raise SweepError(f"--name {request.name!r}: 1 to 64 of a-z 0-9 _ . -, starting with a letter or digit")
    check_space(request.config, request.space, request.options, settings)
    base, fixed = _base(request.config, settings)
    config = resolve(base)
    kept = {k: v for k, v in fixed.items() if k not in request.space.params}
    options = request.options.model_copy(update={"overrides": {**kept, **request.options.overrides}})
    pinned = str(config.number or config.slug)
    try:
        dataset = register_dataset(request.data, settings=settings)
    except SubmitError as exc:
        raise SweepError(str(exc)) from None
    level = config.model.level
    if "validate1" not in dataset.splits.get(level, {}):
        raise SweepError(f"--data {dataset.name}: no {level}-level validate1 files, which judge a sweep's trials")
    for extreme in (min, max):  # splits and size limits as submit sees them, at the smallest and largest values
        values = {key: _extreme(p.ends, extreme) for key, p in request.space.params.items()}
        try:
            preview(pinned, dataset.name, _with(options, values), settings=settings)
        except SubmitError as exc:
            raise SweepError(f"with {values_text(values)}: {exc}") from None
    note = request.note + (f"\nvariant {request.config}: {values_text(fixed)}" if fixed else "")
    try:
        with writing(prepare(settings)) as s:
            if request.name and s.scalar(select(Sweep.id).where(Sweep.name == request.name)) is not None:
                raise SweepError(f"--name {request.name}: a sweep of that name exists; choose another")
            sweep = Sweep(name=request.name or f"pending-{time.time_ns()}", config=pinned, number=config.number,
                          slug=config.slug, dataset_id=dataset.id, options=options.stored(),
                          space=request.space.stored(), n_trials=request.n_trials, parallel=request.parallel,
                          sampler=request.sampler, pruner=request.pruning.stored(), seed=request.options.seed,
                          note=note.strip(), created_by=user_name())
            s.add(sweep)
            s.flush()
            if request.name is None:
                sweep.name = f"{config.slug[:50]}-sweep-{sweep.id}"
            sweep_id = sweep.id
    except IntegrityError:  # the same name saved by another process between the check and the insert
        raise SweepError(f"--name {request.name}: a sweep of that name was made just now; choose another") from None
    advance(sweep_id, settings)
    return sweep_id


def _extreme(ends: list[Any], pick: Any) -> Any:
    """The smallest or largest of a range's ends or of numeric choices; other choices: the first or the last."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in ends):
        return pick(ends)
    return ends[0] if pick is min else ends[-1]


def _with(options: RunOptions, values: dict[str, Any]) -> RunOptions:
    return options.model_copy(update={"overrides": {**options.overrides, **values}})


# ----------------------------------------------------------------------------------------------- advancing

def _me() -> str:
    return f"{worker_name()}:{threading.get_ident()}"


def _lease(settings: Settings, sweep_id: int, me: str) -> bool:
    with writing(prepare(settings)) as s:
        now = clock(s)
        taken = s.execute(update(Sweep).where(
            Sweep.id == sweep_id, Sweep.status == "running",
            or_(Sweep.driver.is_(None), Sweep.driver == me,
                Sweep.driven_at < now - timedelta(seconds=LEASE_SECONDS))).values(driver=me, driven_at=now)
            .execution_options(synchronize_session=False))
        return taken.rowcount == 1


def _release(settings: Settings, sweep_id: int, me: str) -> None:
    with writing(prepare(settings)) as s:
        s.execute(update(Sweep).where(Sweep.id == sweep_id, Sweep.driver == me).values(driver=None, driven_at=None)
                  .execution_options(synchronize_session=False))


def advance(sweep_id: int, settings: Settings | None = None, wait: float = 0.0) -> bool:
    """Make the decisions there are to make now for a running sweep (see the module); False when it is not running,
    or another process holds it for longer than ``wait`` seconds (that one makes them)."""
    settings = settings or Settings.from_env()
    me = _me()
    deadline = time.monotonic() + wait
    while not _lease(settings, sweep_id, me):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)
    try:
        _settle(settings, sweep_id)
        _ask(settings, sweep_id, me)
        _settle(settings, sweep_id)  # a trial whose run was reused finished is complete at once
    finally:
        _release(settings, sweep_id, me)
    return True


def advance_all(settings: Settings | None = None, guard: Any = None) -> list[int]:
    """Advance every running sweep nobody holds (the workers' recovery loop), each under ``guard`` (a lock) when
    given; a sweep that fails is logged and the others go on. Returns those advanced."""
    settings = settings or Settings.from_env()
    with reading(prepare(settings)) as s:
        ids = list(s.scalars(select(Sweep.id).where(Sweep.status == "running").order_by(Sweep.id)))
    done = []
    for sweep_id in ids:
        with guard or contextlib.nullcontext():
            try:
                if advance(sweep_id, settings):
                    done.append(sweep_id)
            except Exception:  # one broken sweep must not stop the others
                log.exception("sweep %s could not be advanced", sweep_id)
    return done


def advance_of_run(run_id: int, settings: Settings | None = None) -> None:
    """A run recorded a validate1 GAP or ended: advance the running sweeps it is a trial of (a pruned one too: its
    end may finish the sweep), waiting a little for a holder to finish (else the holder's next call or the recovery
    loop sees it)."""
    settings = settings or Settings.from_env()
    with reading(prepare(settings)) as s:
        ids = list(s.scalars(select(SweepTrial.sweep_id).join(Sweep).where(
            SweepTrial.run_id == run_id, SweepTrial.state.in_((*ACTIVE_TRIALS, "pruned")),
            Sweep.status == "running")).unique())
    for sweep_id in ids:
        advance(sweep_id, settings, wait=10.0)


def _records(s: Any, sweep: Sweep) -> list[TrialRecord]:
    """The sweep's trials with their runs' validate1 GAP by step."""
    runs = [t.run_id for t in sweep.trials if t.run_id is not None]
    curves: dict[int, dict[int, float]] = {}
    for run_id, step, value in s.execute(select(Metric.run_id, Metric.step, Metric.value).where(
            Metric.run_id.in_(runs), Metric.name == f"{OBJECTIVE}/gap")):
        curves.setdefault(run_id, {})[step] = value
    return [TrialRecord(t.number, t.params, t.state, t.value, curves.get(t.run_id, {})) for t in sweep.trials]


def _settle(settings: Settings, sweep_id: int) -> None:
    """Trials whose runs ended get their outcome (a trial pruned after its run had finished training is complete);
    running ones falling behind are pruned."""
    with writing(prepare(settings)) as s:
        sweep = _get(s, sweep_id, lock=True)
        space, pruning = SearchSpace.of(sweep.space, sweep.name), Pruning(**sweep.pruner)
        now = clock(s)
        for trial in (t for t in sweep.trials if t.state in ("running", "pruned")):
            run = s.get(Run, trial.run_id) if trial.run_id is not None else None
            if run is None and trial.state == "running":
                trial.state, trial.finished_at, trial.message = "failed", now, "its run was deleted"
            elif run is not None and run.status == "succeeded":
                score = s.get(Score, (run.id, OBJECTIVE))
                trial.state, trial.finished_at = ("complete", now) if score else ("failed", now)
                trial.value = score.gap if score else None
                trial.message = (f"run {run.id} succeeded without a {OBJECTIVE} score" if score is None else
                                 f"pruned at step {trial.step}, after its run had trained: kept" if trial.step else "")
            elif run is not None and trial.state == "running" and run.status in ("failed", "cancelled"):
                trial.state, trial.finished_at = "failed", now
                trial.message = f"run {run.id} {run.status}" + (f": {run.error}" if run.error else "")
        if pruning.kind == "none":
            return
        records = _records(s, sweep)
        for trial in (t for t in sweep.trials if t.state == "running"):
            run = s.get(Run, trial.run_id)
            if run.status != "running" or run.cancel_requested or (run.steps and run.step >= run.steps):
                continue  # not training (any more): its last evaluation judges nothing
            if should_prune(sweep.name, space, records, trial.number, pruning) and _prune(
                    s, sweep, trial, run, records[trial.number], pruning):
                records[trial.number].state = "pruned"


def _owned(s: Any, trial: SweepTrial) -> bool:
    """Whether the sweep may stop a trial's run: its submission made it, no other active trial of any sweep has it,
    and no run reads it (an ensemble reusing it)."""
    shared = s.scalar(select(SweepTrial.number).where(
        SweepTrial.run_id == trial.run_id, SweepTrial.state.in_(ACTIVE_TRIALS),
        or_(SweepTrial.sweep_id != trial.sweep_id, SweepTrial.number != trial.number)).limit(1))
    return trial.created_run and shared is None and not readers(s, [trial.run_id])


def _prune(s: Any, sweep: Sweep, trial: SweepTrial, run: Run, record: TrialRecord, pruning: Pruning) -> bool:
    """Stop a trial's run at its next step, saying why; a run the sweep does not own (``_owned``) is left to
    finish. True when pruned."""
    if not _owned(s, trial):
        return False
    step = max(record.intermediate)
    why = (f"pruned by sweep {sweep.name} ({pruning.text()}): trial {trial.number}'s {OBJECTIVE} GAP "
           f"{record.intermediate[step]:.4f} at step {step} fell behind the other trials")
    run.cancel_requested = True
    add_event(s, run.id, "pruned", why)
    trial.state, trial.step, trial.message, trial.finished_at = "pruned", step, why, clock(s)
    return True


def _winding_down(s: Any, sweep: Sweep) -> bool:
    """A pruned trial's run still training (it stops at its next step, or finishes and the trial is complete): the
    sweep is not finished before it has ended."""
    runs = [t.run_id for t in sweep.trials if t.state == "pruned" and t.run_id is not None]
    return bool(runs) and s.scalar(select(Run.id).where(Run.id.in_(runs), Run.status.in_(ACTIVE)).limit(1)) is not None


def _renew(s: Any, sweep_id: int, me: str) -> bool:
    """Still this process's sweep to drive (its lease renewed), and running."""
    return s.execute(update(Sweep).where(Sweep.id == sweep_id, Sweep.driver == me, Sweep.status == "running")
                     .values(driven_at=clock(s)).execution_options(synchronize_session=False)).rowcount == 1


def _ask(settings: Settings, sweep_id: int, me: str) -> None:
    """Submit the asked trials without a run, then ask new ones while fewer than ``parallel`` are active and the
    budget is not spent, ``MAX_SUBMISSIONS`` at most per call (the next call goes on: a long call would outlive
    its lease and hold up its caller); finish a sweep whose trials are all done."""
    for _ in range(MAX_SUBMISSIONS):
        with writing(prepare(settings)) as s:
            if not _renew(s, sweep_id, me):
                return
            sweep = _get(s, sweep_id, lock=True)
            waiting = next((t for t in sweep.trials if t.state == "asked" and t.run_id is None), None)
            active = sum(t.state in ACTIVE_TRIALS for t in sweep.trials)
            done = sum(t.state in DONE_TRIALS for t in sweep.trials)
            if waiting is None and (active >= sweep.parallel or active + done >= sweep.n_trials):
                if active == 0 and done >= sweep.n_trials and not _winding_down(s, sweep):
                    sweep.status, sweep.finished_at = "finished", clock(s)
                return
            if waiting is None:
                space = SearchSpace.of(sweep.space, sweep.name)
                values = next_values(sweep.name, space, _records(s, sweep), sampler=sweep.sampler, seed=sweep.seed)
                waiting = SweepTrial(sweep_id=sweep.id, number=len(sweep.trials), params=values, state="asked")
                s.add(waiting)
            number, values = waiting.number, dict(waiting.params)
            config, data, options, name = sweep.config, sweep.dataset.name, sweep.options, sweep.name
        if not _submit(settings, sweep_id, me, name, number, config, data,
                       _with(RunOptions.from_stored(options), values)):
            return  # one refused submission per call: the next call (or the recovery loop) tries again


def _submit(settings: Settings, sweep_id: int, me: str, name: str, number: int, config: str, data: str,
            options: RunOptions) -> bool:
    """Submit a trial's run and record it, unless the sweep was stopped or the trial changed meanwhile (the run is
    then cancelled if this submission made it). A refused submission fails the trial, and ``REFUSED_IN_A_ROW`` of
    them stop the sweep (its dataset gone, say: every trial would fail the same way). False when not recorded."""
    try:
        result = submit(config, data, options, settings=settings)
    except SubmitError as exc:
        run_id, created, message = None, False, f"{SUBMISSION_REFUSED}: {exc}"
    else:
        run_id, message = next(iter(result.targets.values())), ""
        created = run_id in result.created
    with writing(prepare(settings)) as s:
        sweep = _get(s, sweep_id, lock=True)
        trial = s.get(SweepTrial, (sweep_id, number))
        current = _renew(s, sweep_id, me) and trial.state == "asked" and trial.run_id is None
        if current and run_id is None:
            trial.state, trial.message, trial.finished_at = "failed", message, clock(s)
            last = sorted((t for t in sweep.trials if t.state != "stopped"), key=lambda t: t.number)[-REFUSED_IN_A_ROW:]
            if len(last) == REFUSED_IN_A_ROW and all(t.message.startswith(SUBMISSION_REFUSED) for t in last):
                sweep.status = "stopped"
                log.warning("sweep %s stopped: %d submissions refused in a row (%s)", name, REFUSED_IN_A_ROW, message)
        elif current:
            trial.run_id, trial.state, trial.created_run = run_id, "running", created
            add_event(s, run_id, "trial", f"trial {number} of sweep {name}: {values_text(options.overrides)}")
    if not current and created:
        with contextlib.suppress(SubmitError):  # it ended meanwhile
            cancel(run_id, settings)
    return current and run_id is not None


# --------------------------------------------------------------------------------------- stopping, resuming

def stop_sweep(sweep_id: int, settings: Settings | None = None) -> list[int]:
    """Stop asking trials and cancel the running ones (each ``stopped``: asked again on resume), except a run other
    runs read or that the sweep did not make (``_owned``); returns the runs cancelled."""
    settings = settings or Settings.from_env()
    with writing(prepare(settings)) as s:
        sweep = _get(s, sweep_id, lock=True)
        if sweep.status != "running":
            raise SweepError(f"sweep {sweep_id} ({sweep.name}) is {sweep.status}, not running")
        sweep.status = "stopped"
        runs = []
        for trial in (t for t in sweep.trials if t.state in ACTIVE_TRIALS):
            if trial.run_id is not None and _owned(s, trial):  # another submission's run is left to run
                runs.append(trial.run_id)
            trial.state, trial.message = "stopped", "the sweep was stopped"
    cancelled = []
    for run_id in runs:
        try:
            cancel(run_id, settings)
            cancelled.append(run_id)
        except SubmitError:  # it ended meanwhile
            pass
    return cancelled


def resume_sweep(sweep_id: int, n_trials: int | None = None, settings: Settings | None = None) -> None:
    """Run a stopped or finished sweep again: its stopped trials are asked again with the same values (their runs
    start over), and ``n_trials`` raises its budget."""
    settings = settings or Settings.from_env()
    with writing(prepare(settings)) as s:
        sweep = _get(s, sweep_id, lock=True)
        if sweep.status == "running":
            raise SweepError(f"sweep {sweep_id} ({sweep.name}) is running")
        if n_trials is not None:
            kept = sum(t.state in (*DONE_TRIALS, "stopped") for t in sweep.trials)  # the stopped ones are asked again
            if not kept <= n_trials <= MAX_TRIALS:
                raise SweepError(f"--trials {n_trials}: between the trials done or to redo ({kept}) and {MAX_TRIALS}")
            sweep.n_trials = n_trials
        for trial in (t for t in sweep.trials if t.state == "stopped"):
            trial.state, trial.run_id, trial.message = "asked", None, ""
        sweep.status, sweep.finished_at = "running", None
    advance(sweep_id, settings, wait=5.0)  # a process still holding it from before the stop lets go at its next step


# -------------------------------------------------------------------------------------------------- reading

def _get(s: Any, ref: int | str, lock: bool = False) -> Sweep:
    """A sweep by id, or by name (an id given as text is an id)."""
    by_id = isinstance(ref, int) or str(ref).isdigit()
    query = select(Sweep).where(Sweep.id == int(ref) if by_id else Sweep.name == str(ref))
    sweep = s.scalar(query.with_for_update() if lock else query)
    if sweep is None:
        raise SweepError(f"no sweep {ref}")
    return sweep


def sweep_id_of(ref: str | int, settings: Settings | None = None) -> int:
    """A sweep's id from its id or name."""
    with reading(prepare(settings)) as s:
        return _get(s, ref).id


def summary(sweep: Sweep) -> dict[str, Any]:
    counts = {state: sum(t.state == state for t in sweep.trials) for state in ("running", "complete", "pruned",
                                                                              "failed", "stopped")}
    counts["running"] += sum(t.state == "asked" for t in sweep.trials)
    best = max((t for t in sweep.trials if t.state == "complete"), key=lambda t: t.value, default=None)
    return {"id": sweep.id, "name": sweep.name, "status": sweep.status, "config": sweep.config,
            "done": sum(t.state in DONE_TRIALS for t in sweep.trials),  # of the budget (stopped ones are asked again)
            "number": sweep.number, "slug": sweep.slug, "dataset": sweep.dataset.name, "n_trials": sweep.n_trials,
            "parallel": sweep.parallel, "sampler": sweep.sampler, "pruner": sweep.pruner, "space": sweep.space,
            "options": sweep.options, "note": sweep.note, "created_at": sweep.created_at.isoformat(),
            "finished_at": sweep.finished_at and sweep.finished_at.isoformat(), "trials_by_state": counts,
            "best": None if best is None else {"trial": best.number, "run": best.run_id, "value": best.value,
                                               "params": best.params}}


def list_sweeps(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every sweep, newest first."""
    with reading(prepare(settings)) as s:
        return [summary(sw) for sw in s.scalars(select(Sweep).order_by(Sweep.id.desc()))]


def show_sweep(ref: str | int, settings: Settings | None = None) -> dict[str, Any]:
    """A sweep with its trials: values, state, run (its status, step and scores), value, validate1 GAP by step."""
    with reading(prepare(settings)) as s:
        sweep = _get(s, ref)
        records = {r.number: r for r in _records(s, sweep)}
        runs = {r.id: r for r in s.scalars(select(Run).where(Run.id.in_([t.run_id for t in sweep.trials])))}
        trials = []
        for t in sweep.trials:
            run = runs.get(t.run_id)
            trials.append({"number": t.number, "params": t.params, "state": t.state, "value": t.value,
                           "step": t.step, "message": t.message, "run": t.run_id,
                           "run_status": run.status if run else None, "run_step": run.step if run else None,
                           "run_steps": run.steps if run else None,
                           "gap": {sc.split: sc.gap for sc in run.scores} if run else {},
                           "intermediate": sorted(records[t.number].intermediate.items()),
                           "created_at": t.created_at.isoformat(),
                           "finished_at": t.finished_at and t.finished_at.isoformat()})
        return {**summary(sweep), "trials": trials}


def study_of(info: dict[str, Any]) -> Any:
    """``show_sweep``'s dict as an Optuna study (the figures)."""
    records = [TrialRecord(t["number"], t["params"], t["state"], t["value"], dict(t["intermediate"]))
               for t in info["trials"]]
    return build_study(info["name"], SearchSpace.of(info["space"], info["name"]), records)


def save_best(ref: str | int, name: str, note: str = "", settings: Settings | None = None) -> Variant:
    """The best complete trial's configuration saved as variant ``name`` (the sweep's configuration with its fixed
    and drawn values), to launch or to add to an ensemble."""
    settings = settings or Settings.from_env()
    info = show_sweep(ref, settings)
    best = info["best"]
    if best is None:
        raise SweepError(f"sweep {info['name']} has no complete trial yet")
    about = (f"best trial {best['trial']} of sweep {info['name']} (run {best['run']}, {OBJECTIVE} GAP "
             f"{best['value']:.4f})")
    try:
        return save_variant(name, info["config"], {**info["options"].get("overrides", {}), **best["params"]},
                            note=(note + "\n" if note else "") + about, settings=settings)
    except VariantError as exc:
        raise SweepError(str(exc)) from None
