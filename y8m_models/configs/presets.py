"""Presets: the paper's sizes, and two smaller ones derived from them by one rule, never written by hand.

``small`` (quarter widths, half the frames) trains on the demo dataset on a CPU in minutes; ``tiny``
(widths / 32, at most 2 mixtures, a third of the frames, batch 16 for models and stacking combiners, which
train 10x their epochs) makes one CPU step take milliseconds, for tests, smoke runs and `y8m paper`. The
structure never changes: layers, stages, scales, attention groups and loss weights stay as the paper has them;
so do the learning rates, except that ``tiny`` trains frame-level models at 10x the paper's (0.001 -> 0.01, the
video models' rate): at widths / 32 the paper's rate leaves every frame family far from its plateau after a
few epochs, x10 was the best of x1/x3/x10/x30, and the video models are best at their own rate (BENCHMARKS.md,
"Schedules for small data"). And every single model trains at least 5 epochs at ``tiny``: the paper's counts
below 5 (#10's 3, the cascades' and distillations' 2-4) were set for millions of videos, while on the `paper`
dataset's 4,800 every family measured reaches its validate1 plateau after 3.4-6.5 epochs (#10 after about 5:
0.77 after its 3, 0.82 after 5); selection on validate1 keeps the best weights of a longer run. Every
parameter marked ``WIDTH``, ``MIXTURES`` or ``FRAMES`` in ``y8m_models.architectures`` is scaled, and so is a
cascade input's projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from y8m_models.architectures import PresetMarker


@dataclass(frozen=True)
class Preset:
    name: str
    width: float  # layer widths times this, at least MIN_WIDTH (0 stays 0: a feature that is off)
    max_mixtures: int | None  # MoE mixtures capped at this
    frames: float  # frame lengths times this, at least MIN_FRAMES
    batch_size: int | None  # training batch size (None: the paper's)
    # Stacking combiners train this many times their epochs: on the small datasets' few hundred train2 videos
    # the paper's 2 epochs are ~60 steps, too few for Adam at lr 0.01 to move the weights from their start
    # (measured, #75 class-wise on the easy dataset: validate2 GAP 0.802 after 2 epochs, 0.843 after 20,
    # best member 0.838).
    stacking_epochs: float = 1.0
    frame_learning_rate: float = 1.0  # frame-level models' learning rate times this (module docstring)
    min_epochs: float | None = None  # single models train at least this many epochs (module docstring)


PRESETS = {
    "paper": Preset("paper", 1.0, None, 1.0, None),
    "small": Preset("small", 1 / 4, None, 1 / 2, None),
    "tiny": Preset("tiny", 1 / 32, 2, 1 / 3, 16, stacking_epochs=10.0, frame_learning_rate=10.0, min_epochs=5.0),
}
MIN_WIDTH, MIN_FRAMES = 4, 2


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets are {', '.join(PRESETS)}")
    return PRESETS[name]


def _scale(value: Any, marker: PresetMarker, p: Preset) -> Any:
    if isinstance(value, (tuple, list)):
        return [_scale(v, marker, p) for v in value]
    if value is None or value == 0:
        return value
    if marker.kind == "width":
        return max(MIN_WIDTH, round(value * p.width))
    if marker.kind == "frames":
        return max(MIN_FRAMES, round(value * p.frames))
    return value if p.max_mixtures is None else min(value, p.max_mixtures)


def scale_model(model: dict, params_type: type, p: Preset, level: str) -> dict:
    """A single model's dict (architecture, params, training, cascade) at preset ``p``; ``level``: its input
    level (frame or video)."""
    params = dict(model["params"])
    for name, info in params_type.model_fields.items():
        markers = [m for m in info.metadata if isinstance(m, PresetMarker)]
        if markers:
            params[name] = _scale(params.get(name, info.default), markers[0], p)
    out = {**model, "params": params}
    if p.batch_size is not None:
        out["training"] = {**model["training"], "batch_size": p.batch_size}
    if level == "frame" and p.frame_learning_rate != 1.0:
        training = out["training"]
        out["training"] = {**training, "learning_rate": training["learning_rate"] * p.frame_learning_rate}
    if p.min_epochs is not None and out["training"]["epochs"] < p.min_epochs:
        out["training"] = {**out["training"], "epochs": p.min_epochs}
    if model.get("cascade"):
        out["cascade"] = {**model["cascade"],
                          "projection": _scale(model["cascade"]["projection"], PresetMarker("width"), p)}
    return out
