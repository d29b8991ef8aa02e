"""A single model's parameters as form fields, read off the configuration schema (pydantic): each field's
dotted path, its type (a number with its bounds, a choice, a toggle, a list of numbers), and three values: the
paper's, the authors' code's where it differs (``fields``), and the one a preset runs (``at_preset``); the
schema's verdict on changed values, by field (``errors``). No streamlit here: the
Launch page renders these (``views/launch.py``), the tests walk them for every configuration.

Only what a configuration sets is a field: the architecture's parameters, the loss and the training (and a
distillation's or cascade's settings where the configuration has one), and the Context Gating around its MoEs.
Values are in the paper's units, as ``--set`` takes them; the preset scales widths and epochs from them
(``configs.presets``).
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel

from y8m_models.architectures import architecture
from y8m_models.configs import Configuration, resolve
from y8m_models.configs.registry import MISSING, get_path
from y8m_models.configs.schema import CascadeInput, Distillation, LossSpec, SingleModel, Training

Kind = Literal["int", "float", "choice", "bool", "list"]
SECTIONS = ("params", "training", "loss", "distillation", "cascade", "context_gating")


@dataclass(frozen=True)
class Field:
    path: str  # in the configuration: model.params.cells
    kind: Kind
    optional: bool = False  # None is a value (off)
    choices: tuple[Any, ...] = ()
    low: float | None = None  # bounds, and whether they are excluded (gt, lt)
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    min_items: int = 0  # lists
    max_items: int | None = None
    item: Literal["int", "float"] = "int"  # lists: the type of an item
    paper: Any = None  # the configuration's value
    code: Any = MISSING  # the authors' code's, where it differs (as_in_code)

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def section(self) -> str:
        return self.path.split(".")[1]

    @property
    def has_code(self) -> bool:
        return self.code is not MISSING

    def bounds(self) -> str:
        """``>= 1``, ``> 0, < 1``, ``1 to 3 items``; "" when unbounded."""
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        text = ", ".join(parts)
        if self.kind == "list":
            count = (f"{self.min_items} items" if self.max_items == self.min_items else
                     f"{self.min_items} to {self.max_items} items" if self.max_items else
                     f"at least {self.min_items} item(s)")
            text = f"{count}, each {text}" if text else count
        return text


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in metadata:
        if isinstance(m, at.Ge | at.Gt):
            out.update(low=float(getattr(m, "ge", getattr(m, "gt", None))), low_open=isinstance(m, at.Gt))
        elif isinstance(m, at.Le | at.Lt):
            out.update(high=float(getattr(m, "le", getattr(m, "lt", None))), high_open=isinstance(m, at.Lt))
        elif isinstance(m, at.MinLen):
            out["min_items"] = max(out.get("min_items", 0), m.min_length)
        elif isinstance(m, at.MaxLen):
            out["max_items"] = m.max_length
        elif hasattr(m, "metadata"):  # a FieldInfo inside an Annotated alias
            out.update(_bounds(list(m.metadata)))
    return out


def _describe(annotation: Any, metadata: list[Any]) -> dict[str, Any] | None:
    """kind, bounds and choices of a field's type; None for a type the form does not edit."""
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            return None
        optional, annotation = True, args[0]
    while get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):  # Annotated
        metadata = [*metadata, *annotation.__metadata__]
        annotation = get_args(annotation)[0]
    found: dict[str, Any] = {"optional": optional, **_bounds(metadata)}
    if get_origin(annotation) is Literal:
        return {**found, "kind": "choice", "choices": get_args(annotation)}
    if annotation is bool:
        return {**found, "kind": "bool"}
    if annotation in (int, float):
        return {**found, "kind": annotation.__name__}
    if get_origin(annotation) is tuple:
        item = get_args(annotation)[0]
        item_meta: list[Any] = []
        if hasattr(item, "__metadata__"):
            item_meta, item = list(item.__metadata__), get_args(item)[0]
        if item not in (int, float):
            return None
        lengths = {k: v for k, v in found.items() if k in ("min_items", "max_items", "optional")}
        return {**lengths, **_bounds(item_meta), "kind": "list", "item": item.__name__}
    return None


def _walk(schema: type[BaseModel], values: BaseModel, prefix: str) -> list[tuple[str, dict[str, Any], Any]]:
    out = []
    for name, info in schema.model_fields.items():
        value = getattr(values, name)
        if isinstance(value, BaseModel):
            out += _walk(type(value), value, f"{prefix}.{name}")
            continue
        described = _describe(info.annotation, list(info.metadata))
        if described is not None:
            out.append((f"{prefix}.{name}", described, value))
    return out


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def fields(config: Configuration) -> list[Field]:
    """The form of single-model configuration ``config``: its fields with the paper's and the code's values."""
    model = config.model
    if model is None:
        raise ValueError(f"{config.name} is an ensemble: the parameter form is for single models")
    schemas = {"params": architecture(model.architecture).params, "training": Training, "loss": LossSpec,
               "distillation": Distillation, "cascade": CascadeInput}
    code = resolve(config, "paper", as_in_code=True).model_dump(mode="json")
    out = []
    for section in schemas:
        values = getattr(model, section)
        if values is None:
            continue
        for path, described, value in _walk(schemas[section], values, f"model.{section}"):
            paper = _plain(value)
            in_code = get_path(code, path)
            out.append(Field(path=path, paper=paper,
                             code=in_code if in_code is not MISSING and in_code != paper else MISSING, **described))
    if architecture(model.architecture).moe_head:  # a value of the model itself, not of a section
        gating = SingleModel.model_fields["context_gating"]
        out.append(Field(path="model.context_gating", paper=model.context_gating,
                         **_describe(gating.annotation, list(gating.metadata))))
    return out


def values_of(config: Configuration, form: list[Field], overrides: dict[str, Any]) -> dict[str, Any]:
    """The values of the form's fields that ``overrides`` (a variant's) change, by path: where its form starts."""
    changed = resolve(config, overrides=overrides).model_dump(mode="json")
    return {f.path: value for f in form if (value := _plain(get_path(changed, f.path))) != f.paper}


def at_preset(config: Configuration, form: list[Field], preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Each field's value as the preset runs it, with ``overrides`` (the form's changes); the overrides left out
    where they do not validate (their errors are the form's to show)."""
    try:
        scaled = resolve(config, preset, overrides=overrides).model_dump(mode="json")
    except ValueError:
        scaled = resolve(config, preset).model_dump(mode="json")
    return {f.path: get_path(scaled, f.path) for f in form}


def errors(config: Configuration, overrides: dict[str, Any]) -> dict[str, str]:
    """Each changed value the schema refuses, by path, with the schema's message (checked one at a time, so an
    error is the field's own); "" for those refused only together (a rule across fields)."""
    from y8m_models.configs import ConfigError

    out = {}
    for path, value in overrides.items():
        try:
            resolve(config, "paper", overrides={path: value})
        except ConfigError as exc:
            out[path] = str(exc).split(": ", 1)[-1]
    if not out and overrides:
        try:
            resolve(config, "paper", overrides=overrides)
        except ConfigError as exc:
            out[""] = str(exc)
    return out


def changes(form: list[Field], values: dict[str, Any]) -> dict[str, Any]:
    """The values (by path) that differ from the form's paper values: a variant's or a run's overrides."""
    return {f.path: values[f.path] for f in form if f.path in values and values[f.path] != f.paper}
