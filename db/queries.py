"""The queries the worker, the CLI and the dashboard share. Each takes a ``Session`` and never commits: the
caller owns the transaction (``with writing(engine) as s:``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from db.models import (
    ACTIVE,
    Artifact,
    Configuration,
    Dataset,
    Metric,
    Run,
    RunEvent,
    RunLink,
    Score,
    Variant,
    utcnow,
)


def _insert(session: Session, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT (both databases speak it)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def clock(session: Session) -> datetime:
    """Now, by the clock every machine shares: the database server's (PostgreSQL's ``now()``, aware UTC).
    Heartbeats are written and judged stale by it, so that two worker machines whose clocks differ do not take
    each other's live runs for dead. SQLite lives on this machine: its clock is this machine's."""
    if session.get_bind().dialect.name == "sqlite":
        return utcnow()
    return session.scalar(select(func.now())).astimezone(UTC)


# --------------------------------------------------------------------------------------- configurations

def sync_configurations(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or update the configurations (number, slug, title, section, paper_section, kind, level,
    paper_gap, paper_private_gap); returns how many rows were given."""
    rows = list(rows)
    if rows:
        stmt = _insert(session, Configuration).values(rows)
        columns = {c: stmt.excluded[c] for c in rows[0] if c != "number"}
        session.execute(stmt.on_conflict_do_update(index_elements=["number"], set_=columns))
    return len(rows)


def configurations(session: Session) -> list[Configuration]:
    return list(session.scalars(select(Configuration).order_by(Configuration.number)))


# --------------------------------------------------------------------------------------------- datasets

def dataset_named(session: Session, name: str) -> Dataset | None:
    return session.scalar(select(Dataset).where(Dataset.name == name))


def dataset_at(session: Session, path: str) -> Dataset | None:
    return session.scalar(select(Dataset).where(Dataset.path == path))


def datasets(session: Session) -> list[Dataset]:
    return list(session.scalars(select(Dataset).order_by(Dataset.name)))


# ------------------------------------------------------------------------------------------------- runs

def reusable_run(session: Session, key: str, dataset_id: int) -> Run | None:
    """The newest run with this content hash on this dataset that succeeded or is on its way (a job of that
    hash is then not run again)."""
    return session.scalar(select(Run).where(Run.key == key, Run.dataset_id == dataset_id,
                                            Run.status.in_(("succeeded", *ACTIVE)), Run.cancel_requested.is_(False))
                          .order_by(Run.id.desc()).limit(1))


def runs_query(status: Sequence[str] | None = None, configs: Sequence[Any] | None = None,
               dataset_id: int | None = None, archived: bool | None = None) -> Select[tuple[Run]]:
    """The runs, newest first, of these statuses, configurations (paper numbers, slugs for the baselines
    without one, variants: ``parse_configs``' items), dataset and archiving; None: any."""
    query = select(Run).order_by(Run.id.desc())
    if archived is not None:
        query = query.where(Run.archived_at.is_not(None) if archived else Run.archived_at.is_(None))
    if status:
        query = query.where(Run.status.in_(status))
    if configs:
        numbers, slugs = [c for c in configs if isinstance(c, int)], [c for c in configs if isinstance(c, str)]
        names = [c.name for c in configs if not isinstance(c, int | str)]
        query = query.where(or_(Run.number.in_(numbers), Run.slug.in_(slugs),
                                Run.variant_id.in_(select(Variant.id).where(Variant.name.in_(names)))))
    if dataset_id is not None:
        query = query.where(Run.dataset_id == dataset_id)
    return query


def ready_runs(session: Session) -> list[Run]:
    """Waiting runs whose inputs have all succeeded."""
    source = aliased(Run)
    unfinished = (select(RunLink.run_id).join(source, RunLink.input_id == source.id)
                  .where(RunLink.run_id == Run.id, source.status != "succeeded"))
    return list(session.scalars(select(Run).where(Run.status == "waiting", ~exists(unfinished))
                                .order_by(Run.id)))


