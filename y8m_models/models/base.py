"""What every model shares: its inputs and output, the builders registered under the architectures' names
(``y8m_models.architectures`` declares them, with their parameters) and the input helpers (cropping to
``max_frames``, the authors' input L2 normalisation, catalog §4.2).

A model is built from an architecture name and a parameter object, ``build_architecture(name, params,
inputs)``; ``forward(batch)`` takes the batch dict of ``y8m_models.data.dataset.to_device`` (``features``
[B, T, D] and ``num_frames`` [B] for frame level, ``features`` [B, D] for video level) and returns a
``ModelOutput``. Losses live outside models (``y8m_models.losses``).

A cascade model (paper §7, Fig. 6; catalog §4.12, #47-#74) is built with ``ModelInputs.cascade`` set and
reads one more batch key, ``"cascade"``: float [B, M, C], the predictions (probabilities) of the
configurations ``cascade_streams(spec)`` for the batch's videos, in that order. Its ``CascadeFeature`` turns
them into ``d`` [B, P] (``layers.cascade.Cascade``), which the family concatenates before its MoE(s). Only
the architectures declared with ``cascade=True`` accept one.

Shape suffixes: B batch, T frames, D features, C classes, K attention groups, S auxiliary predictions,
V verticals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from y8m_models.architectures import (
    ARCHITECTURES,
    VOCABULARY_2017,
    CascadeSpec,
    ModelParams,
    architecture,
    cascade_streams,
)
from y8m_models.layers.cascade import Cascade
from y8m_models.layers.moe import MoE
from y8m_models.layers.split_head import SigmoidSoftmaxMoE

FREQUENT_2017 = 1000  # #56: the first 1000 labels of 4716 are the frequent ones (zt softmax_bound)


@dataclass(frozen=True)
class ModelInputs:
    """What a model needs to know about the dataset it is built for, and its cascade input if it has one."""

    num_classes: int
    feature_sizes: tuple[int, ...] = (1024, 128)  # rgb, audio
    vertical_matrix: torch.Tensor | None = None  # [C, V] 0/1 label -> vertical (vocabulary.csv Vertical1)
    cascade: CascadeSpec | None = None  # set: the model reads batch["cascade"] (see cascade_streams)

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


BUILDERS: dict[str, Callable[[ModelParams, ModelInputs], nn.Module]] = {}


def register(name: str):
    """Decorator for a family module's private builder ``(params, inputs) -> nn.Module`` of the architecture
    ``name`` (declared in ``y8m_models.architectures``, with its level, parameters and family)."""
    declared = architecture(name)

    def decorate(build: Callable[[ModelParams, ModelInputs], nn.Module]):
        family = build.__module__.rsplit(".", 1)[-1]
        if family != declared.family:
            raise ValueError(f"architecture {name!r} belongs to the {declared.family} family, not {family}")
        if name in BUILDERS:
            raise ValueError(f"architecture {name!r} is registered twice")
        BUILDERS[name] = build
        return build

    return decorate


def build_architecture(name: str, params: ModelParams | dict, inputs: ModelInputs) -> nn.Module:
    arch = architecture(name)
    if isinstance(params, dict):
        params = arch.params.model_validate(params)
    elif not isinstance(params, arch.params):
        raise TypeError(f"architecture {name!r} takes {arch.params.__name__}, not {type(params).__name__}")
    if inputs.cascade is None:
        return BUILDERS[name](params, inputs)
    if not arch.cascade:
        takers = ", ".join(sorted(n for n, a in ARCHITECTURES.items() if a.cascade))
        raise ValueError(f"architecture {name!r} takes no cascade input; those that do: {takers}")
    model = BUILDERS[name](params, inputs)
    if inputs.cascade.infrequent_from is None:
        return model
    source = cascade_streams(inputs.cascade).index(inputs.cascade.infrequent_from)
    return InfrequentFromStream(model, source, frequent_split(FREQUENT_2017, inputs.num_classes, "infrequent_from"))


# --- cascade input (paper §7, Fig. 6; catalog §4.12) -------------------------------------------------------

class CascadeFeature(nn.Module):
    """batch -> d [B, P]: the learned average of ``batch["cascade"]``'s streams, projected (``Cascade``)."""

    def __init__(self, spec: CascadeSpec, num_classes: int):
        super().__init__()
        if spec.normalize not in ("l2", "none"):
            raise ValueError(f"cascade normalize must be 'l2' or 'none', not {spec.normalize!r}")
        self.streams, self.carried = len(spec.streams), len(cascade_streams(spec))
        self.cascade = Cascade(num_classes, self.streams, spec.projection, spec.normalize == "l2", spec.l1_input)
        self.out_features = spec.projection

    def forward(self, batch: dict) -> torch.Tensor:
        if "cascade" not in batch:
            raise ValueError("this model has a cascade input: the batch needs 'cascade', the [B, M, C] "
                             "predictions of its streams")
        p_BMC = batch["cascade"]
        if p_BMC.dim() != 3 or p_BMC.shape[1] != self.carried:
            raise ValueError(f"batch['cascade'] must be [B, {self.carried}, C] (one row per stream), got "
                             f"{tuple(p_BMC.shape)}")
        return self.cascade(p_BMC[:, : self.streams])


def cascade_feature(inputs: ModelInputs) -> CascadeFeature | None:
    return None if inputs.cascade is None else CascadeFeature(inputs.cascade, inputs.num_classes)


def cascade_width(inputs: ModelInputs) -> int:
    """P, the width ``d`` adds to every input it is concatenated to (0 without a cascade input)."""
    return 0 if inputs.cascade is None else inputs.cascade.projection


