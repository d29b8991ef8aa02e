"""The tables: datasets, the 80 configurations (synced from the registry), saved variants of them, runs with
their progress, links between runs (ensemble members, teachers, cascade streams, a base checkpoint), metric
time series, final scores per split and artifacts.

A run is one job of the pipeline's DAG (``y8m_models.pipeline``): ``kind`` train, stack or merge, or a
predict of a trained run. ``key`` is the job's content hash: a run already succeeded (or on its way) with
the same key is reused instead of trained again. Timestamps are UTC, set on the Python side.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# A run's life: waiting (for the runs it reads) -> queued -> running -> succeeded | failed | cancelled.
# interrupted: its worker stopped (a recovery loop saw it); it is queued again and resumes from its checkpoint.
STATUSES = ("waiting", "queued", "running", "interrupted", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
ACTIVE = ("waiting", "queued", "running", "interrupted")
KINDS = ("train", "stack", "merge", "predict")
ROLES = ("init", "teacher", "stream", "previous", "member", "source")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on both databases (SQLite keeps no zone: stored naive UTC, read back aware)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the run store keeps UTC (use db.models.utcnow())")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Dataset(Base):
    """A registered directory of YT8M files (``frame/`` and/or ``video/`` with the Table 1 files)."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    num_classes: Mapped[int]
    # {level: {split: {"files": n, "records": n}}}
    splits: Mapped[dict[str, Any]]
    synthetic: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Configuration(Base):
    """One of the numbered configurations: the paper's 80 and those beyond it, #81 on (synced from
    ``y8m_models.configs`` at start-up)."""

    __tablename__ = "configurations"

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(Text)
    section: Mapped[str] = mapped_column(Text)
    paper_section: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))  # single, or the ensemble method
    level: Mapped[str | None] = mapped_column(String(10))
    paper_gap: Mapped[float | None]
    paper_private_gap: Mapped[float | None]


class Variant(Base):
    """A named configuration derived from one of the 80 (or a baseline): its base, the values it changes (dotted
    paths in the paper's units, relative to the base; ``y8m_models.configs.variants``), who saved it and when.
    Frozen (``frozen_by``: the first run that used it) once a run is submitted with it."""

    __tablename__ = "variants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    number: Mapped[int] = mapped_column(ForeignKey("configurations.number"))  # its base
    slug: Mapped[str] = mapped_column(String(200))  # the base's slug
    overrides: Mapped[dict[str, Any]]
    parent: Mapped[str | None] = mapped_column(String(64))  # the variant it was derived from
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    frozen_by: Mapped[int | None]  # the first run submitted with it (not a foreign key: runs reference variants)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_status", "status"), Index("ix_runs_key", "key"),
                      Index("ix_runs_number", "number"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(64))
    number: Mapped[int | None] = mapped_column(ForeignKey("configurations.number"))  # the configuration it completes
    slug: Mapped[str] = mapped_column(String(200))
    # The variant it completes, where one was submitted; its leaderboard row is the variant's, not the number's.
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id"), index=True)
    config: Mapped[dict[str, Any]]  # frozen at submission
    job: Mapped[dict[str, Any]]  # pipeline.job_spec: seed, epochs, splits, example weights, what it reads
    options: Mapped[dict[str, Any]]  # preset, max_steps, eval_every, device, ... (y8m train's options)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    preset: Mapped[str] = mapped_column(String(20))
    seed: Mapped[int]
    status: Mapped[str] = mapped_column(String(12), default="queued")
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    celery_id: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(200))  # host:pid of the process running it
    attempts: Mapped[int] = mapped_column(default=0)
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    step: Mapped[int] = mapped_column(default=0)
    steps: Mapped[int | None]
    loss: Mapped[float | None]
    examples_per_second: Mapped[float | None]
    # The weights it trains itself (a single model's; a stack's combiner's; 0 for a merge), counted at submission
    # at its preset and dataset; its size is these and those of every run it reads. None: submitted before.
    parameters: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    artifact_dir: Mapped[str] = mapped_column(Text, default="")  # relative to Y8M_ARTIFACTS
    # Its user's: labels to find it by (``worker.curation``), a note, and when it was archived (hidden from the
    # lists, kept with its artifacts and still read by the runs that read it).
    tags: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    archived_at: Mapped[datetime | None]

    dataset: Mapped[Dataset] = relationship(lazy="joined", innerjoin=True)
    variant: Mapped[Variant | None] = relationship(lazy="selectin")  # not joined: runs are locked FOR UPDATE
    scores: Mapped[list[Score]] = relationship(back_populates="run", cascade="all, delete-orphan",
                                               order_by="Score.split")
    inputs: Mapped[list[RunLink]] = relationship(foreign_keys="RunLink.run_id", cascade="all, delete-orphan",
                                                 order_by="(RunLink.role, RunLink.position)")

    def gap(self, split: str = "validate2") -> float | None:
        return next((s.gap for s in self.scores if s.split == split), None)


