"""Configuration numbers -> the DAG of runs they need -> those runs, in dependency order (paper §6-§8).

A configuration is one **job** (a single model: ``train``), or several: bagging and boosting train a base and
``count`` members and stack them; stacking trains its members (configurations of their own, or inline
models) and a combiner on train2 (``stack``); #80 merges two ensembles (``merge``). Distillation and cascade
models read other configurations' predictions, so those come first: #47 needs #75, which needs #2, #10, #18
and #25.

Every job is identified by a content hash of what determines its result: its kind, frozen configuration,
preset, dataset, seed, epochs, step cap, example-weight rule, and the hashes of the jobs it reads. Its
directory is ``OUT/<slug>-<hash>``; a job whose ``done.json`` exists is reused, so a 74-member ensemble never
retrains a shared member, and an interrupted ``reproduce`` resumes (a half-trained run from its checkpoint).

Which predictions a job writes follows from its consumers: stacking reads its members on train2 and
validate2 (and whatever its own consumers read); a distillation teacher is read on train1; cascade streams
on every split their consumer trains, validates and predicts on; boosting reads each member on train1 (its
errors weight the next member). Every configuration asked for is scored on validate2 (the paper's GAPs).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from y8m_models import atomic
from y8m_models.architectures import cascade_streams
from y8m_models.configs import ConfigError, Configuration, resolve
from y8m_models.configs.registry import single_model_dicts
from y8m_models.configs.schema import (
    ADDED_LATER,
    Ensemble,
    Lookup,
    NamedModel,
    RunMember,
    SingleModel,
    Variant,
    VariantMember,
)
from y8m_models.configs.variants import target_key
from y8m_models.options import RunOptions

Kind = Literal["train", "stack", "merge"]
DONE = "done.json"


@dataclass
class Job:
    """One run of the DAG. ``config``: a single-model configuration (train) or the ensemble's (stack, merge)."""

    key: str
    kind: Kind
    config: Configuration
    seed: int
    number: int | None = None  # the configuration this job completes, where it completes one
    epochs: float | None = None  # train: None = the configuration's; with ``init``: the epochs added
    init: Job | None = None  # train: continue this job's checkpoint (bagging/boosting members)
    teacher: Job | None = None
    streams: tuple[Job, ...] = ()
    weights: tuple[Any, ...] | None = None  # ("bootstrap", seed) or ("boosting", previous member, rule)
    members: tuple[Job, ...] = ()
    splits: set[str] = field(default_factory=set)
    variant: Variant | None = None  # the saved variant this job runs as itself, where it runs one
    finished: int | None = None  # a finished run of the run store this job is (a {"run": ID} member)

    @property
    def name(self) -> str:
        return f"{self.config.slug}-{self.key}"

    @property
    def previous(self) -> Job | None:
        """Boosting: the member before this one, whose train1 errors weight this one's examples (Eq. 6)."""
        return self.weights[1] if self.weights and self.weights[0] == "boosting" else None

    @property
    def inputs(self) -> list[Job]:
        return [j for j in (self.init, self.teacher) if j] + [*self.streams, *filter(None, [self.previous]),
                                                               *self.members]

    def predicting(self) -> list[Job]:
        """This job and every job whose predictions it needs to predict, directly or not: a stack's members, a
        cascade's streams, and theirs; not a distillation's teacher, nor the base a bagging member continues (the
        trained model holds its own copy). What a submitted model holds (``db.queries.sizes`` over stored runs)."""
        seen: dict[str, Job] = {}
        todo: list[Job] = [self]
        while todo:
            job = todo.pop()
            if job.key not in seen:
                seen[job.key] = job
                todo.extend([*job.streams, *job.members])
        return list(seen.values())


@dataclass
class Plan:
    """The jobs in dependency order, and the final job of every configuration asked for (by paper number,
    baseline slug or variant name: ``configs.variants.target_key``)."""

    jobs: list[Job]
    targets: dict[int | str, Job]


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _hashed(frozen: dict[str, Any]) -> dict[str, Any]:
    """A configuration's dump as its content hash reads it: without the fields added later while they hold their
    defaults (``schema.ADDED_LATER``), so the keys of runs stored before those fields existed stand."""
    for model, _ in single_model_dicts(frozen):
        for path, default in ADDED_LATER.items():
            *parents, name = path.split(".")
            node = model
            for part in parents:
                node = node.get(part, {})
            if node.get(name, default) == default:
                node.pop(name, None)
    return frozen


