"""`y8m paper --merge`: reports of sets with other seeds joined into one, and the reports it refuses, named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worker.paper import merge
from worker.runs import SubmitError
from y8m_models.paper import RunKey, gaps_of, to_json


def _report(folder: Path, tables: tuple[int, ...], gaps: dict[RunKey, list[float]], first_seed: int, seeds: int,
            dataset: str = "paper", name: str = "set") -> Path:
    meta = {"name": name, "dataset": dataset, "preset": "tiny", "seeds": seeds, "first_seed": first_seed,
            "run_seconds": 100.0, "wall_seconds": 60.0, "runs_in_all": 4, "runs": {"#3": [1], "#9": [2]},
            "not_succeeded": {}}
    folder.mkdir(parents=True)
    path = folder / "paper.json"
    path.write_text(json.dumps(to_json(tables, gaps, meta=meta)))
    return path


def test_merged_reports_hold_every_seed_and_judge_with_their_spread(tmp_path: Path) -> None:
    lstm, parallel = RunKey.of(3), RunKey.of(9)
    first = _report(tmp_path / "a", (4,), {lstm: [0.70], parallel: [0.75]}, 0, 1)
    second = _report(tmp_path / "b", (2, 4), {lstm: [0.72, 0.71], parallel: [0.74, 0.78]}, 1, 2)
    result = merge([first, second], tmp_path / "out")
    assert [t["number"] for t in result["tables"]] == [2, 4]
    assert gaps_of(result)[lstm] == [0.70, 0.72, 0.71] and gaps_of(result)[parallel] == [0.75, 0.74, 0.78]
    (claim,) = [c for c in result["comparisons"] if c["table"] == 4]
    assert claim["seeds"] == [3, 3] and claim["reproduced"] is True and isinstance(claim["margin"], float)
    meta = result["meta"]
    assert (meta["seeds"], meta["seed_list"], meta["run_seconds"], meta["wall_seconds"]) == (3, [0, 1, 2], 200, 120)
    assert meta["runs"]["#3"] == [1, 1]
    assert json.loads((tmp_path / "out" / "paper.json").read_text()) == result
    assert "0.7100 ± " in (tmp_path / "out" / "paper.md").read_text()


def test_merge_refuses_a_seed_twice_another_dataset_and_a_file_that_is_no_report(tmp_path: Path) -> None:
    gaps = {RunKey.of(3): [0.7], RunKey.of(9): [0.8]}
    first = _report(tmp_path / "a", (4,), gaps, 0, 1)
    again = _report(tmp_path / "b", (4,), gaps, 0, 1)
    with pytest.raises(SubmitError, match=f"seed 0 is in both {first} and {again}"):
        merge([first, again], tmp_path / "out")
    other = _report(tmp_path / "c", (4,), gaps, 1, 1, dataset="demo")
    with pytest.raises(SubmitError, match=f"{other}: dataset 'demo'"):
        merge([first, other], tmp_path / "out")
    broken = tmp_path / "broken.json"
    broken.write_text('{"meta": {}}')
    with pytest.raises(SubmitError, match=f"{broken}: not a paper report"):
        merge([first, broken], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_cli_merges_without_a_dataset_and_needs_one_otherwise(tmp_path: Path) -> None:
    from worker.cli import app

    gaps = {RunKey.of(3): [0.7], RunKey.of(9): [0.8]}
    paths = [_report(tmp_path / f"s{seed}", (4,), gaps, seed, 1) for seed in (0, 1)]
    done = CliRunner().invoke(app, ["paper", "--out", str(tmp_path / "out"), "--merge", str(paths[0]), "--merge",
                                    str(paths[1]), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout.strip().splitlines()[-1])["meta"]["seeds"] == 2
    refused = CliRunner().invoke(app, ["paper", "--out", str(tmp_path / "x"), "--quick"])
    assert refused.exit_code == 2 and "--data is needed" in refused.output
