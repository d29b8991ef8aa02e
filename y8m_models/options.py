"""How a run is asked to train, beside its configuration: ``RunOptions``.

One typed, validated object with every default in one place, built once where a request comes in (``y8m
train``, ``y8m reproduce``, ``y8m runs submit``, the Launch page, ``y8m paper``) by ``RunOptions.of``, whose
errors name the command-line option; then passed down (``pipeline.plan``, ``worker.runs.submit``,
``executor.Executor``), stored with a run in the run store (``stored``) and read back by the worker that
trains it (``from_stored``). No torch: the dashboard builds one too.

What the options decide: the preset the configurations are resolved at, the seed, the length (``max_steps``
caps every run's steps; ``epochs`` replaces the configurations' own), the authors' code values
(``as_in_code``) and the user's overrides (``--set``), how often validate1 is scored
(``eval_every``, default every half epoch) and a checkpoint written, the DataLoader processes (``loader_workers``),
the device, ``torch.compile``, and the numerics (``precision``, ``deterministic``: ``y8m_models.numerics``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from y8m_models.configs.presets import PRESETS
from y8m_models.limits import MAX_INT32

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
DEVICE = re.compile(r"auto|cpu|cuda(:\d{1,3})?|mps")  # what train.select_device accepts
FLAGS = {"overrides": "--set"}  # the other options are spelled --max-steps etc.
RENAMED = {"workers": "loader_workers"}  # stored option names of runs queued before the glossary's


class OptionsError(ValueError):
    """Run options that do not validate; the message names the command-line option."""


def flag(field: str) -> str:
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def check_device(name: str) -> str:
    """``name`` if it is a device a worker's ``select_device`` accepts; ``OptionsError`` naming ``--device``."""
    if not DEVICE.fullmatch(name):
        raise OptionsError(f"{flag('device')} {name!r}: expected auto, cpu, cuda, cuda:N or mps")
    return name


class RunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str = "tiny"
    seed: int = 0
    max_steps: int | None = None
    epochs: float | None = None
    as_in_code: bool = False
    overrides: dict[str, Any] = Field(default_factory=dict)
    eval_every: int | None = None
    checkpoint_every: int = 500
    loader_workers: int = 0  # DataLoader processes (glossary: loader worker)
    device: str = "auto"
    compile: bool = False
    precision: Precision = "auto"
    deterministic: bool = False

    @field_validator("precision", mode="before")
    @classmethod
    def _known_precision(cls, value: Any) -> Any:
        if value not in PRECISIONS:
            raise ValueError(f"precision {value!r}: expected one of {', '.join(PRECISIONS)}")
        return value

    @model_validator(mode="after")
    def _within_bounds(self) -> RunOptions:
        if self.preset not in PRESETS:
            raise ValueError(f"{flag('preset')} {self.preset!r}: presets are {', '.join(PRESETS)}")
        for name, low in (("eval_every", 1), ("checkpoint_every", 1), ("loader_workers", 0), ("seed", 0),
                          ("max_steps", 1)):
            value = getattr(self, name)
            if value is not None and not low <= value <= MAX_INT32:
                raise ValueError(f"{flag(name)} must be from {low} to {MAX_INT32}, not {value}")
        if self.epochs is not None and not self.epochs > 0:
            raise ValueError(f"{flag('epochs')} must be more than 0, not {self.epochs}")
        check_device(self.device)
        return self

    @classmethod
    def of(cls, **values: Any) -> RunOptions:
        """Validated options from the values given (the others at their defaults); ``OptionsError`` names the
        first bad one by its command-line option."""
        try:
            return cls(**values)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if where == "precision":
                raise OptionsError(f"{flag('precision')}: {message}") from None
            raise OptionsError(f"{flag(where)}: {message}" if where else message) from None

    def stored(self) -> dict[str, Any]:
        """As a run in the run store keeps them (JSON)."""
        return self.model_dump()

    @classmethod
    def from_stored(cls, options: dict[str, Any]) -> RunOptions:
        """A run's stored options; keys this version does not know are left out, those it misses take their
        defaults (runs queued by another version; "workers" was the name of ``loader_workers`` before
        December 2026)."""
        options = {RENAMED.get(k, k): v for k, v in options.items()}
        return cls(**{k: v for k, v in options.items() if k in cls.model_fields})