def readers(session: Session, run_ids: Iterable[int]) -> list[Run]:
    """The unfinished runs that read any of ``run_ids``, directly or through other runs."""
    found: dict[int, Run] = {}
    frontier = set(run_ids)
    while frontier:
        rows = session.scalars(select(Run).join(RunLink, RunLink.run_id == Run.id)
                               .where(RunLink.input_id.in_(frontier), Run.status.in_(ACTIVE))).unique()
        frontier = set()
        for run in rows:
            if run.id not in found:
                found[run.id] = run
                frontier.add(run.id)
    return sorted(found.values(), key=lambda r: r.id)


def add_event(session: Session, run_id: int, event: str, message: str = "") -> None:
    session.add(RunEvent(run_id=run_id, event=event, message=message))


def events(session: Session, run_id: int) -> list[RunEvent]:
    return list(session.scalars(select(RunEvent).where(RunEvent.run_id == run_id).order_by(RunEvent.id)))


def set_status(session: Session, run_id: int, new: str, *, expected: Sequence[str],
               match: dict[str, Any] | None = None, **values: Any) -> bool:
    """Move a run to ``new`` only from one of the ``expected`` statuses and while its columns still hold
    ``match`` (e.g. the worker that runs it): a guarded UPDATE, so of two processes making the same move one
    wins; True when this one did."""
    guard = [getattr(Run, column) == value for column, value in (match or {}).items()]
    result = session.execute(update(Run).where(Run.id == run_id, Run.status.in_(expected), *guard)
                             .values(status=new, **values).execution_options(synchronize_session=False))
    if result.rowcount == 1:
        add_event(session, run_id, new, values.get("error") or "")
        return True
    return False


# --------------------------------------------------------------------------------- metrics, scores, files

def upsert_metrics(session: Session, run_id: int, points: Iterable[tuple[str, int, float]]) -> int:
    """Points (name, step, value); a point already there (a resumed run repeating steps) is overwritten, and
    of points repeated within ``points`` the last counts (PostgreSQL refuses one INSERT touching a row twice).
    Written in chunks (PostgreSQL takes at most 65,535 parameters a statement)."""
    latest = {(n, s): v for n, s, v in points}
    rows = [{"run_id": run_id, "name": n, "step": s, "value": v} for (n, s), v in latest.items()]
    for lo in range(0, len(rows), 5000):
        stmt = _insert(session, Metric).values(rows[lo:lo + 5000])
        session.execute(stmt.on_conflict_do_update(index_elements=["run_id", "name", "step"],
                                                   set_={"value": stmt.excluded.value}))
    return len(rows)


def metric_series(session: Session, run_id: int,
                  names: Sequence[str] | None = None) -> dict[str, list[tuple[int, float]]]:
    query = select(Metric.name, Metric.step, Metric.value).where(Metric.run_id == run_id).order_by(Metric.step)
    if names:
        query = query.where(Metric.name.in_(names))
    out: dict[str, list[tuple[int, float]]] = {}
    for name, step, value in session.execute(query):
        out.setdefault(name, []).append((step, value))
    return out


def metric_count(session: Session, run_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Metric).where(Metric.run_id == run_id)) or 0


def set_scores(session: Session, run_id: int, scores: dict[str, dict[str, Any]]) -> None:
    """The run's final scores per split (replacing any from an earlier attempt)."""
    for split, values in scores.items():
        stmt = _insert(session, Score).values(run_id=run_id, split=split, **values)
        session.execute(stmt.on_conflict_do_update(index_elements=["run_id", "split"],
                                                   set_={k: stmt.excluded[k] for k in values}))


def set_artifacts(session: Session, run_id: int, files: Iterable[tuple[str, str, str, int]]) -> None:
    """Artifacts (kind, split or "", path relative to Y8M_ARTIFACTS, bytes), replacing those recorded."""
    for kind, split, path, size in files:
        stmt = _insert(session, Artifact).values(run_id=run_id, kind=kind, split=split, path=path, bytes=size)
        session.execute(stmt.on_conflict_do_update(index_elements=["run_id", "kind", "split"],
                                                   set_={"path": stmt.excluded.path, "bytes": stmt.excluded.bytes}))


def artifacts(session: Session, run_id: int) -> list[Artifact]:
    return list(session.scalars(select(Artifact).where(Artifact.run_id == run_id)
                                .order_by(Artifact.kind, Artifact.split)))


def stale_runs(session: Session, before: datetime) -> list[Run]:
    """Running runs whose last heartbeat is older than ``before``."""
    return list(session.scalars(select(Run).where(Run.status == "running", Run.heartbeat_at < before)))