def _member_config(ensemble: Configuration, model: SingleModel, label: str, title: str) -> Configuration:
    """A member as a configuration of its own (no paper number: it is not one of the 80)."""
    fields = {k: v for k, v in model.model_dump().items() if k not in ("label", "title")}
    slug = f"{ensemble.slug}_{label}".replace(".", "_")
    return Configuration(slug=slug, title=title, section=ensemble.section, paper_section=ensemble.paper_section,
                         model=SingleModel.model_validate(fields))


@dataclass(frozen=True)
class Refs:
    """How the references a configuration may hold are looked up: a saved variant by name (``{"variant":
    NAME}``), a finished run by id, as the job it was (``{"run": ID}``). None: such a reference is an error."""

    variant: Lookup | None = None
    run: Callable[[int], Job] | None = None


class _Planner:
    def __init__(self, preset: str, data: Path, seed: int, as_in_code: bool, max_steps: int | None,
                 refs: Refs = Refs()):
        self.preset, self.data, self.seed, self.as_in_code, self.max_steps = preset, data, seed, as_in_code, max_steps
        self.refs, self.reading = refs, []  # reading: the variants being planned, inside one another
        self.jobs: dict[str, Job] = {}
        self.by_number: dict[int | str, Job] = {}  # paper number, or a baseline's slug

    def _variant(self, name: str) -> Variant:
        found = self.refs.variant(name) if self.refs.variant else None
        if found is None:
            raise ConfigError(f"variant {name!r} is not saved" + ("" if self.refs.variant else
                                                                  " (variants are read from the run store)"))
        return found

    def _read(self, ref: int | VariantMember | RunMember) -> Job:
        """The job of a configuration another reads (a member, teacher or stream): by number, variant or run."""
        if isinstance(ref, VariantMember):
            return self.configuration(self._variant(ref.variant))
        if isinstance(ref, RunMember):
            if self.refs.run is None:
                raise ConfigError(f"run {ref.run} as a member: finished runs are read from the run store")
            job = self.refs.run(ref.run)
            return self.jobs.setdefault(job.key, job)
        return self.configuration(ref)

    def _add(self, kind: Kind, config: Configuration, **inputs: Any) -> Job:
        """The job, created once per content hash (a shared member is one job)."""

        def ref(value: Any) -> Any:  # jobs enter the hash by their own hashes
            if isinstance(value, Job):
                return value.key
            if isinstance(value, tuple):
                return [ref(v) for v in value]
            return value

        frozen = _hashed(config.model_dump(mode="json", exclude={"notes", "title", "paper_gap", "paper_private_gap",
                                                                 "validate1_gap"}))
        key = _key(kind, frozen, self.preset, str(self.data), self.seed, self.max_steps,
                   {k: ref(v) for k, v in inputs.items()})
        if key not in self.jobs:
            self.jobs[key] = Job(key, kind, config, **{"seed": self.seed, **inputs})
        return self.jobs[key]

    def configuration(self, number: int | str | Variant, overrides: dict[str, Any] | None = None,
                      epochs: float | None = None) -> Job:
        """Configuration ``number``'s final job (a paper number, a Table 2 baseline's slug, or a variant: its
        base with its values); ``overrides`` (``--set``) and ``epochs`` change this one job (a single model's),
        not the configurations it reads."""
        if isinstance(number, Variant):
            if number.name in self.reading:
                raise ConfigError(f"variant {number.name!r} reads itself: {' -> '.join([*self.reading, number.name])}")
            self.reading.append(number.name)
            try:
                job = self.configuration(number.base, {**number.overrides, **(overrides or {})}, epochs)
            finally:
                self.reading.pop()
            if not overrides and epochs is None:  # with more changes on top it is not the variant
                job.variant = job.variant or number
            return job
        changed = bool(overrides) or epochs is not None
        if number in self.by_number and not changed:
            return self.by_number[number]
        config = resolve(number, self.preset, self.as_in_code, overrides)
        if config.model is not None:
            job = self._single(config, **({"epochs": epochs} if epochs is not None else {}))
        elif epochs is not None:
            raise ConfigError(f"--epochs applies to single models; {config.name} is an ensemble (its members' "
                              "epochs are ensemble.member_epochs)")
        else:
            job = self._ensemble(config, config.ensemble)
        job.number = job.number or config.number  # None for a baseline
        if not changed:
            self.by_number[number] = job
        return job

    def _single(self, config: Configuration, **inputs: Any) -> Job:
        model = config.model
        if model.distillation is not None:
            inputs["teacher"] = self._read(model.distillation.teacher)
        if model.cascade is not None:  # in batch["cascade"]'s order
            inputs["streams"] = tuple(self._read(n) for n in cascade_streams(model.cascade))
        return self._add("train", config, **inputs)

    def _member(self, config: Configuration, member: int | NamedModel | VariantMember,
                distillation: Any = None) -> Configuration:
        if isinstance(member, NamedModel):
            model, label, title = member, member.label.split(".")[-1], member.title
        else:
            variant = self._variant(member.variant) if isinstance(member, VariantMember) else None
            named = variant.label if variant else f"#{member}"
            model = (resolve(variant.base, self.preset, self.as_in_code, variant.overrides) if variant else
                     resolve(member, self.preset, self.as_in_code)).model
            if model is None:
                raise ConfigError(f"{config.name}: its member {named} is an ensemble; bagging and boosting train a "
                                  "single model")
            label = "v_" + re.sub(r"[^a-z0-9_]", "_", variant.name) if variant else f"m{member}"
            title = f"{named} as a member of {config.name}"
        if distillation is not None:
            model = model.model_copy(update={"distillation": distillation})
        return _member_config(config, model, label, title)

    def _ensemble(self, config: Configuration, ens: Ensemble) -> Job:
        if ens.method == "merge":
            return self._add("merge", config, members=tuple(self._read(m) for m in ens.members))
        if ens.method == "stacking":
            members = tuple(self._single(self._member(config, m)) if isinstance(m, NamedModel) else self._read(m)
                            for m in ens.members)
            return self._add("stack", config, members=members)
        member = self._member(config, ens.member, ens.distillation)
        base = self._single(member, epochs=ens.base_epochs) if ens.base_epochs else None
        jobs: list[Job] = []
        for k in range(1, ens.count + 1):
            if ens.method == "bagging":
                weights = ("bootstrap", self.seed * 1000 + k) if ens.bootstrap else None
            else:  # boosting: member 1 trains under W_0 = 1, member k + 1 under member k's errors
                weights = ("boosting", jobs[-1], ens.reweighting.model_dump()) if jobs else None
            labelled = member.model_copy(update={"slug": f"{member.slug}_{k}", "title": f"{member.title}, member {k}"})
            jobs.append(self._single(labelled, init=base, epochs=ens.member_epochs if base else None,
                                     weights=weights, seed=self.seed * 1000 + k))
        return self._add("stack", config, members=tuple(jobs))


