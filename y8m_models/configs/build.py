"""From a configuration to a model: the one way in (torch starts here; the rest of ``configs`` is data)."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from y8m_models.configs.registry import ConfigError, resolve
from y8m_models.configs.schema import Configuration, SingleModel
from y8m_models.layers.context_gating import gate_heads
from y8m_models.models import ModelInputs, build_architecture

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


def parameter_count(model: SingleModel | dict, num_classes: int) -> int:
    """How many parameters ``model`` has for ``num_classes`` classes, counted on the meta device (no memory)."""
    if isinstance(model, dict):
        model = SingleModel.model_validate(model)
    with torch.device("meta"):
        inputs = ModelInputs(num_classes, vertical_matrix=torch.zeros(num_classes, VERTICALS), cascade=model.cascade)
        return sum(p.numel() for p in build_model(model, inputs).parameters())
