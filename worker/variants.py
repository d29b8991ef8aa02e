"""Variants in the run store: save (create, or change one no run has used), look up, list. What a variant is
and how it is checked is ``y8m_models.configs.variants``; this module keeps them (table ``variants``).

A variant is frozen by the first submission that uses it (``worker.runs.submit``): from then on its values
stay as they were, so every run that names it ran the same configuration; a change is saved under a new
name (``--from`` the frozen one). Two variants with the same base and the same values are one: saving the
second names the first (compared as configurations: ``cells.0=1025`` is ``cells=[1025, 128]``).
"""

from __future__ import annotations

import getpass
from typing import Any

from sqlalchemy.exc import IntegrityError

from db.engine import reading, writing
from db.models import Run as RunRow
from db.models import Variant as Row
from db.models import utcnow
from db.queries import variant_named, variants
from db.settings import Settings
from worker.store import prepare
from y8m_models.configs import ConfigError, get_config, resolve
from y8m_models.configs.schema import RunMember, Variant, VariantMember
from y8m_models.configs.variants import derive, same


class VariantError(ValueError):
    """A variant that cannot be saved; the message names the variant, value or option."""


def variant_of_row(row: Row) -> Variant:
    """A stored variant as the configurations' ``Variant``."""
    return Variant(name=row.name, base=row.number, overrides=row.overrides,
                   parent=row.parent, note=row.note, created_by=row.created_by, created_at=row.created_at,
                   frozen_by=row.frozen_by)


def get_variant(name: str, settings: Settings | None = None) -> Variant | None:
    with reading(prepare(settings)) as s:
        row = variant_named(s, name)
        return variant_of_row(row) if row is not None else None


def list_variants(settings: Settings | None = None) -> list[Variant]:
    """Every variant, by base number and name."""
    with reading(prepare(settings)) as s:
        return [variant_of_row(r) for r in variants(s)]


def save_variant(name: str, base: str, changes: dict[str, Any], *, note: str = "", created_by: str | None = None,
                 replace: bool = False, write: bool = True, settings: Settings | None = None) -> Variant:
    """Save variant ``name``: ``base`` (a configuration's number, ``#25`` or slug, or a saved variant's name) with
    ``changes`` (dotted path -> value, as ``--set``). ``replace``: change the variant of that name, unless a run
    has used it. ``VariantError`` naming what is wrong; nothing is written then. ``write=False``: the checks only."""
    settings = settings or Settings.from_env()
    engine = prepare(settings)
    parent = get_variant(base, settings) if base[:1].isalpha() else None
    try:
        if parent is None:
            get_config(base)
    except ConfigError as exc:
        raise VariantError(f"--from {base!r}: neither a saved variant nor a configuration ({exc})") from None
    try:
        variant = derive(name, parent or base, changes, note=note, created_by=created_by or user_name())
    except ConfigError as exc:
        raise VariantError(str(exc)) from None
    config = get_config(variant.base)
    _check_references(variant, settings)
    try:
        with writing(engine) as s:
            row = variant_named(s, name, lock=True)  # a submission freezing it waits, or is waited for
            if row is not None and not replace:
                raise VariantError(f"variant {name!r} exists ({variant_of_row(row).label}); choose another name, or "
                                   "replace it")
            if row is not None and row.frozen_by is not None:
                raise VariantError(f"variant {name!r} is frozen: run {row.frozen_by} used it; save the change under a "
                                   f"new name (from {name})")
            twin = next((r for r in variants(s) if r.number == variant.base and r.name != name
                         and same(variant.base, r.overrides, variant.overrides)), None)
            if twin is not None:
                raise VariantError(f"variant {twin.name!r} has the same base and values; use it, or change a value")
            if not write:  # every check made, nothing written (y8m ensemble create --dry-run)
                return variant
            if row is None:
                row = Row(name=name, created_at=utcnow())
                s.add(row)
            row.number, row.slug, row.overrides = config.number, config.slug, variant.overrides
            row.parent, row.note, row.created_by, row.updated_at = (variant.parent, variant.note, variant.created_by,
                                                                    utcnow())
            s.flush()
            return variant_of_row(row)
    except IntegrityError:  # the same name saved by another process between the check and the insert
        raise VariantError(f"variant {name!r} was saved by someone else just now; choose another name") from None


def references(variant: Variant) -> tuple[list[str], list[int]]:
    """The saved variants and the finished runs a variant reads (as members, teacher, cascade streams)."""
    config = resolve(variant.base, overrides=variant.overrides)
    found: list[Any] = []
    if config.ensemble is not None:
        found += [*config.ensemble.members, config.ensemble.member]
    if config.model is not None:
        found += [config.model.distillation.teacher if config.model.distillation else None,
                  *(config.model.cascade.streams if config.model.cascade else ())]
    return ([r.variant for r in found if isinstance(r, VariantMember)],
            [r.run for r in found if isinstance(r, RunMember)])


def _check_references(variant: Variant, settings: Settings) -> None:
    """Every variant and run a variant reads exists now (a variant only reads ones saved before it)."""
    names, runs = references(variant)
    for name in names:
        if name == variant.name or get_variant(name, settings) is None:
            raise VariantError(f"{variant.name}: it reads variant {name!r}, which is "
                               f"{'itself' if name == variant.name else 'not saved'}")
    with reading(prepare(settings)) as s:
        for run_id in runs:
            run = s.get(RunRow, run_id)
            if run is None or run.kind == "predict" or run.status != "succeeded":
                what = "no such run" if run is None else f"a {run.status} {run.kind} run"
                raise VariantError(f"{variant.name}: member run {run_id} is {what}; a member is a succeeded training, "
                                   "stack or merge run")


def user_name() -> str:
    """Who saves a variant or starts a sweep: this process's user name, or "" where it has none."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's)
        return ""