def plan(numbers: list[int | str | Variant], data: Path, options: RunOptions = RunOptions(), *,
         test_split: bool = True, refs: Refs = Refs()) -> Plan:
    """The jobs configurations ``numbers`` need, producers before consumers, with the splits each predicts, at
    the options' preset, seed, code values and step cap. The options' ``overrides`` and ``epochs`` apply to the
    configurations asked for, not to those they read. ``refs``: where the variants and finished runs that
    configurations name are looked up."""
    planner = _Planner(options.preset, data.resolve(), options.seed, options.as_in_code, options.max_steps, refs)
    targets = {target_key(n): planner.configuration(n, options.overrides or None, options.epochs) for n in numbers}
    order = list(planner.jobs.values())  # creation order: every job after the jobs it reads
    for job in targets.values():
        job.splits |= {"validate2", "test"} if test_split else {"validate2"}
    for job in reversed(order):  # consumers first: what they read, their producers predict
        for member in job.members:
            member.splits |= job.splits | ({"train2", "validate2"} if job.kind == "stack" else set())
        if job.teacher:
            job.teacher.splits.add("train1")
        for stream in job.streams:
            stream.splits |= {"train1", "validate1"} | job.splits
        if job.previous:
            job.previous.splits.add("train1")
    for job in order:
        # A stack or merge predicts only the splits its readers need, so those are part of what it is: #75
        # planned alone (validate2, test) is another job than #75 as #47's cascade input (train1, validate1
        # too); both reuse the same members. A training run reused without a split predicts it on demand
        # (``Executor.stored``), so its hash leaves the splits out.
        if job.kind != "train" and job.finished is None:  # a finished run keeps the key it has
            job.key = _key(job.key, sorted(job.splits))
    return Plan(order, targets)


