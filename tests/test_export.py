"""``y8m export``: a trained model in fp16 or int8 with its configuration and vocabulary in one file that loads with
``weights_only=True``, scored by ``y8m eval`` within a small tolerance of its float32 weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from y8m_models.cli import app
from y8m_models.configs import resolve
from y8m_models.configs.build import build_model
from y8m_models.configs.check import synthetic_batch
from y8m_models.export import ExportError, dequantize_rows, export_model, load_exported, quantize_rows
from y8m_models.models import ModelInputs


def test_int8_rows_are_within_half_a_step() -> None:
    torch.manual_seed(0)
    w = torch.randn(6, 5, 3) * torch.tensor([0.01, 1.0, 100.0, 0.0, 3.0, 1e-3])[:, None, None]
    q, scale = quantize_rows(w)
    assert q.dtype == torch.int8 and scale.shape == (6,) and int(q.abs().max()) == 127
    error = (dequantize_rows(q, scale) - w).abs().flatten(1).amax(dim=1)
    assert (error <= scale / 2 + 1e-12).all()
    assert (dequantize_rows(q, scale)[3] == 0).all()  # an all-zero row stays zero


@pytest.mark.parametrize("number", [81, 85, 25])
@pytest.mark.parametrize("dtype", ["fp16", "int8"])
def test_an_export_loads_with_weights_only_and_predicts_as_the_model(tmp_path: Path, number: int, dtype: str) -> None:
    config = resolve(number, "tiny")
    inputs = ModelInputs(12)
    torch.manual_seed(0)
    model = build_model(config.model, inputs).eval()
    size = export_model(model, config, 12, inputs.feature_sizes, dtype, tmp_path / "m.pt", "Index,Name\n0,a\n")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    assert raw["dtype"] == dtype and raw["config"]["number"] == number and size == (tmp_path / "m.pt").stat().st_size
    parameters = sum(p.numel() for p in model.parameters())
    assert size < (2.3 if dtype == "fp16" else 1.3) * parameters + 40_000  # the weights, plus names and config
    exported = load_exported(tmp_path / "m.pt")
    batch = synthetic_batch("frame", inputs, batch_size=4, frames=9)
    with torch.no_grad():
        ours, theirs = model(batch).predictions, exported.model(batch).predictions
    torch.testing.assert_close(theirs, ours, atol=0.02 if dtype == "int8" else 2e-3, rtol=0)


def test_what_cannot_be_exported_is_named(tmp_path: Path) -> None:
    cascade = resolve(47, "tiny")
    with pytest.raises(ExportError, match="a cascade model: only a single model"):
        export_model(torch.nn.Linear(1, 1), cascade, 12, (1024, 128), "int8", tmp_path / "m.pt")
    with pytest.raises(ExportError, match="--dtype must be one of fp16, int8"):
        export_model(torch.nn.Linear(1, 1), resolve(3, "tiny"), 12, (1024, 128), "int4", tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()
    (tmp_path / "other.pt").write_bytes(b"not a model")
    with pytest.raises(ExportError, match="not a y8m export"):
        load_exported(tmp_path / "other.pt")


def test_export_and_eval_from_the_command_line(tmp_path: Path) -> None:
    """A trained tiny run exported in int8 and fp16: the file's GAP beside the run's float32 one, and `y8m eval`
    on the file gives the same GAP (measured tolerance: within 0.01 at int8)."""
    from y8m_models.data.synthetic import generate

    data = tmp_path / "data"
    generate(data, preset="micro", seed=2)
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--config", "3", "--data", str(data), "--out", str(tmp_path / "run"),
                                  "--preset", "tiny", "--max-steps", "30"])
    assert trained.exit_code == 0, trained.output
    fp32 = json.loads(runner.invoke(app, ["eval", str(tmp_path / "run"), "--json"]).stdout)["gap"]
    for dtype in ("int8", "fp16"):
        out = tmp_path / f"model.{dtype}.pt"
        done = runner.invoke(app, ["export", str(tmp_path / "run"), str(out), "--dtype", dtype])
        assert done.exit_code == 0, done.output
        assert f"{dtype}, {out.stat().st_size:,} bytes" in done.stdout
        assert "fits the 2018 challenge's 1 GB" in done.stdout
        assert f"validate2 GAP: fp32 {fp32:.4f}, {dtype} " in done.stdout
        scored = json.loads(runner.invoke(app, ["eval", str(out), "--json"]).stdout)
        assert scored["dtype"] == dtype and abs(scored["gap"] - fp32) < 0.01, (dtype, scored["gap"], fp32)
    refused = runner.invoke(app, ["export", str(tmp_path / "run"), str(tmp_path / "x.pt"), "--dtype", "int4"])
    assert refused.exit_code == 2 and "--dtype must be one of fp16, int8" in refused.stderr