class RunLink(Base):
    """Run ``run_id`` reads run ``input_id`` as its ``role`` (member k, teacher, cascade stream k, ...)."""

    __tablename__ = "run_links"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    input_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)

    input: Mapped[Run] = relationship(foreign_keys=[input_id])


class RunEvent(Base):
    """What happened to a run, for its user: created, queued, started (where, which attempt), interrupted
    (whose worker stopped, at which step), cancel asked, and how it ended."""

    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")


class Metric(Base):
    """One point of a run's time series: ``name`` (loss, lr, examples_per_second, validate1/gap, ...) at
    ``step``. A resumed run that repeats steps overwrites its points (the key is run, name, step)."""

    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint("run_id", "name", "step", name="uq_metrics_run_name_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    step: Mapped[int]
    value: Mapped[float]


class Score(Base):
    """A finished run's scores on a split: validate1 at the selected checkpoint, validate2 (the paper's)."""

    __tablename__ = "scores"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    split: Mapped[str] = mapped_column(String(12), primary_key=True)
    gap: Mapped[float]
    hit_at_1: Mapped[float | None]
    perr: Mapped[float | None]
    map: Mapped[float | None]
    n_videos: Mapped[int | None]
    step: Mapped[int | None]

    run: Mapped[Run] = relationship(back_populates="scores")


class Artifact(Base):
    """A file or folder a run wrote: checkpoint, best, predictions (per split), attention (per split),
    stacking_weights, stack, example_weights, submission, metrics. ``path`` is relative to Y8M_ARTIFACTS."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("run_id", "kind", "split", name="uq_artifacts_run_kind_split"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    split: Mapped[str] = mapped_column(String(12), default="")
    path: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)  # a dense test split of the real data is ~6.6 GB
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# A sweep's life: running (trials asked and run) -> finished (its budget spent), or stopped (by its user; its running
# trials cancelled) and running again when resumed.
SWEEP_STATUSES = ("running", "stopped", "finished")
# A trial: asked (its values drawn; its run not yet submitted) -> running (its run on its way) -> complete (the run
# succeeded: its validate1 GAP is the trial's value) | pruned (stopped early by the pruner) | failed | stopped (the
# sweep was stopped; resumed, it is asked again).
TRIAL_STATES = ("asked", "running", "complete", "pruned", "failed", "stopped")


class Sweep(Base):
    """A search over a configuration's values (``worker.sweeps``): the configuration as asked (a number, slug or
    variant), the dataset and run options its trials share, the search space (``configs.space``), the budget of
    trials, how many run at once, the sampler and pruner. ``driver``/``driven_at``: the process advancing it now (a
    lease: one at a time; another takes over after ``LEASE_SECONDS``)."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    config: Mapped[str] = mapped_column(String(200))  # as asked: 25, a slug or a variant's name
    number: Mapped[int | None] = mapped_column(ForeignKey("configurations.number"))
    slug: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    options: Mapped[dict[str, Any]]  # RunOptions.stored(): what every trial's run shares
    space: Mapped[dict[str, Any]]  # SearchSpace.stored()
    n_trials: Mapped[int]
    parallel: Mapped[int]
    sampler: Mapped[str] = mapped_column(String(20))
    pruner: Mapped[dict[str, Any]]  # {"kind": "none" | "median" | "hyperband", and its settings}
    seed: Mapped[int]
    status: Mapped[str] = mapped_column(String(10), default="running")
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    driver: Mapped[str | None] = mapped_column(String(200))
    driven_at: Mapped[datetime | None]

    dataset: Mapped[Dataset] = relationship(lazy="joined", innerjoin=True)
    trials: Mapped[list[SweepTrial]] = relationship(back_populates="sweep", cascade="all, delete-orphan",
                                                    order_by="SweepTrial.number")


class SweepTrial(Base):
    """Trial ``number`` of a sweep: the values it drew (overrides), its state, its run, its value (the run's
    validate1 GAP at its selected checkpoint), the step it was pruned at and why, or why it failed."""

    __tablename__ = "sweep_trials"

    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    params: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(10), default="asked")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    # Its submission made the run (not reused): only such a run is pruned or cancelled by the sweep.
    created_run: Mapped[bool] = mapped_column(default=False)
    value: Mapped[float | None]
    step: Mapped[int | None]
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    sweep: Mapped[Sweep] = relationship(back_populates="trials")