def job_spec(job: Job) -> dict[str, Any]:
    """A job as JSON (a worker's database row): what it runs and, by role, the keys of the jobs it reads."""
    weights = job.weights
    if weights and weights[0] == "boosting":
        weights = ("boosting", weights[1].key, weights[2])
    return {"key": job.key, "kind": job.kind, "config": job.config.model_dump(mode="json"), "seed": job.seed,
            "number": job.number, "epochs": job.epochs, "splits": sorted(job.splits),
            "weights": list(weights) if weights else None,
            "inputs": {"init": job.init.key if job.init else None,
                      "teacher": job.teacher.key if job.teacher else None,
                      "streams": [j.key for j in job.streams], "members": [j.key for j in job.members],
                      "previous": job.previous.key if job.previous else None}}


def job_from_spec(spec: dict[str, Any], jobs: dict[str, Job] | None = None) -> Job:
    """``job_spec``'s inverse. ``jobs``: the jobs it reads, by key; None gives a job without its inputs (enough
    to name its folder, as the jobs a worker's run reads are used)."""

    def get(key: str | None) -> Job | None:
        return None if key is None or jobs is None else jobs[key]

    inputs, weights = spec.get("inputs", spec.get("reads")), spec["weights"]  # "reads": written before
    if weights and weights[0] == "boosting":
        weights = ("boosting", get(weights[1]), weights[2]) if jobs is not None else None
    return Job(spec["key"], spec["kind"], Configuration.model_validate(spec["config"]), spec["seed"],
               number=spec["number"], epochs=spec["epochs"], init=get(inputs["init"]), teacher=get(inputs["teacher"]),
               streams=tuple(get(k) for k in inputs["streams"]) if jobs is not None else (),
               weights=tuple(weights) if weights else None,
               members=tuple(get(k) for k in inputs["members"]) if jobs is not None else (),
               splits=set(spec["splits"]))


def describe(p: Plan) -> list[dict[str, Any]]:
    """The plan as JSON-able rows (for ``--dry-run`` and the tests)."""
    return [{"job": j.name, "kind": j.kind, "number": j.number, "inputs": [d.name for d in j.inputs],
             "splits": sorted(j.splits)} for j in p.jobs]


def run_plan(p: Plan, out: Path, execute: Callable[[Job, Path], dict[str, Any]],
             log: Callable[[str], None] = print) -> dict[int | str, dict[str, Any]]:
    """Run every job not yet done, in order; ``execute(job, job_dir)`` returns its results (GAP per split),
    kept in ``done.json``. Returns each target configuration's results."""
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for i, job in enumerate(p.jobs, 1):
        folder = out / job.name
        done = folder / DONE
        if done.exists():
            results[job.key] = json.loads(done.read_text())
            log(f"[{i}/{len(p.jobs)}] {job.name}: done before, reused")
            continue
        log(f"[{i}/{len(p.jobs)}] {job.name}: {job.kind} ...")
        folder.mkdir(exist_ok=True)
        results[job.key] = execute(job, folder)
        atomic.write_text(done, json.dumps(results[job.key], indent=1))
    return {n: results[job.key] for n, job in p.targets.items()}
