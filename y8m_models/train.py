"""The paper's training protocol, one step at a time (catalog §4.8): Adam, the staircase learning-rate decay
``lr = base * decay_rate ** floor(examples / decay_examples)``, per-tensor gradient-norm clipping as TF's
``clip_by_norm`` (each gradient scaled to norm at most ``clip_norm`` on its own), and L2 on the weight
matrices only (the authors' slim regularisers; biases are not regularised).

The training loop with checkpoints, evaluation and callbacks is built on ``train_step`` (the Training-engine
issue); the model-zoo tests use it directly.
"""

from __future__ import annotations

import torch
from torch import nn

from y8m_models.configs.schema import SingleModel, Training
from y8m_models.data.dataset import to_device
from y8m_models.losses import model_loss


def build_optimizer(model: nn.Module, training: Training) -> tuple[torch.optim.Optimizer,
                                                                    torch.optim.lr_scheduler.LambdaLR]:
    """Adam over the model's parameters (L2 on tensors of rank >= 2) and the staircase schedule, stepped once
    per batch of ``training.batch_size`` examples."""
    weights = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    others = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.Adam([{"params": weights, "weight_decay": training.l2},
                                  {"params": others, "weight_decay": 0.0}], lr=training.learning_rate,
                                 betas=(0.9, 0.999), eps=1e-8)

    def factor(step: int) -> float:
        return training.decay_rate ** (step * training.batch_size // training.decay_examples)

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def clip_per_tensor(model: nn.Module, clip_norm: float) -> None:
    """Scale every gradient whose L2 norm exceeds ``clip_norm`` down to that norm (TF ``clip_by_norm``)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    norms = torch._foreach_norm(grads)
    scales = [torch.clamp(clip_norm / torch.clamp(n, min=1e-12), max=1.0) for n in norms]
    torch._foreach_mul_(grads, scales)


def train_step(model: nn.Module, batch: dict, spec: SingleModel, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, device: torch.device | str = "cpu",
               vertical_matrix: torch.Tensor | None = None, weights: torch.Tensor | None = None) -> float:
    """One optimisation step on a loader batch; returns the loss."""
    model.train()
    inputs = to_device(batch, device)
    output = model(inputs)
    loss = model_loss(output, inputs["labels"], spec.loss, weights, vertical_matrix)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    clip_per_tensor(model, spec.training.clip_norm)
    optimizer.step()
    scheduler.step()
    return float(loss.detach())


def train_steps(model: nn.Module, spec: SingleModel, files: list, num_classes: int, steps: int,
                seed: int = 0, device: torch.device | str = "cpu",
                vertical_matrix: torch.Tensor | None = None) -> list[float]:
    """Train ``model`` for ``steps`` batches of ``spec.training.batch_size`` from ``files`` (shuffled, epoch after
    epoch), with the optimizer and schedule of ``spec.training``; returns the losses."""
    from torch.utils.data import DataLoader

    from y8m_models.data.dataset import YT8MDataset

    frames = getattr(spec.params, "max_frames", 300)
    data = YT8MDataset(files, spec.level, num_classes, batch_size=spec.training.batch_size, shuffle=True, seed=seed,
                       max_frames=frames)
    optimizer, scheduler = build_optimizer(model, spec.training)
    losses: list[float] = []
    epoch = 0
    while len(losses) < steps:
        data.set_epoch(epoch)
        epoch += 1
        for batch in DataLoader(data, batch_size=None):
            if len(batch["video_ids"]) and len(losses) < steps:  # a 0-video batch only carries damage counts
                losses.append(train_step(model, batch, spec, optimizer, scheduler, device, vertical_matrix))
    return losses


@torch.no_grad()
def predict(model: nn.Module, spec: SingleModel, files: list, num_classes: int, batch_size: int = 256,
            device: torch.device | str = "cpu") -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(video ids, predictions [N, C], labels [N, C]) of ``model`` in eval mode over ``files`` in file order."""
    from torch.utils.data import DataLoader

    from y8m_models.data.dataset import YT8MDataset

    data = YT8MDataset(files, spec.level, num_classes, batch_size=batch_size,
                       max_frames=getattr(spec.params, "max_frames", 300))
    model.eval()
    ids, predictions, labels = [], [], []
    for batch in DataLoader(data, batch_size=None):
        inputs = to_device(batch, device)
        ids.extend(batch["video_ids"])
        predictions.append(model(inputs).predictions.float().cpu())
        labels.append(inputs["labels"].cpu())
    return ids, torch.cat(predictions), torch.cat(labels)