def cascade_parts(cascade: CascadeFeature | None, batch: dict) -> list[torch.Tensor]:
    """``[d]`` to concatenate after a representation, or ``[]`` for a model without a cascade input."""
    return [] if cascade is None else [cascade(batch)]


def frequent_split(frequent_classes: int, num_classes: int, why: str) -> int:
    """F for this dataset: the 2017 share (e.g. 1000 / 4716) of its classes, kept in [1, C - 1]."""
    if num_classes < 2:
        raise ValueError(f"{why} needs at least 2 classes, the dataset has {num_classes}")
    return min(max(round(num_classes * frequent_classes / VOCABULARY_2017), 1), num_classes - 1)


class InfrequentFromStream(nn.Module):
    """#56: the model's predictions for the F frequent labels, one carried stream's for the rest.

    The paper joins model #6's predictions for the infrequent labels (past the first 1000 of 4716, the same
    share of another vocabulary) with the cascade model's for the frequent ones; [DIFF] the code takes them
    from #75, the averaged stream itself (``infrequent_from``). The copied part is data, so the loss on it is
    constant. [DIFF-detail] The code's MoE predicts the frequent labels only; here it predicts all C and the
    infrequent columns are discarded: the same frequent predictions (an MoE's classes are independent), with
    unused weights.
    """

    def __init__(self, model: nn.Module, source: int, frequent: int):
        super().__init__()
        self.model, self.source, self.frequent = model, source, frequent

    def forward(self, batch: dict) -> ModelOutput:
        out = self.model(batch)  # the model has checked batch["cascade"]'s shape
        copied_BC = batch["cascade"][:, self.source, self.frequent:].to(out.predictions.dtype)
        out.predictions = torch.cat([out.predictions[:, : self.frequent], copied_BC], dim=-1)
        return out


class LabelLogits(nn.Linear):
    """A linear layer whose outputs are the C labels' logits (a logistic classifier that keeps its logits, e.g.
    to mix them): ``start_at_label_prior`` starts its bias at logit(prior)."""


# --- input helpers -----------------------------------------------------------------------------------------

@torch.no_grad()
def start_at_label_prior(model: nn.Module, prior_C: torch.Tensor) -> int:
    """Set every label classifier of ``model`` (an MoE, the split head, the logistic head: whatever outputs
    the C label probabilities, Chaining stages and scales included) to start at the label frequencies
    ``prior_C``; returns how many were set. Other heads (the V-vertical MoE) are left as they are.

    Why (the measurements are in BENCHMARKS.md, "Leaving the label prior"): with the authors' zero
    expert biases every class starts at ~K/(2(K+1)) (1/3 with 2 mixtures) while real labels are ~1% of the
    classes, so the first steps' gradient says "lower every class" for every video alike. Adam moves each of a
    wide LSTM's input weights by ~lr per step, and the fastest way to answer that gradient is a constant
    feature: the LSTM's cell state runs away and its outputs h = o * tanh(c) saturate at +-1 for every video.
    The models that pool or read h (#25-#27, #10, the 'output' state) then see the same vector for every video
    and stay at the label-prior loss; the ones that read c survive because c is unbounded.
    Starting at the priors removes that first push. [DIFF] The authors' heads start at zero biases."""
    classes, done = len(prior_C), 0
    for module in model.modules():
        if isinstance(module, (MoE, SigmoidSoftmaxMoE)) and module.num_classes == classes:
            module.start_at(prior_C)
            done += 1
        elif (isinstance(module, nn.Sequential) and len(module) == 2 and isinstance(module[0], nn.Linear)
              and isinstance(module[1], nn.Sigmoid) and module[0].out_features == classes):  # the logistic head
            module[0].bias.copy_(torch.logit(prior_C.to(module[0].bias).clamp(1e-6, 1 - 1e-6)))
            done += 1
        elif isinstance(module, LabelLogits) and module.out_features == classes:
            module.bias.copy_(torch.logit(prior_C.to(module.bias).clamp(1e-6, 1 - 1e-6)))
            done += 1
    return done


def frame_inputs(batch: dict, max_frames: int, normalize: str,
                 feature_sizes: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames [B, T <= max_frames, D] normalised as ``normalize_features``, num_frames [B] clamped to T) from a
    frame-level batch: what every frame model starts from."""
    if "num_frames" not in batch:
        raise ValueError("this is a frame-level model; the batch holds video-level features")
    x_BTD = batch["features"][:, :max_frames]
    return normalize_features(x_BTD, normalize, feature_sizes), batch["num_frames"].clamp(max=x_BTD.shape[1])


def frame_lengths(batch: dict, steps: int) -> torch.Tensor:
    """num_frames [B] clamped to ``steps``, on the host: what an LSTM over packed sequences is given
    (``StackedLSTM``). From the array ``to_device`` keeps on the host, so that no step waits for the device;
    a batch without one (a model called on a hand-made batch) has its num_frames copied."""
    if "num_frames_host" in batch:
        return torch.as_tensor(batch["num_frames_host"]).clamp(max=steps)
    return batch["num_frames"].to("cpu").clamp(max=steps)


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


def frame_shares(w_BTK: torch.Tensor) -> torch.Tensor:
    """Nonnegative frame weights [B, T, K] as each column's share per frame (sum 1 over the frames; a column of
    zeros stays zero): what ``ModelOutput.attention`` holds, for the gallery."""
    total_B1K = w_BTK.sum(dim=1, keepdim=True)
    return w_BTK / torch.where(total_B1K > 0, total_B1K, 1.0)


def valid_mask(num_frames_B: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, T] True on each video's valid frames."""
    return torch.arange(steps, device=num_frames_B.device)[None, :] < num_frames_B[:, None]
