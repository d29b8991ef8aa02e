"""Keeping the run store tidy: tags and a note on runs, archiving (hidden from the lists, kept whole), deleting a run
with its artifacts, and finding runs by tag, text and configuration values (``model.training.learning_rate<0.001``).

Deleting never breaks what is kept: a run another run reads (an ensemble's member, a teacher, a cascade's stream, a
predict run's source) is deleted only together with its readers, a run a saved variant names as a member is not
deleted, and an active run is refused (cancel it first).
The rows go in one transaction, then the folder: a failure leaves the whole run, or a folder nothing reads (named).
"""

from __future__ import annotations

import json
import operator
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, or_, select, update

from db.engine import writing
from db.models import ACTIVE, Run, RunLink, SweepTrial, utcnow
from db.queries import add_event, variants
from db.settings import Settings
from worker.store import prepare
from worker.variants import references, variant_of_row
from y8m_models.configs.registry import MISSING, get_path

TAG = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,39}")
MAX_TAGS, MAX_NOTE = 20, 10_000
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {"<=": operator.le, ">=": operator.ge, "!=": operator.ne,
                                                    "<": operator.lt, ">": operator.gt, "=": operator.eq}


class CurationError(ValueError):
    """A tag, note, archive, delete or filter refused; the message names the run, tag or expression."""


