"""``y8m configs check``: build every single model of the chosen configurations, run one forward and backward
pass on a synthetic batch, and check what the rest of the system relies on: prediction shape and range,
auxiliary and attention shapes, attention weights summing to 1 over valid frames and 0 on padding, a finite
loss and finite gradients. A cascade model (#47-#74) gets random stream predictions as ``batch["cascade"]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from y8m_models.architectures import cascade_streams
from y8m_models.configs.build import build_model
from y8m_models.configs.registry import resolve, single_models
from y8m_models.configs.schema import Configuration, SingleModel
from y8m_models.losses import model_loss
from y8m_models.models import ModelInputs, ModelOutput


@dataclass(frozen=True)
class CheckResult:
    label: str  # "#18 chaining_cnn", or "#29.3" for an inline ensemble member
    status: str  # "ok" or "failed"
    parameters: int = 0
    seconds: float = 0.0
    detail: str = ""


def synthetic_batch(level: str, inputs: ModelInputs, batch_size: int = 4, frames: int = 12,
                    seed: int = 0) -> dict:
    """Random features in the dequantized range with videos of different lengths (one without frames when
    the batch has room for it), zero padding after each length, and random labels (at least one each); with
    ``inputs.cascade``, random probabilities [B, M, C] for its streams as ``cascade``."""
    g = torch.Generator().manual_seed(seed)
    labels = (torch.rand(batch_size, inputs.num_classes, generator=g) < 0.1).float()
    labels[torch.arange(batch_size), torch.randint(inputs.num_classes, (batch_size,), generator=g)] = 1.0
    if level == "video":
        batch = {"features": torch.randn(batch_size, inputs.feature_dim, generator=g), "labels": labels}
    else:
        num_frames = torch.linspace(frames, 1, batch_size).round().long()
        if batch_size >= 4:
            num_frames[-1] = 0
        x = torch.randn(batch_size, frames, inputs.feature_dim, generator=g)
        x = x * (torch.arange(frames)[None, :, None] < num_frames[:, None, None])
        batch = {"features": x, "num_frames": num_frames, "labels": labels}
    if inputs.cascade is not None:
        streams = len(cascade_streams(inputs.cascade))
        batch["cascade"] = torch.rand(batch_size, streams, inputs.num_classes, generator=g)
    return batch


def random_vertical_matrix(num_classes: int, verticals: int = 25, seed: int = 0) -> torch.Tensor:
    """[C, V] 0/1: every class in one vertical (for checks without a vocabulary)."""
    g = torch.Generator().manual_seed(seed)
    matrix = torch.zeros(num_classes, verticals)
    matrix[torch.arange(num_classes), torch.randint(verticals, (num_classes,), generator=g)] = 1.0
    return matrix


def _problems(out: ModelOutput, batch: dict, num_classes: int) -> list[str]:
    found = []
    b = batch["labels"].shape[0]
    p = out.predictions
    if p.shape != (b, num_classes):
        found.append(f"predictions have shape {tuple(p.shape)}, expected {(b, num_classes)}")
    elif not (torch.isfinite(p).all() and p.min() >= 0 and p.max() <= 1):
        found.append("predictions are not probabilities in [0, 1]")
    if out.auxiliary is not None and (out.auxiliary.shape[0] != b or out.auxiliary.shape[2] != num_classes):
        found.append(f"auxiliary predictions have shape {tuple(out.auxiliary.shape)}, expected [{b}, S, {num_classes}]")
    if out.attention is not None:
        a = out.attention
        t = batch["features"].shape[1]
        n = batch["num_frames"]
        if a.shape[:2] != (b, t):
            found.append(f"attention has shape {tuple(a.shape)}, expected [{b}, {t}, K]")
        else:
            valid = (torch.arange(t)[None, :] < n[:, None])[:, :, None]
            sums = a.sum(dim=1)
            expected = (n > 0).to(a.dtype)[:, None].expand_as(sums)
            if not torch.allclose(sums, expected, atol=1e-4):
                found.append("attention weights do not sum to 1 over the valid frames")
            if (a * ~valid).abs().max() > 0:
                found.append("attention weights are not 0 on padding")
    return found


def check_model(label: str, model: SingleModel, inputs: ModelInputs, batch_size: int = 4,
                frames: int = 12) -> CheckResult:
    """One forward + backward of ``model`` on a synthetic batch."""
    inputs = replace(inputs, cascade=model.cascade)
    start = time.perf_counter()
    torch.manual_seed(0)
    net = None
    try:
        net = build_model(model, inputs)
        batch = synthetic_batch(model.level, inputs, batch_size, min(frames, getattr(model.params, "max_frames", 1)))
        net.train()
        out = net(batch)
        found = _problems(out, batch, inputs.num_classes)
        if not found:
            found = _backward_problems(net, out, batch, model, inputs)
    except Exception as exc:  # noqa: BLE001 - a check reports every failure, whatever it is
        found = [f"{type(exc).__name__}: {exc}"]
    parameters = sum(p.numel() for p in net.parameters()) if net is not None else 0
    return CheckResult(label, "failed" if found else "ok", parameters, time.perf_counter() - start, "; ".join(found))


def _backward_problems(net: torch.nn.Module, out: ModelOutput, batch: dict, model: SingleModel,
                       inputs: ModelInputs) -> list[str]:
    loss = model_loss(out, batch["labels"], model.loss, vertical_matrix_CV=inputs.vertical_matrix)
    if not torch.isfinite(loss):
        return [f"the loss is {float(loss)}"]
    loss.backward()
    bad = [name for name, p in net.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    if bad:
        return [f"non-finite gradients in {', '.join(bad[:3])}"]
    if not any(p.grad is not None for p in net.parameters()):
        return ["no parameter received a gradient"]
    return []


def check_configurations(configs: list[Configuration], preset: str = "tiny", as_in_code: bool = False,
                         num_classes: int = 60, feature_sizes: tuple[int, ...] = (1024, 128)) -> list[CheckResult]:
    """``check_model`` for every single model the configurations define (ensembles: their inline members)."""
    inputs = ModelInputs(num_classes, feature_sizes, random_vertical_matrix(num_classes))
    results = []
    for config in configs:
        resolved = resolve(config, preset, as_in_code)
        for label, model in single_models(resolved):
            results.append(check_model(label, model, inputs))
    return results
