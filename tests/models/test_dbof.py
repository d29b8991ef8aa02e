"""DBoF (Table 2 baseline): sizes, gradients, frame sampling, batch norm over valid frames only, padding."""

from __future__ import annotations

import torch

from y8m_models.models.base import ModelInputs, build_architecture
from y8m_models.models.dbof import sample_frames

C, D = 10, 16
INPUTS = ModelInputs(num_classes=C, feature_sizes=(12, 4))
PARAMS = {"sample_frames": 5, "cluster_size": 8, "hidden_size": 6, "mixtures": 2, "max_frames": 10}


def _batch(num_frames: list[int], steps: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(num_frames), steps, D, generator=g)
    n = torch.tensor(num_frames)
    x[torch.arange(steps)[None, :] >= n[:, None]] = 0.0
    return {"features": x, "num_frames": n}


def _pad(batch: dict, extra: int) -> dict:
    x = batch["features"]
    return {"features": torch.cat([x, torch.zeros(x.shape[0], extra, D)], dim=1), "num_frames": batch["num_frames"]}


def test_size_and_finite_gradients_for_every_parameter() -> None:
    torch.manual_seed(0)
    model = build_architecture("dbof", PARAMS, INPUTS).train()
    moe = 6 * C * 3 + 6 * C * 2 + C * 2
    assert sum(p.numel() for p in model.parameters()) == 2 * D + D * 8 + 2 * 8 + 8 * 6 + 2 * 6 + moe
    out = model(_batch([4, 7, 0], steps=8))
    assert out.predictions.shape == (3, C) and torch.isfinite(out.predictions).all()
    (out.predictions * torch.randn(3, C)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_samples_come_from_valid_frames_only() -> None:
    torch.manual_seed(1)
    n = torch.tensor([3, 1, 0, 6])
    x = torch.arange(6.0)[None, :, None].expand(4, 6, 2)  # each frame holds its own index
    picked = sample_frames(x, n, samples=200)[..., 0]
    assert picked.shape == (4, 200)
    for b, count in enumerate(n.tolist()):
        assert set(picked[b].long().tolist()) == set(range(max(count, 1)))  # uniform over all valid frames


def test_eval_is_deterministic_and_ignores_padding() -> None:
    torch.manual_seed(3)
    model = build_architecture("dbof", PARAMS, INPUTS)
    model.train()(_batch([4, 6, 2], steps=6, seed=9))  # move the running statistics off their start
    model.eval()
    batch = _batch([4, 6, 0], steps=6)
    first = model(batch).predictions
    torch.testing.assert_close(model(batch).predictions, first)
    torch.testing.assert_close(model(_pad(batch, 3)).predictions, first)
    assert torch.isfinite(first).all()


def test_training_padding_invariance_under_the_same_draws() -> None:
    model = build_architecture("dbof", PARAMS, INPUTS).train()
    batch = _batch([4, 6, 0], steps=6)
    torch.manual_seed(4)
    first = model(batch).predictions
    torch.manual_seed(4)
    torch.testing.assert_close(model(_pad(batch, 3)).predictions, first)