def _runs(s: Any, run_ids: Iterable[int], lock: bool = False) -> list[Run]:
    ids = sorted(set(run_ids))
    query = select(Run).where(Run.id.in_(ids))
    found = {r.id: r for r in s.scalars(query.with_for_update() if lock else query)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise CurationError(f"no run {', '.join(map(str, missing))}")
    return [found[i] for i in ids]


# ---------------------------------------------------------------------------------------------- tags, note

def check_tags(tags: Iterable[str]) -> list[str]:
    """Tags as given, checked: 1 to 40 of a-z 0-9 _ . : -, starting with a letter or digit."""
    out = []
    for tag in tags:
        if not TAG.fullmatch(tag):
            raise CurationError(f"tag {tag!r}: 1 to 40 of a-z 0-9 _ . : -, starting with a letter or digit")
        out.append(tag)
    return out


def tag_runs(run_ids: Sequence[int], add: Sequence[str] = (), remove: Sequence[str] = (),
             settings: Settings | None = None) -> dict[int, list[str]]:
    """Add and remove tags on runs; returns each run's tags."""
    add, remove = check_tags(add), check_tags(remove)
    with writing(prepare(settings)) as s:
        out = {}
        for run in _runs(s, run_ids, lock=True):
            tags = [t for t in run.tags if t not in remove] + [t for t in add if t not in run.tags]
            if len(tags) > MAX_TAGS:
                raise CurationError(f"run {run.id}: {len(tags)} tags, more than {MAX_TAGS}")
            run.tags = sorted(set(tags))
            out[run.id] = run.tags
        return out


def set_note(run_id: int, note: str, settings: Settings | None = None) -> None:
    """A run's note, replaced (empty: none)."""
    if len(note) > MAX_NOTE:
        raise CurationError(f"run {run_id}: a note of {len(note):,} characters, more than {MAX_NOTE:,}")
    with writing(prepare(settings)) as s:
        (run,) = _runs(s, [run_id], lock=True)
        run.note = note


# ------------------------------------------------------------------------------------------------ archiving

def archive_runs(run_ids: Sequence[int], archived: bool = True, settings: Settings | None = None) -> list[int]:
    """Archive finished runs (hidden from the lists unless asked for; kept whole, still read by their readers), or
    bring them back; returns the runs changed."""
    with writing(prepare(settings)) as s:
        runs = _runs(s, run_ids, lock=True)
        active = [r.id for r in runs if r.status in ACTIVE]
        if active and archived:
            raise CurationError(f"run {', '.join(map(str, active))} is not finished: cancel it or let it end first")
        changed = [r.id for r in runs if (r.archived_at is None) == archived]
        for run in runs:
            if run.id in changed:
                run.archived_at = utcnow() if archived else None
                add_event(s, run.id, "archived" if archived else "unarchived")
        return changed


# ------------------------------------------------------------------------------------------------- deleting

@dataclass(frozen=True)
class Deletion:
    """What ``delete_runs`` removed (or, with ``dry_run``, would remove): the runs, their folders and bytes."""

    runs: list[int]
    folders: list[str]
    bytes: int


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def delete_runs(run_ids: Sequence[int], dry_run: bool = False, settings: Settings | None = None) -> Deletion:
    """Delete finished runs with their rows (scores, metrics, events, artifacts, links) and folders. Refused, with
    nothing removed, for an active run or a run that a run not being deleted reads (it names the reader and how it
    reads it). A sweep's trial keeps its values and value, without its run. The rows go first, in one transaction;
    then the folders (a process killed in between leaves a folder nothing reads, never a run without its folder)."""
    settings = settings or Settings.from_env()
    with writing(prepare(settings)) as s:
        runs = _runs(s, run_ids, lock=True)
        ids = {r.id for r in runs}
        active = [r.id for r in runs if r.status in ACTIVE]
        if active:
            raise CurationError(f"run {', '.join(map(str, active))} is not finished: cancel it first "
                                "(`y8m runs cancel`)")
        for link in s.scalars(select(RunLink).where(RunLink.input_id.in_(ids), RunLink.run_id.not_in(ids))):
            raise CurationError(f"run {link.input_id} is read by run {link.run_id} (as {link.role} {link.position}): "
                                f"delete run {link.run_id} with it, or keep both")
        for variant in (variant_of_row(v) for v in variants(s)):
            named = sorted(ids & set(references(variant)[1]))
            if named:
                raise CurationError(f"run {named[0]} is a member of variant {variant.name!r}: delete the variant's "
                                    "use of it first (save the ensemble again without it), or keep the run")
        folders = [settings.artifacts / r.artifact_dir for r in runs if r.artifact_dir]
        if not dry_run:
            s.execute(update(SweepTrial).where(SweepTrial.run_id.in_(ids), SweepTrial.state.in_(("asked", "running")))
                      .values(state="failed", message="its run was deleted", finished_at=utcnow())
                      .execution_options(synchronize_session=False))
            s.execute(update(SweepTrial).where(SweepTrial.run_id.in_(ids)).values(run_id=None)
                      .execution_options(synchronize_session=False))
            s.execute(delete(RunLink).where(or_(RunLink.run_id.in_(ids), RunLink.input_id.in_(ids)))
                      .execution_options(synchronize_session=False))
            # its scores, metrics, events and artifacts go with it (ON DELETE CASCADE)
            s.execute(delete(Run).where(Run.id.in_(ids)).execution_options(synchronize_session=False))
    present = [f for f in folders if f.exists()]  # measured outside the transaction: no lock held while walking
    deletion = Deletion(sorted(ids), [str(f) for f in present], sum(map(_size, present)))
    if not dry_run:
        for folder in present:
            shutil.rmtree(folder, ignore_errors=True)
        left = [str(f) for f in present if f.exists()]
        if left:
            raise CurationError(f"run {', '.join(map(str, sorted(ids)))} deleted, but {', '.join(left)} could not be "
                                "removed (permissions?): nothing reads it now, remove it by hand")
    return deletion


# -------------------------------------------------------------------------------------------------- finding

@dataclass(frozen=True)
class ValueFilter:
    """``key OP value`` on a run's frozen configuration (``model.training.learning_rate<0.001``) or on its ``seed``,
    ``preset``, ``dataset``, ``status`` or ``kind``; OP one of < <= > >= = !=. A run without the key does not
    match."""

    key: str
    op: str
    value: Any
    raw: str = ""  # the value as written

    @classmethod
    def parse(cls, text: str) -> ValueFilter:
        found = re.fullmatch(r"\s*([A-Za-z0-9_.]+)\s*(<=|>=|!=|<|>|=)\s*(.+?)\s*", text)
        if not found:
            raise CurationError(f"{text!r}: write key OP value, OP one of < <= > >= = != "
                                "(e.g. model.training.learning_rate<0.001, seed=0)")
        key, op, raw = found.groups()
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        return cls(key, op, value, raw)

    def matches(self, config: dict[str, Any]) -> bool:
        have = get_path(config, self.key)
        if have is MISSING:
            return False
        wanted = self.raw if isinstance(have, str) else self.value  # a dataset named 2018 is text, not a number
        try:
            return bool(OPERATORS[self.op](have, wanted))
        except TypeError:  # a number compared with text: not a match
            return False

    def text(self) -> str:
        return f"{self.key}{self.op}{self.value}"


def matches(run: Run, tags: Sequence[str] = (), search: str | None = None,
            where: Sequence[ValueFilter] = ()) -> bool:
    """Whether a run has every tag, the text (in its configuration's slug, variant, note or tags, any case) and
    every value filter (on its configuration and its columns: ``ValueFilter``)."""
    if not set(tags) <= set(run.tags):
        return False
    if search:
        words = " ".join([run.slug, run.variant.name if run.variant else "", run.note, *run.tags]).lower()
        if search.lower() not in words:
            return False
    values = {**run.config, "seed": run.seed, "preset": run.preset, "dataset": run.dataset.name,
              "status": run.status, "kind": run.kind}
    return all(f.matches(values) for f in where)
