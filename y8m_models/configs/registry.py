"""The 80 configurations, looked up by paper number or slug, resolved at a preset, built into models.

``resolve(config, preset, as_in_code, overrides)`` is the only way a configuration changes: the authors'
code values (``as_in_code``), then user overrides (``{"model.training.learning_rate": 0.002}``, the CLI's
``--set``), then the preset's scaling (an overridden width is scaled too; an overridden batch size is kept);
the result is validated again, so an override is held to the same schema and an error names the path.
No torch here: ``configs.build.build_model`` is the one way in from a configuration to a model.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from y8m_models.architectures import architecture
from y8m_models.configs import beyond, singles
from y8m_models.configs.cascades import CASCADES
from y8m_models.configs.ensembles import BAGGING_BOOSTING, DISTILLATION, STACKED
from y8m_models.configs.presets import preset as get_preset
from y8m_models.configs.presets import scale_model
from y8m_models.configs.schema import Configuration, Lookup, NamedModel, SingleModel, Variant

PAPER_COUNT = 80  # #1-#80 are the paper's configurations; #81 on, the section "Beyond the paper" (configs.beyond)


class ConfigError(ValueError):
    """A configuration, override or preset that does not validate; the message names the path."""


def _validate(data: dict, where: str) -> Configuration:
    try:
        return Configuration.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: "
                             f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        raise ConfigError(f"{where}: {problems}") from None


def _load() -> tuple[tuple[Configuration, ...], tuple[Configuration, ...]]:
    numbered = sorted(singles.SINGLES + BAGGING_BOOSTING + DISTILLATION + CASCADES + STACKED + beyond.BEYOND,
                      key=lambda e: e["number"])
    configs = tuple(_validate(e, f"configuration #{e['number']} {e['slug']}") for e in numbered)
    if [c.number for c in configs] != list(range(1, len(configs) + 1)):
        raise ConfigError(f"the registry must hold configurations #1..#{len(configs)} exactly once")
    if any((c.number > PAPER_COUNT) != (c.section == "B") for c in configs):
        raise ConfigError(f"#1-#{PAPER_COUNT} are the paper's; the later ones, and only they, are in section B")
    baselines = tuple(_validate(e, f"baseline {e['slug']}") for e in singles.BASELINES)
    slugs = [c.slug for c in configs + baselines]
    if len(set(slugs)) != len(slugs):
        raise ConfigError(f"duplicate slugs: {sorted({s for s in slugs if slugs.count(s) > 1})}")
    return configs, baselines


CONFIGURATIONS, BASELINES = _load()
_BY_SLUG = {c.slug: c for c in CONFIGURATIONS + BASELINES}


def all_configurations(baselines: bool = False) -> tuple[Configuration, ...]:
    return CONFIGURATIONS + (BASELINES if baselines else ())


def in_paper(number: int | None) -> bool:
    """Whether configuration ``number`` is one of the paper's 80 (its GAP is the paper's, its rank counts in
    the paper's ranking), not a Table 2 baseline or a later model."""
    return number is not None and 1 <= number <= PAPER_COUNT


def get_config(key: int | str) -> Configuration:
    """By paper number (``18``, ``"18"``, ``"#18"``) or slug (``"chaining_cnn"``)."""
    text = str(key).strip().lstrip("#")
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= len(CONFIGURATIONS):
            raise ConfigError(f"configuration numbers run from 1 to {len(CONFIGURATIONS)}, not {number}")
        return CONFIGURATIONS[number - 1]
    if text in _BY_SLUG:
        return _BY_SLUG[text]
    close = difflib.get_close_matches(text, _BY_SLUG, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else (
        "; `y8m configs list` shows them all (and --variants the saved variants)")
    raise ConfigError(f"unknown configuration {key!r}{hint}")


def is_slug(name: str) -> bool:
    """Whether ``name`` is a configuration's or a baseline's slug (a saved variant's name never is)."""
    return name in _BY_SLUG


def parse_configs(text: str, option: str = "--config", variants: Lookup | None = None) -> list[int | str | Variant]:
    """The one grammar of configuration lists, everywhere a command takes configurations: comma-separated
    paper numbers (``18``, ``#18``), slugs (``chaining_cnn``, a Table 2 baseline's ``baseline_logistic``),
    ranges of numbers (``28-46``, ``#28-#46``) and saved variants' names (``k16-lr2e-3``, looked up by
    ``variants``: ``configs.variants.find``, or the run store's) -> each configuration once, in order: its paper
    number, its slug where it has none, or the variant. ConfigError naming ``option`` and the item otherwise."""
    out: list[int | str | Variant] = []
    for item in filter(None, (part.strip() for part in str(text).split(","))):
        # A name that is no slug is looked up as a variant (the store is not opened for the 80 and the ranges).
        found = variants and item[:1].isalpha() and not is_slug(item)
        variant = variants(item) if found else None
        if variant is not None:
            if variant.name not in [v.name for v in out if isinstance(v, Variant)]:
                out.append(variant)
            continue
        lo, sep, hi = item.partition("-")
        try:
            if sep and not item[:1].isalpha():  # slugs hold no "-"; a variant's name starts with a letter
                first, last = (int(end.strip().lstrip("#")) for end in (lo, hi))
                if not 1 <= first <= last <= len(CONFIGURATIONS):
                    raise ConfigError(f"a range runs up from #1 to at most #{len(CONFIGURATIONS)}")
                keys: list[int | str] = list(range(first, last + 1))
            else:
                config = get_config(item)
                keys = [config.number or config.slug]
        except (ConfigError, ValueError) as exc:
            why = str(exc) if isinstance(exc, ConfigError) else "a range is two paper numbers, e.g. 28-46"
            raise ConfigError(f"{option} {item!r}: {why}") from None
        out.extend(key for key in keys if key not in out)
    if not out:
        raise ConfigError(f"{option}: give a paper number (18), a slug (chaining_cnn), a list (75,80) or a range "
                          "(28-46)")
    return out


MISSING = object()


def get_path(data: Any, path: str) -> Any:
    """The value at dotted ``path`` (``model.params.cells``, ``model.params.cells.0``) of a configuration's dict,
    or ``MISSING``: the reading side of ``_set_path``."""
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list | tuple) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return MISSING
    return data


