"""The training protocol's pieces (catalog §4.8): staircase decay, L2 on weight matrices, per-tensor clipping."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from y8m_models.configs.schema import Training
from y8m_models.train import build_optimizer, clip_per_tensor


def test_staircase_decay_per_examples_seen() -> None:
    model = nn.Linear(3, 2)
    training = Training(learning_rate=0.01, batch_size=1000, decay_rate=0.5, decay_examples=2500)
    optimizer, scheduler = build_optimizer(model, training)
    seen = []
    for _ in range(6):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    # floor(step * 1000 / 2500): steps 0-2 -> 0, 3-4 -> 1, 5 -> 2
    assert seen == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005, 0.0025])


def test_l2_on_weight_matrices_only() -> None:
    model = nn.Linear(3, 2)
    optimizer, _ = build_optimizer(model, Training(learning_rate=0.01, batch_size=8, l2=1e-3))
    decay = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert decay[id(model.weight)] == 1e-3 and decay[id(model.bias)] == 0.0


def test_clip_per_tensor_is_tf_clip_by_norm() -> None:
    model = nn.Linear(2, 2)
    model.weight.grad = torch.tensor([[3.0, 0.0], [0.0, 4.0]])  # norm 5
    model.bias.grad = torch.tensor([0.3, 0.4])  # norm 0.5: left alone
    clip_per_tensor(model, 1.0)
    torch.testing.assert_close(model.weight.grad, torch.tensor([[0.6, 0.0], [0.0, 0.8]]))
    torch.testing.assert_close(model.bias.grad, torch.tensor([0.3, 0.4]))
