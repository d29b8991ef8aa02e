"""What every model shares: its output, its parameters' base classes, the architecture registry and the
input helpers (cropping to ``max_frames``, the authors' input L2 normalisation, catalog §4.2).

A model is built from an architecture name and a parameter object, ``build_architecture(name, params,
inputs)``; ``forward(batch)`` takes the batch dict of ``y8m_models.data.dataset.to_device`` (``features``
[B, T, D] and ``num_frames`` [B] for frame level, ``features`` [B, D] for video level) and returns a
``ModelOutput``. Losses live outside models (``y8m_models.losses``).

Parameter fields carry a preset marker (``WIDTH``, ``MIXTURES``, ``FRAMES``) so that the ``small`` and
``tiny`` presets are derived from the paper values by one rule (``y8m_models.configs.presets``).

Shape suffixes: B batch, T frames, D features, C classes, K attention groups, S auxiliary predictions,
V verticals.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn


@dataclass(frozen=True)
class PresetMarker:
    """How a parameter scales with the preset: a layer width, an MoE mixture count, or a length in frames."""

    kind: Literal["width", "mixtures", "frames"]


WIDTH, MIXTURES, FRAMES = PresetMarker("width"), PresetMarker("mixtures"), PresetMarker("frames")
Width = Annotated[int, Field(ge=1), WIDTH]
Widths = Annotated[tuple[Annotated[int, Field(ge=1)], ...], Field(min_length=1), WIDTH]
Mixtures = Annotated[int, Field(ge=1), MIXTURES]
Frames = Annotated[int, Field(ge=1), FRAMES]
OptionalWidth = Annotated[int, Field(ge=0), WIDTH]  # 0 = the feature is off (presets keep 0 at 0)
Count = Annotated[int, Field(ge=1)]  # layers, stages, groups: structure, never scaled


class ModelParams(BaseModel):
    """Base of every architecture's parameters: unknown keys and impossible values are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class VideoParams(ModelParams):
    normalize: Literal["joint", "none"] = "joint"  # L2-normalise the concatenated input (wh DefaultTransformer)
    # [DIFF] the paper says no augmentation; several of the authors' video Chaining runs add N(0, s^2) to the
    # raw input while training (catalog §4.2). 0 = the paper.
    input_noise: float = Field(0.0, ge=0)


class FrameParams(ModelParams):
    max_frames: Frames = 300  # frames read per video (the reader keeps the first 300)
    # joint: L2-normalise each frame's concatenated features; per_part: rgb and audio separately; none.
    normalize: Literal["joint", "per_part", "none"] = "joint"


@dataclass(frozen=True)
class ModelInputs:
    """What a model needs to know about the dataset it is built for."""

    num_classes: int
    feature_sizes: tuple[int, ...] = (1024, 128)  # rgb, audio
    vertical_matrix: torch.Tensor | None = None  # [C, V] 0/1 label -> vertical (vocabulary.csv Vertical1)

    @property
    def feature_dim(self) -> int:
        return sum(self.feature_sizes)


@dataclass
class ModelOutput:
    """predictions [B, C] probabilities; auxiliary [B, S, C]: Chaining stage or per-scale predictions the loss
    trains; attention [B, T, K] pooling weights (0 on padding); verticals [B, V] vertical-head
    probabilities; infrequent [B, C_inf + 1]: the softmax over infrequent labels plus a "none" slot."""

    predictions: torch.Tensor
    auxiliary: torch.Tensor | None = None
    attention: torch.Tensor | None = None
    verticals: torch.Tensor | None = None
    infrequent: torch.Tensor | None = None


@dataclass(frozen=True)
class Architecture:
    name: str
    level: Literal["video", "frame"]
    params: type[ModelParams]
    build: Callable[[ModelParams, ModelInputs], nn.Module]
    family: str  # the module that defines it, e.g. "lstm"


ARCHITECTURES: dict[str, Architecture] = {}


def register(name: str, level: Literal["video", "frame"], params: type[ModelParams]):
    """Decorator for a family module's private builder ``(params, inputs) -> nn.Module``."""

    def decorate(build: Callable[[ModelParams, ModelInputs], nn.Module]):
        if name in ARCHITECTURES:
            raise ValueError(f"architecture {name!r} is registered twice "
                             f"({ARCHITECTURES[name].family} and {build.__module__})")
        ARCHITECTURES[name] = Architecture(name, level, params, build, build.__module__.rsplit(".", 1)[-1])
        return build

    return decorate


def architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        close = difflib.get_close_matches(name, ARCHITECTURES, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(ARCHITECTURES))}"
        raise ValueError(f"unknown architecture {name!r}{hint}")
    return ARCHITECTURES[name]


def build_architecture(name: str, params: ModelParams | dict, inputs: ModelInputs) -> nn.Module:
    arch = architecture(name)
    if isinstance(params, dict):
        params = arch.params.model_validate(params)
    elif not isinstance(params, arch.params):
        raise TypeError(f"architecture {name!r} takes {arch.params.__name__}, not {type(params).__name__}")
    return arch.build(params, inputs)


# --- input helpers -----------------------------------------------------------------------------------------

def frame_inputs(batch: dict, max_frames: int, normalize: str,
                 feature_sizes: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames [B, T <= max_frames, D] normalised as ``normalize_features``, num_frames [B] clamped to T) from a
    frame-level batch: what every frame model starts from."""
    if "num_frames" not in batch:
        raise ValueError("this is a frame-level model; the batch holds video-level features")
    x_BTD = batch["features"][:, :max_frames]
    return normalize_features(x_BTD, normalize, feature_sizes), batch["num_frames"].clamp(max=x_BTD.shape[1])


def video_inputs(batch: dict) -> torch.Tensor:
    if "num_frames" in batch or batch["features"].dim() != 2:
        raise ValueError("this is a video-level model; the batch holds frame-level features")
    return batch["features"]


def normalize_features(x_ND: torch.Tensor, mode: str, feature_sizes: tuple[int, ...]) -> torch.Tensor:
    """The authors' input transform over the last axis: ``joint`` L2-normalises the concatenated features,
    ``per_part`` each part (rgb, audio) separately, ``none`` leaves them. All-zero padding stays zero."""
    if mode == "joint":
        return F.normalize(x_ND, dim=-1)
    if mode == "per_part":
        return torch.cat([F.normalize(part, dim=-1) for part in x_ND.split(feature_sizes, dim=-1)], dim=-1)
    if mode == "none":
        return x_ND
    raise ValueError(f"normalize must be 'joint', 'per_part' or 'none', not {mode!r}")


def valid_mask(num_frames_B: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, T] True on each video's valid frames."""
    return torch.arange(steps, device=num_frames_B.device)[None, :] < num_frames_B[:, None]
