"""Variants: named configurations derived from one of the numbered configurations (#1-#80, #81 on) by changed values.

A variant is its base (a paper number), the values it changes (dotted paths, in the
paper's units, as ``--set`` takes them) and its name. Derived from another variant, it takes that one's
changes and adds its own, so every variant is one step from its base and does not move when the variant it
came from is edited. Planned, it is exactly its base with those overrides (``resolve``): the same jobs and
content hashes as ``--config 25 --set ...``, no second path.

Variants are kept in the run store (``worker.variants``, table ``variants``); this package holds no database,
so the console script attaches the store (``attach``) and the commands look names up through it (``find``,
which ``parse_configs`` takes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from y8m_models.configs.presets import PRESETS
from y8m_models.configs.registry import ConfigError, get_config, get_path, is_slug, resolve
from y8m_models.configs.schema import Lookup, Variant

NAME = re.compile(r"[a-z][a-z0-9_.-]{0,62}[a-z0-9]")


class _Store:
    """The attached store: how a name is looked up and how all are listed (``attach``)."""

    find: Lookup | None = None
    listing: Callable[[], list[Variant]] | None = None


def attach(find: Lookup, listing: Callable[[], list[Variant]]) -> None:
    """Where variants are read from (the console script attaches the run store's)."""
    _Store.find, _Store.listing = find, listing


def find(name: str) -> Variant | None:
    """The variant of that name in the attached store; None when there is none (or no store). A paper number
    or a slug is never a variant's name (``derive`` refuses them): the store is not opened for those."""
    if _Store.find is None or not NAME.fullmatch(name) or is_slug(name):
        return None
    return _Store.find(name)


def listed() -> list[Variant]:
    """Every variant of the attached store; ``ConfigError`` when none is attached."""
    if _Store.listing is None:
        raise ConfigError("variants are kept in the run store: list them with the y8m console script")
    return _Store.listing()


def title(target: int | str | Variant) -> str:
    """A configuration asked for, in one line: ``#18 chaining_cnn``, ``baseline_logistic``, ``#25 · k16``."""
    return target.label if isinstance(target, Variant) else get_config(target).name


def target_key(target: int | str | Variant) -> int | str:
    """How a plan's targets are keyed: the paper number, a baseline's slug, or a variant's name."""
    return target.name if isinstance(target, Variant) else target


def derive(name: str, base: int | str | Variant, changes: dict[str, Any], **fields: Any) -> Variant:
    """The variant ``name``: ``base`` (a configuration's number or slug, or a variant) with ``changes``. Checked
    as a run would be: the name, every changed value against the schema, at every preset; values equal to the
    base's are left out, and a variant that changes nothing is refused. ``ConfigError`` names what is wrong."""
    if not NAME.fullmatch(name) or "__" in name:
        raise ConfigError(f"variant name {name!r}: 2-64 characters, lower-case letters, digits, '-', '_' and '.' (no "
                          "'__'), starting with a letter and ending with a letter or digit (e.g. k16-lr2e-3)")
    parent = base if isinstance(base, Variant) else None
    config = get_config(parent.base if parent else base)
    if config.number is None:
        raise ConfigError(f"{config.name} is a Table 2 baseline: variants derive from the numbered configurations")
    if is_slug(name):
        raise ConfigError(f"variant name {name!r} is a configuration's slug; choose another")
    overrides = {**(parent.overrides if parent else {}), **changes}
    for preset in PRESETS:  # validated where a run could use it; an error names the path
        resolve(config, preset, overrides=overrides)
    plain = config.model_dump(mode="json")
    kept = {path: value for path, value in overrides.items() if get_path(plain, path) != value}
    if not kept:
        raise ConfigError(f"variant {name!r}: its values are {config.name}'s own; change at least one")
    return Variant(name=name, base=config.number, overrides=kept,
                   parent=parent.name if parent else None, **fields)


def same(base: int, one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two sets of changed values make the same configuration of ``base`` (``cells.0=1025`` is
    ``cells=[1025, 128]``); values that do not validate make none."""
    try:
        return resolve(base, overrides=one) == resolve(base, overrides=other)
    except ConfigError:
        return False


# ------------------------------------------------------------------------------------ composed ensembles

STACKERS = ("mean", "linear", "classwise", "attention")
METHODS = (*STACKERS, "bagging", "boosting", "distillation", "cascade", "merge")
# What each method composes on: the paper's configuration of that method, whose other values it keeps (#75's
# class-wise stacking and its combiner's training; #78's attention weighted stacking; #28's bagging; #32's boosting
# with clipping; #80's merge). Distillation and cascade change the student or model itself.
ENSEMBLE_BASES = {"mean": 75, "linear": 75, "classwise": 75, "attention": 78, "bagging": 28, "boosting": 32,
                  "merge": 80}


def reference(text: str | int) -> int | dict[str, Any]:
    """A member as written on the command line or in a spec: ``18`` / ``#18`` (a configuration), ``run:12`` (a
    finished run), or a saved variant's name -> as the schema holds it."""
    item = str(text).strip()
    if item.lstrip("#").isdigit():
        return int(item.lstrip("#"))
    if item.startswith("run:") and item[4:].isdigit():
        return {"run": int(item[4:])}
    return {"variant": item}


def compose(method: str, members: list[str | int], *, teacher: str | int | None = None, weight: float = 0.5,
            count: int | None = None, rule: str | None = None, threshold: float | None = None,
            changes: dict[str, Any] | None = None, find_variant: Lookup = find) -> tuple[int, dict[str, Any]]:
    """An ensemble composed of configurations, variants and finished runs, as the variant that is it: (base,
    changed values). ``members``: the stacked or merged ones; the one model bagged or boosted; the student
    (distillation, from ``teacher``) or the model a cascade feeds (on the other members' predictions).
    ``changes``: more values (a combiner's parameters, say). ``ConfigError`` naming what does not fit."""
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: one of {', '.join(METHODS)}")
    refs = [reference(m) for m in members]
    if not refs:
        raise ConfigError("--members: give the members (numbers, variants' names, run:ID)")
    one = method in ("bagging", "boosting", "distillation")
    if one and len(refs) != 1:
        raise ConfigError(f"--members: {method} takes one model, not {len(refs)}")
    out: dict[str, Any]
    if method in STACKERS or method == "merge":
        base = ENSEMBLE_BASES[method]
        out = {"ensemble.members": refs, **({"ensemble.combiner.kind": method} if method in STACKERS else {})}
    elif method in ("bagging", "boosting"):
        base, out = ENSEMBLE_BASES[method], {"ensemble.member": refs[0]}
        out |= {"ensemble.count": count} if count is not None else {}
        out |= {"ensemble.reweighting.rule": rule} if rule is not None else {}
        out |= {"ensemble.reweighting.threshold": threshold} if threshold is not None else {}
    else:  # the model itself, with a teacher or cascade streams
        model, streams = refs[0], refs[1:]
        if isinstance(model, dict) and "run" in model:
            raise ConfigError(f"--members run:{model['run']}: a {method} trains its model; a finished run cannot be it")
        if isinstance(model, dict):
            variant = find_variant(model["variant"])
            if variant is None:
                raise ConfigError(f"--members {model['variant']!r}: neither a configuration number nor a saved variant")
            base, out = variant.base, dict(variant.overrides)
        else:
            base, out = model, {}
        if method == "distillation":
            if resolve(base, overrides=out).model is None:
                raise ConfigError(f"--members {base}: distillation trains a single model; #{base} is an ensemble")
            if teacher is None:
                raise ConfigError("--teacher: distillation needs the ensemble it learns from")
            out["model.distillation"] = {"teacher": reference(teacher), "weight": weight}
        else:
            if not streams:
                raise ConfigError("--members: a cascade is its model, then the ensembles it reads (e.g. 2,mystack)")
            model_config = resolve(base, overrides=out).model
            if model_config is None:
                raise ConfigError(f"--members {base}: a cascade trains a single model; #{base} is an ensemble")
            # a model that is a cascade already (#48's normalize, #56's infrequent_from) keeps its other settings
            key, value = ("model.cascade.streams", streams) if model_config.cascade else ("model.cascade",
                                                                                           {"streams": streams})
            out[key] = value
    return base, {**out, **(changes or {})}
