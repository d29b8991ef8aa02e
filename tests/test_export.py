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
from y8m_models.data.layout import YOUTUBE_8M
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
@pytest.mark.parametrize("dtype", ["fp32", "fp16", "int8"])
def test_an_export_loads_with_weights_only_and_predicts_as_the_model(tmp_path: Path, number: int, dtype: str) -> None:
    config = resolve(number, "tiny")
    inputs = ModelInputs(12)
    torch.manual_seed(0)
    model = build_model(config.model, inputs).eval()
    size = export_model(model, config, 12, YOUTUBE_8M, dtype, tmp_path / "m.pt", "Index,Name\n0,a\n")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    assert raw["dtype"] == dtype and raw["config"]["number"] == number and size == (tmp_path / "m.pt").stat().st_size
    parameters = sum(p.numel() for p in model.parameters())
    per_value = {"fp32": 4.3, "fp16": 2.3, "int8": 1.3}[dtype]
    assert size < per_value * parameters + 40_000  # the weights, plus names and config
    exported = load_exported(tmp_path / "m.pt")
    batch = synthetic_batch("frame", inputs, batch_size=4, frames=9)
    with torch.no_grad():
        ours, theirs = model(batch).predictions, exported.model(batch).predictions
    torch.testing.assert_close(theirs, ours, atol={"fp32": 0.0, "fp16": 2e-3, "int8": 0.02}[dtype], rtol=0)


def test_what_cannot_be_exported_is_named(tmp_path: Path) -> None:
    cascade = resolve(47, "tiny")
    with pytest.raises(ExportError, match="a cascade model: only a single model"):
        export_model(torch.nn.Linear(1, 1), cascade, 12, YOUTUBE_8M, "int8", tmp_path / "m.pt")
    with pytest.raises(ExportError, match="--dtype must be one of fp32, fp16, int8"):
        export_model(torch.nn.Linear(1, 1), resolve(3, "tiny"), 12, YOUTUBE_8M, "int4", tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()
    model = build_model(resolve(3, "tiny").model, ModelInputs(12))
    size = export_model(model, resolve(3, "tiny"), 12, YOUTUBE_8M, "int8", tmp_path / "m.pt")
    with pytest.raises(ExportError, match=rf"in fp16 is [\d,]+ bytes .*, over the budget of {size:,} bytes "
                                          r"\(.*\); .*m.pt is not written"):
        export_model(model, resolve(3, "tiny"), 12, YOUTUBE_8M, "fp16", tmp_path / "m.pt", budget=size)
    assert load_exported(tmp_path / "m.pt").dtype == "int8"  # the file there before is kept
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
    assert refused.exit_code == 2 and "--dtype must be one of fp32, fp16, int8" in refused.stderr
    # --budget: the widest dtype whose file fits; none that fits, nothing written
    # the weights export_run weighs against a budget: every floating-point tensor, buffers included
    parameters = sum(v.numel() for v in load_exported(tmp_path / "model.int8.pt").model.state_dict().values()
                     if v.is_floating_point())
    out = tmp_path / "budget.pt"
    done = runner.invoke(app, ["export", str(tmp_path / "run"), str(out), "--budget", str(3 * parameters),
                               "--split", "none"])
    assert done.exit_code == 0 and f"{out}: fp16, " in done.stdout and f"fits the budget of {3 * parameters}" in (
        done.stdout), done.output
    done = runner.invoke(app, ["export", str(tmp_path / "run"), str(out), "--budget", "1GB", "--split", "none"])
    assert done.exit_code == 0 and f"{out}: fp32, " in done.stdout, done.output
    for budget, says in [(parameters // 2, "even in int8, over the budget"), (parameters, "in int8 is"),
                         ("1 ton", "--budget '1 ton' is not a size")]:
        refused = runner.invoke(app, ["export", str(tmp_path / "run"), str(tmp_path / "small.pt"), "--budget",
                                      str(budget)])
        assert refused.exit_code == 2 and says in refused.stderr, refused.stderr
        assert not (tmp_path / "small.pt").exists()


def test_a_byte_budget_is_read_as_written_and_the_widest_fitting_dtype_chosen() -> None:
    from y8m_models.sizes import human, parse_bytes, widest_fitting

    assert [parse_bytes(t) for t in ("1GB", "500MB", "1.5GiB", "123", "2 kb", "7B")] == [
        10**9, 5 * 10**8, 3 * 2**29, 123, 2000, 7]
    for bad in ("", "1XB", "0", "-1GB", "GB", "1e9"):
        with pytest.raises(ValueError, match="is not a size"):
            parse_bytes(bad)
    assert [widest_fitting(n, 10**9) for n in (250_000_000, 250_000_001, 500_000_001, 10**9 + 1)] == [
        "fp32", "fp16", "int8", None]
    assert [human(n) for n in (512, 12_600_000, 964_736_172, 1_900_000_000)] == [
        "512 B", "12.6 MB", "964.7 MB", "1.9 GB"]
