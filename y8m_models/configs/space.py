"""A sweep's search space: the configuration values it varies (dotted paths in the paper's units, as ``--set``
takes them) and the values each may take, as data and without torch or Optuna, so that the dashboard and the
command line check it the same way.

Each parameter is a range (``low``..``high``; integers when both ends are integers; ``log`` for a log-uniform
draw; ``step`` for a grid) or a list of ``choices`` (any JSON values: ``[512, 1024]``, ``["moe", "logistic"]``).
Written as YAML (``SPACE.yaml``)::

    model.training.learning_rate: {low: 0.0001, high: 0.01, log: true}
    model.params.cells: {low: 256, high: 2048, step: 256}
    model.params.mixtures: [2, 4, 8]

or on the command line, one ``--set-range key=low:high[:log]`` or ``--set-range key=[a,b,c]`` each.

Optuna draws the values (``y8m_models.study``, from ``distributions``); a configuration with a value at each end of
every range (and every choice) must be valid before a sweep starts (``worker.sweeps``). That catches a value out of
bounds, not two values valid alone and refused together (a trial then fails, saying why).
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator


class SpaceError(ValueError):
    """A search space that cannot be used; the message names the file, parameter or value."""


class Param(BaseModel):
    """One varied value: a range or choices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Param:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("give either choices or low/high (with log or step), not both")
            if not self.choices:
                raise ValueError("choices: give at least one value")
            if len({json.dumps(c, sort_keys=True) for c in self.choices}) != len(self.choices):
                raise ValueError(f"choices {self.choices}: a value is given twice")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a range needs low and high (or give choices)")
        for end in (self.low, self.high, self.step):
            if isinstance(end, bool) or (end is not None and not math.isfinite(end)):
                raise ValueError(f"{end!r} is not a finite number")
        if not self.low < self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range starts above 0, not at {self.low}")
        if self.log and self.step is not None:
            raise ValueError("a range is either log or stepped, not both")
        if self.step is not None and self.step <= 0:
            raise ValueError(f"step {self.step} must be positive")
        if self.integer and self.step is not None and not isinstance(self.step, int):
            raise ValueError(f"an integer range takes an integer step, not {self.step}")
        return self

    @property
    def integer(self) -> bool:
        """An integer range: both ends written as integers."""
        return self.choices is None and isinstance(self.low, int) and isinstance(self.high, int)

    @property
    def ends(self) -> list[Any]:
        """The values a configuration is checked with: both ends, or every choice."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def text(self) -> str:
        """``0.0001..0.01 (log)``, ``256..2048 step 256``, ``one of 2, 4, 8``."""
        if self.choices is not None:
            return "one of " + ", ".join(json.dumps(c) for c in self.choices)
        extra = " (log)" if self.log else f" step {self.step}" if self.step is not None else ""
        return f"{self.low}..{self.high}{extra}"


class SearchSpace(BaseModel):
    """The varied values by dotted path, in the order given."""

    model_config = ConfigDict(frozen=True)

    params: dict[str, Param]

    @classmethod
    def of(cls, raw: Any, where: str) -> SearchSpace:
        """From a mapping key -> range or choices (a list is choices); ``SpaceError`` naming ``where`` and the key."""
        if not isinstance(raw, dict) or not raw:
            raise SpaceError(f"{where}: a search space is a mapping of configuration keys to ranges, e.g. "
                             "model.training.learning_rate: {low: 0.0001, high: 0.01, log: true}")
        params = {}
        for key, value in raw.items():
            if not isinstance(key, str) or not key.strip() or " " in key.strip():
                raise SpaceError(f"{where}: {key!r} is not a configuration key (e.g. model.training.learning_rate)")
            try:
                params[key.strip()] = Param(choices=value) if isinstance(value, list) else Param.model_validate(value)
            except ValidationError as exc:
                problem = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                raise SpaceError(f"{where}: {key}: {problem}") from None
        return cls(params=params)

    @classmethod
    def from_yaml(cls, text: str, where: str) -> SearchSpace:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpaceError(f"{where}: not YAML ({str(exc).splitlines()[0]})") from None
        return cls.of(raw, where)

    @classmethod
    def from_ranges(cls, pairs: list[str]) -> SearchSpace:
        """``key=low:high[:log]`` or ``key=[a,b,c]`` pairs (``--set-range``)."""
        raw: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise SpaceError(f"--set-range {pair!r}: write key=low:high, key=low:high:log or key=[a,b,c]")
            if key.strip() in raw:
                raise SpaceError(f"--set-range {key.strip()}: given twice")
            raw[key.strip()] = _range(value.strip(), pair)
        return cls.of(raw, "--set-range")

    def merged(self, other: SearchSpace) -> SearchSpace:
        both = sorted(set(self.params) & set(other.params))
        if both:
            raise SpaceError(f"{', '.join(both)}: given both in the space file and by --set-range")
        return SearchSpace(params={**self.params, **other.params})

    def stored(self) -> dict[str, Any]:
        return {key: p.model_dump(exclude_defaults=True) for key, p in self.params.items()}

    def distributions(self) -> dict[str, Any]:
        """Optuna's distribution of each parameter; choices travel as their JSON text (Optuna's categorical values
        are plain scalars; a choice may be a list)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        out: dict[str, Any] = {}
        for key, p in self.params.items():
            if p.choices is not None:
                out[key] = CategoricalDistribution([json.dumps(c) for c in p.choices])
            elif p.integer:
                out[key] = IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
            else:
                out[key] = FloatDistribution(float(p.low), float(p.high), log=p.log,
                                             step=None if p.step is None else float(p.step))
        return out

    def overrides(self, drawn: dict[str, Any]) -> dict[str, Any]:
        """Optuna's values (choices as JSON text) -> configuration values."""
        return {key: json.loads(drawn[key]) if self.params[key].choices is not None else drawn[key]
                for key in self.params}

    def internal(self, values: dict[str, Any]) -> dict[str, Any]:
        """Configuration values -> Optuna's (choices as JSON text): a finished trial told back to a study."""
        return {key: json.dumps(values[key]) if self.params[key].choices is not None else values[key]
                for key in self.params}


def value_text(value: Any) -> str:
    """A configuration value as sweeps write it: floats to 4 significant digits, others as JSON."""
    return f"{value:.4g}" if isinstance(value, float) else json.dumps(value)


def values_text(values: dict[str, Any]) -> str:
    """``model.training.learning_rate=0.0123, model.params.mixtures=4``: a trial's values in one line (events, the
    command line, the Sweeps page)."""
    return ", ".join(f"{key}={value_text(value)}" for key, value in values.items())


def _range(text: str, pair: str) -> Any:
    if text.startswith("["):
        try:
            choices = json.loads(text)
        except json.JSONDecodeError:
            raise SpaceError(f"--set-range {pair!r}: the choices are not a JSON list (e.g. [2,4,8])") from None
        return choices
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
        raise SpaceError(f"--set-range {pair!r}: write key=low:high, key=low:high:log or key=[a,b,c]")
    ends = []
    for part in parts[:2]:
        try:
            ends.append(int(part) if part.strip().lstrip("-").isdigit() else float(part))
        except ValueError:
            raise SpaceError(f"--set-range {pair!r}: {part!r} is not a number") from None
    return {"low": ends[0], "high": ends[1], "log": len(parts) == 3}
