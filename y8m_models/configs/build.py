"""From a configuration to a model: the one way in (torch starts here; the rest of ``configs`` is data)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import torch
from torch import nn

from y8m_models.configs.registry import ConfigError, resolve
from y8m_models.configs.schema import Combiner, Configuration, SingleModel
from y8m_models.data.layout import YOUTUBE_8M, FeatureLayout
from y8m_models.layers.context_gating import gate_heads
from y8m_models.models import ModelInputs, build_architecture

if TYPE_CHECKING:
    from y8m_models.pipeline import Job

VERTICALS = 32  # verticals that stand in for a vocabulary's (YouTube-8M: 25) when a model is only counted


def build_model(model: SingleModel | Configuration | int | str, inputs: ModelInputs,
                preset: str = "paper") -> nn.Module:
    """The model of a single-model configuration (a ``Configuration``, number or slug, resolved at ``preset``,
    unless already a ``SingleModel``).

    A cascade model (#47-#74) is built for its ``cascade`` input (``inputs.cascade`` is replaced by the
    model's own): its forward also reads ``batch["cascade"]``, the predictions of
    ``architectures.cascade_streams(model.cascade)`` in that order."""
    if not isinstance(model, SingleModel):
        config = resolve(model, preset)
        if config.model is None:
            raise ConfigError(f"{config.name} is an ensemble ({config.ensemble.method}); it has no single model")
        model = config.model
    net = build_architecture(model.architecture, model.params, replace(inputs, cascade=model.cascade))
    if model.context_gating != "none":
        gate_heads(net, model.context_gating, inputs.num_classes)
    return net


def parameter_count(model: SingleModel | dict, num_classes: int, features: FeatureLayout = YOUTUBE_8M) -> int:
    """How many parameters ``model`` has for ``num_classes`` classes on a dataset's ``features``, counted on the
    meta device (no memory)."""
    if isinstance(model, dict):
        model = SingleModel.model_validate(model)
    with torch.device("meta"):
        inputs = ModelInputs(num_classes, features.spec(model.level).sizes,
                             vertical_matrix=torch.zeros(num_classes, VERTICALS), cascade=model.cascade)
        return sum(p.numel() for p in build_model(model, inputs).parameters())


def combiner_parameter_count(combiner: Combiner | dict, members: int, num_classes: int,
                             features: FeatureLayout = YOUTUBE_8M) -> int:
    """How many parameters a stack's combiner over ``members`` has (the attention stack's gate reads the
    video-level features: YouTube-8M's 1,152), counted on the meta device."""
    from y8m_models.ensemble.stacking import build_stack

    with torch.device("meta"):
        stack = build_stack(Combiner.model_validate(combiner), members, num_classes, features.video.dim)
    return sum(p.numel() for p in stack.parameters())


def job_parameters(job: Job, num_classes: int, features: FeatureLayout = YOUTUBE_8M) -> int:
    """The parameters a job of ``pipeline.plan`` trains itself: a model's, a stack's combiner's, a merge's 0."""
    if job.kind == "train":
        return parameter_count(job.config.model, num_classes, features)
    if job.kind == "stack":
        return combiner_parameter_count(job.config.ensemble.combiner, len(job.members), num_classes, features)
    return 0
