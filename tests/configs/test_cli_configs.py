"""`y8m configs list|show|check`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from y8m_models.cli import app

runner = CliRunner()


def test_list_json_has_the_80_and_those_beyond() -> None:
    result = runner.invoke(app, ["configs", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["number"] for r in rows] == list(range(1, 89))
    assert {r["section"] for r in rows if r["number"] > 80} == {"B"}
    assert {"number", "slug", "title", "section", "level", "paper_gap"} <= set(rows[0])
    by_number = {r["number"]: r for r in rows}
    assert (by_number[25]["slug"], by_number[25]["level"], by_number[25]["paper_gap"]) == (
        "multi_attention_pooling_lstm", "frame", 0.8157)
    assert by_number[79]["members"] == list(range(1, 75)) and by_number[79]["level"] == "ensemble"
    assert by_number[29]["members"] == ["29.1", "29.2", "29.3", "29.4"]
    with_baselines = json.loads(runner.invoke(app, ["configs", "list", "--json", "--baselines"]).output)
    assert len(with_baselines) == 93 and with_baselines[-1]["number"] is None


def test_list_table_groups_by_section() -> None:
    result = runner.invoke(app, ["configs", "list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "A.1 Video-level models"
    assert any("#80" in line and "final_top20_merge" in line and "LB 0.84590" in line for line in lines)
    assert "B Beyond the paper" in lines
    assert any("#85" in line and "nextvlad" in line and "LB 0.87846" in line for line in lines)
    assert any("#88" in line and "transformer_512x4_moe2" in line and " - " in line for line in lines)


def test_show_gives_the_config_and_parameter_count() -> None:
    result = runner.invoke(app, ["configs", "show", "chaining_video_8stage", "--num-classes", "10", "--preset",
                                 "paper"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["number"] == 2 and shown["model"]["params"]["stages"] == 8
    # 9 MoEs with 2 mixtures on inputs 1152 + 128 t (t = 0..8), 8 projections 10 -> 128 (catalog §4.4)
    moes = sum((1152 + 128 * t) * 10 * (2 + 1) + (1152 + 128 * t + 1) * 10 * 2 for t in range(9))
    assert shown["parameters"] == {"#2 chaining_video_8stage": moes + 8 * (10 * 128 + 128)}
    n = moes + 8 * (10 * 128 + 128)
    assert shown["size"]["#2 chaining_video_8stage"] == {"bytes": {"fp32": 4 * n, "fp16": 2 * n, "int8": n},
                                                          "fits_1gb": {"fp32": True, "fp16": True, "int8": True}}
    assert shown["whole"] == {"runs": 1, "parameters": n, **shown["size"]["#2 chaining_video_8stage"]}
    willow = json.loads(runner.invoke(app, ["configs", "show", "81", "--preset", "paper"]).stdout)
    assert willow["size"]["#81 willow_gated_netvlad"]["fits_1gb"] == {"fp32": False, "fp16": True, "int8": True}
    # the whole: #75 is its 4 members and its class-wise combiner (W [C, M], w [M]); #39, distilled from #75, is
    # its one model (the 2018 rule: a submitted model of at most 1 GB, which the stack is not even in int8)
    members = [json.loads(runner.invoke(app, ["configs", "show", str(m), "--preset", "paper"]).stdout)["whole"]
               for m in (2, 10, 18, 25)]
    stack = json.loads(runner.invoke(app, ["configs", "show", "75", "--preset", "paper"]).stdout)["whole"]
    assert stack["runs"] == 5 and stack["parameters"] == sum(m["parameters"] for m in members) + 4716 * 4 + 4
    assert stack["fits_1gb"] == {"fp32": False, "fp16": False, "int8": False}
    distilled = json.loads(runner.invoke(app, ["configs", "show", "39", "--preset", "paper"]).stdout)
    assert distilled["whole"]["runs"] == 1 and distilled["whole"]["parameters"] == sum(distilled["parameters"].values())
    assert distilled["whole"]["fits_1gb"] == {"fp32": False, "fp16": True, "int8": True}
    code = json.loads(runner.invoke(app, ["configs", "show", "2", "--as-in-code", "--preset", "tiny"]).stdout)
    assert code["model"]["training"]["learning_rate"] == 0.004 and code["model"]["training"]["batch_size"] == 16
    old = runner.invoke(app, ["configs", "show", "2", "--code", "--preset", "tiny"])  # the old spelling, a release
    assert json.loads(old.stdout) == code and "--code is now --as-in-code" in old.stderr


def test_a_command_without_preset_takes_the_one_default_and_says_so() -> None:
    """One default preset for every way in (``RunOptions``; the command line's was paper before December
    2026): a command given no --preset says which one it took, for a release."""
    from y8m_models.options import RunOptions

    result = runner.invoke(app, ["configs", "show", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["preset"] == RunOptions().preset == "tiny"
    assert "no --preset, so the tiny preset" in result.stderr
    given = runner.invoke(app, ["configs", "show", "2", "--preset", "tiny"])
    assert json.loads(given.stdout) == json.loads(result.stdout) and not given.stderr


def test_show_names_the_code_of_every_configuration_in_one_hop() -> None:
    """``code`` names the class that builds each model (and an ensemble's combiner, weights, merge, jobs): a
    dotted path that imports, whose class is what the registry builds."""
    import importlib

    from y8m_models.configs.build import build_model
    from y8m_models.models import ModelInputs

    def found(path: str) -> object:
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)

    shows = {n: json.loads(runner.invoke(app, ["configs", "show", str(n), "--preset", "tiny"]).output)["code"]
             for n in (25, 33, 47, 75, 80)}
    assert found(shows[25]["#25 multi_attention_pooling_lstm"]) is type(build_model(25, ModelInputs(10), "tiny"))
    assert shows[47]["#47 cascade75_chaining_video"].endswith(".ChainingVideo")
    assert shows[33]["combiner"].endswith(".ClasswiseStack") and shows[33]["member weights"].endswith(
        ".bootstrap_weights")
    assert shows[80]["merge"].endswith(".merge_top_k")
    for code in shows.values():
        assert all(callable(found(path)) for path in code.values()), code


def test_show_unknown_suggests() -> None:
    result = runner.invoke(app, ["configs", "show", "chaining_cn"])
    assert result.exit_code == 2
    assert "did you mean chaining_cnn" in result.output


def test_check_selected_configs() -> None:
    result = runner.invoke(app, ["configs", "check", "--configs", "1,25,29,47", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output[: result.output.rindex("]") + 1])
    assert [(r["label"], r["status"]) for r in rows] == [
        ("#1 chaining_video_relabel", "ok"), ("#25 multi_attention_pooling_lstm", "ok"), ("#29.1", "ok"),
        ("#29.2", "ok"), ("#29.3", "ok"), ("#29.4", "ok"), ("#47 cascade75_chaining_video", "ok")]


def test_check_names_what_failed(monkeypatch) -> None:
    import torch

    from y8m_models.configs import check
    from y8m_models.models import ModelOutput

    class Broken(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, batch: dict) -> ModelOutput:
            return ModelOutput(predictions=self.w * torch.full((len(batch["labels"]), 7), float("nan")))

    monkeypatch.setattr(check, "build_model", lambda *args: Broken())
    result = runner.invoke(app, ["configs", "check", "--configs", "3"])
    assert result.exit_code == 1
    assert "failed   #3 lstm_1024x2_moe8" in result.output and "predictions have shape (4, 7)" in result.output
    assert "failed: #3 lstm_1024x2_moe8" in result.output