# ------------------------------------------------------------------------------------------ the dashboard

def best_scores(session: Session, variants: bool = False) -> list[tuple[int, int, str, float, int]]:
    """(configuration number, dataset id, split, best GAP, the run that has it) over succeeded runs that
    complete a configuration (predict and archived runs excluded) and no variant; ``variants``: (variant id, ...)
    over the runs that complete a variant."""
    owner = Run.variant_id if variants else Run.number
    rows = session.execute(
        select(owner, Run.dataset_id, Score.split, Score.gap, Run.id).join(Score, Score.run_id == Run.id)
        .where(owner.is_not(None), Run.variant_id.is_not(None) if variants else Run.variant_id.is_(None),
               Run.status == "succeeded", Run.kind != "predict", Run.archived_at.is_(None))).all()
    best: dict[tuple[int, int, str], tuple[float, int]] = {}
    for number, dataset_id, split, gap, run_id in rows:
        key = (number, dataset_id, split)
        if key not in best or gap > best[key][0]:
            best[key] = (gap, run_id)
    return [(n, d, s, gap, run_id) for (n, d, s), (gap, run_id) in sorted(best.items())]


def sizes(session: Session, run_ids: Iterable[int]) -> dict[int, int | None]:
    """Each run's size in parameters: those it trains itself and those of every run whose predictions it needs
    to predict, directly or not (a stack's members, a cascade's streams, and theirs; not a distillation's
    teacher, nor the base a bagging member continues: the trained model holds its own copy); None where one of
    them was submitted before runs counted their parameters."""
    wanted = set(run_ids)
    if not wanted:
        return {}
    own = dict(session.execute(select(Run.id, Run.parameters)).all())
    reads: dict[int, list[int]] = {}
    for run_id, input_id in session.execute(select(RunLink.run_id, RunLink.input_id)
                                            .where(RunLink.role.in_(("member", "stream")))).all():
        reads.setdefault(run_id, []).append(input_id)
    out: dict[int, int | None] = {}
    for run_id in wanted:
        seen, todo = set(), [run_id]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(reads.get(current, ()))
        counts = [own.get(r) for r in seen]
        out[run_id] = None if any(c is None for c in counts) else sum(counts)
    return out


def run_counts(session: Session, variants: bool = False) -> dict[int, int]:
    """Runs per configuration number that complete no variant (any status; predict runs excluded);
    ``variants``: per variant id."""
    owner = Run.variant_id if variants else Run.number
    rows = session.execute(select(owner, func.count())
                           .where(owner.is_not(None), Run.variant_id.is_not(None) if variants else
                                  Run.variant_id.is_(None), Run.kind != "predict").group_by(owner)).all()
    return {number: count for number, count in rows}


def variant_named(session: Session, name: str, lock: bool = False) -> Variant | None:
    """The variant of that name; ``lock``: its row locked until the transaction ends (PostgreSQL; SQLite's
    writers are one at a time already), for a write decided on what it holds."""
    query = select(Variant).where(Variant.name == name)
    return session.scalar(query.with_for_update() if lock else query)


def variants(session: Session) -> list[Variant]:
    """Every saved variant, by base number and name."""
    return list(session.scalars(select(Variant).order_by(Variant.number, Variant.name)))


def runs_with_artifact(session: Session, kind: str) -> list[tuple[int, int | None, str, str | None, str, str, str,
                                                                    str, str]]:
    """(run id, number, slug, variant name, run folder, dataset name, dataset path, artifact split, artifact path)
    of the succeeded runs holding artifacts of ``kind`` (attention dumps, stacking weights), newest first; one row per
    artifact, in one query (the pages list thousands)."""
    return list(session.execute(
        select(Run.id, Run.number, Run.slug, Variant.name, Run.artifact_dir, Dataset.name, Dataset.path,
               Artifact.split, Artifact.path)
        .join(Artifact, Artifact.run_id == Run.id).join(Dataset, Dataset.id == Run.dataset_id)
        .outerjoin(Variant, Variant.id == Run.variant_id)
        .where(Artifact.kind == kind, Run.status == "succeeded").order_by(Run.id.desc(), Artifact.split)).all())