def _set_path(data: dict, path: str, value: Any, where: str) -> None:
    keys = path.split(".")
    node: Any = data
    for i, key in enumerate(keys[:-1]):
        child = node[int(key)] if isinstance(node, list) and key.isdigit() and int(key) < len(node) else (
            node.get(key) if isinstance(node, dict) else None)
        if isinstance(child, tuple):
            child = list(child)
        if not isinstance(child, (dict, list)):
            raise ConfigError(f"{where}: {'.'.join(keys[: i + 1])} is not a section that {path!r} can set")
        if isinstance(node, list):
            node[int(key)] = child
        else:
            node[key] = child
        node = child
    last = keys[-1]
    if isinstance(node, list):
        if not (last.isdigit() and int(last) < len(node)):
            raise ConfigError(f"{where}: {path!r} indexes past the list's {len(node)} entries")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value


def single_model_dicts(data: dict) -> Iterable[tuple[dict, str]]:
    """The single-model dicts inside a configuration dict (its model, or inline ensemble members)."""
    if data.get("model"):
        yield data["model"], "model"
    ensemble = data.get("ensemble") or {}
    if isinstance(ensemble.get("member"), dict) and "architecture" in ensemble["member"]:
        yield ensemble["member"], "ensemble.member"
    for i, member in enumerate(ensemble.get("members") or ()):
        if isinstance(member, dict) and "architecture" in member:  # not a variant's or a run's reference
            yield member, f"ensemble.members.{i}"


def resolve(config: Configuration | int | str, preset: str = "paper", as_in_code: bool = False,
            overrides: dict[str, Any] | None = None) -> Configuration:
    """The configuration to run: code values, then overrides, then the preset (see the module docstring)."""
    base = config if isinstance(config, Configuration) else get_config(config)
    p = get_preset(preset)
    data = base.model_dump()
    where = f"{base.name}"
    changes = {**(base.as_in_code if as_in_code else {}), **(overrides or {})}
    for path, value in changes.items():
        _set_path(data, path, value, where)
    # Validate before scaling so that an override error names the user's value, not a scaled one.
    data = _validate(data, where).model_dump()
    for model, _ in single_model_dicts(data):
        registered = architecture(model["architecture"])
        scaled = scale_model(model, registered.params, p, registered.level)
        model.clear()
        model.update(scaled)
    combiner = (data.get("ensemble") or {}).get("combiner")
    if combiner and p.batch_size is not None:  # the preset's batch rule holds for the stacking combiners too
        combiner["training"] = {**combiner["training"], "batch_size": p.batch_size,
                                "epochs": combiner["training"]["epochs"] * p.stacking_epochs}
    # The preset sets the batch size, it does not scale it: a batch size the user set is kept (a DDP run's);
    # so is a learning rate the user set (the preset's frame_learning_rate applies to the paper's). Epochs set
    # here are in the paper's units, like the other overrides: the preset's min_epochs and stacking_epochs apply
    # (a run's own count is --epochs, RunOptions.epochs).
    for path, value in (overrides or {}).items():
        if path.endswith(("training.batch_size", "training.learning_rate")):
            _set_path(data, path, value, where)
    return _validate(data, f"{where} at preset {preset!r}")


def single_models(config: Configuration) -> list[tuple[str, SingleModel]]:
    """(label, model) of every single model a configuration defines itself: its model, or inline members."""
    if config.model is not None:
        return [(config.name, config.model)]
    ens = config.ensemble
    inline = [ens.member] if isinstance(ens.member, NamedModel) else [m for m in ens.members
                                                                       if isinstance(m, NamedModel)]
    return [(f"#{m.label}", m) for m in inline]
