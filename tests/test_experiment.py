"""`y8m train` -> `y8m eval` -> `y8m predict --submission` on the micro synthetic dataset, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from y8m_models.cli import app
from y8m_models.data.synthetic import generate
from y8m_models.store import read_predictions
from y8m_models.submission import read_submission

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("experiment") / "tiny"
    generate(out, preset="micro", seed=2)
    return out


@pytest.mark.parametrize("config", ["chaining_video_8stage", "multi_attention_pooling_lstm"])
def test_train_eval_predict(data: Path, tmp_path: Path, config: str) -> None:
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--config", config, "--data", str(data), "--preset", "tiny",
                                 "--max-steps", "12", "--out", str(run), "--seed", "1"])
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout.strip().splitlines()[-1])
    assert trained["step"] == 12 and trained["split"] == "validate1" and 0 < trained["gap"] <= 1
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "step" in m and "split" not in m] == [10, 12]
    frozen = json.loads((run / "run.json").read_text())
    assert frozen["config"]["slug"] == config and frozen["steps"] == 12 and frozen["num_classes"] == 60

    evaluated = runner.invoke(app, ["eval", str(run), "--split", "validate2", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert 0 < json.loads(evaluated.stdout)["gap"] <= 1
    assert read_predictions(run / "predictions" / "validate2").num_classes == 60

    csv = tmp_path / "submission.csv"
    predicted = runner.invoke(app, ["predict", str(run), "--split", "test", "--submission", str(csv)])
    assert predicted.exit_code == 0, predicted.output
    submission = read_submission(csv)  # the official format: 20 "label score" pairs per line
    assert sorted(submission.video_ids) == sorted(read_predictions(run / "predictions" / "test").ids.tolist())
    assert submission.classes.shape[1] == 20 and (submission.classes < 60).all()
    assert csv.read_text().splitlines()[0] == "VideoId,LabelConfidencePairs"


def _fails(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output


def test_bad_input_stops_before_training(data: Path, tmp_path: Path) -> None:
    train = ["train", "--preset", "tiny", "--max-steps", "2"]
    _fails([*train, "--config", "3", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a")],
           "does not exist")
    _fails([*train, "--config", "75", "--data", str(data), "--out", str(tmp_path / "b")], "not a single model")
    _fails([*train, "--config", "3", "--data", str(data), "--out", str(tmp_path / "c"), "--set",
            "model.params.cells=0"], "cells: Input should be greater than or equal to 1")
    wrong = tmp_path / "wrong"
    shutil.copytree(data / "video", wrong / "frame")  # video-level records where frame level is expected
    _fails([*train, "--config", "3", "--data", str(wrong), "--out", str(tmp_path / "d")], "holds video-level")
    empty = tmp_path / "empty"
    (empty / "frame").mkdir(parents=True)
    _fails([*train, "--config", "3", "--data", str(empty), "--out", str(tmp_path / "e")], "no train1 files")
    run = tmp_path / "run"
    assert runner.invoke(app, [*train, "--config", "2", "--data", str(data), "--out", str(run)]).exit_code == 0
    _fails([*train, "--config", "2", "--data", str(data), "--out", str(run)], "already holds a run")
    _fails(["eval", str(run), "--split", "validate9"], "unknown split")
    _fails([*train, "--config", "2", "--data", str(data), "--out", str(tmp_path / "f"), "--num-classes", "50"],
           "--num-classes 50 does not match")
    _fails(["eval", str(tmp_path)], "is not a run directory")
    blocker = tmp_path / "a-file"  # unwritable even for root: a folder cannot be made inside a file
    blocker.write_text("")
    _fails([*train, "--config", "2", "--data", str(data), "--out", str(blocker / "run")],
           "cannot write the run directory")
    assert blocker.read_text() == ""


@pytest.mark.parametrize("number", range(1, 28))
def test_every_single_model_trains_evaluates_and_predicts(data: Path, tmp_path: Path, number: int) -> None:
    """#1-#27 at the tiny preset: a few steps, then eval on validate2 and a submission for test; the attention
    models also dump the weights of two test videos for the gallery."""
    from y8m_models.architectures import architecture
    from y8m_models.configs import get_config

    run, csv = tmp_path / "run", tmp_path / "submission.csv"
    trained = runner.invoke(app, ["train", "--config", str(number), "--data", str(data), "--preset", "tiny",
                                  "--max-steps", "3", "--out", str(run)])
    assert trained.exit_code == 0, trained.output
    assert runner.invoke(app, ["eval", str(run), "--json"]).exit_code == 0
    predicted = runner.invoke(app, ["predict", str(run), "--csv", str(csv)])  # the old spelling, for a release
    assert predicted.exit_code == 0, predicted.output
    assert "--csv is now --submission" in predicted.stderr
    test_ids = read_predictions(run / "predictions" / "test").ids[:2].tolist()
    assert len(read_submission(csv).video_ids) == read_predictions(run / "predictions" / "test").rows
    if architecture(get_config(number).model.architecture).family == "attention":
        dumped = runner.invoke(app, ["predict", str(run), "--attention-videos", ",".join(test_ids)])
        assert dumped.exit_code == 0, dumped.output
        weights = np.load(run / "attention" / "test.npz")
        for vid in test_ids:
            assert np.allclose(weights[f"weights/{vid}"].sum(axis=0), 1.0, atol=1e-4)


def test_checkpoint_selection_on_validate1(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--config", "2", "--data", str(data), "--preset", "tiny",
                                 "--max-steps", "9", "--eval-every", "3", "--out", str(run)])
    assert result.exit_code == 0, result.output
    scores = [m for m in (json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines())
              if m.get("split") == "validate1"]
    assert [m["step"] for m in scores] == [3, 6, 9]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    best = max(scores, key=lambda m: m["gap"])
    assert (summary["best_step"], summary["best_gap"]) == (best["step"], best["gap"])
    assert (run / "best.pt").exists()
    again = runner.invoke(app, ["eval", str(run), "--split", "validate1", "--json"])
    assert json.loads(again.stdout)["gap"] == pytest.approx(best["gap"])  # eval reads the selected weights


def test_validate1_is_scored_every_half_epoch_unless_told(data: Path, tmp_path: Path) -> None:
    """The default cadence: half an epoch of train1 at the run's batch size (tiny: 16), and the last step."""
    from y8m_models.data.dataset import YT8MDataset
    from y8m_models.data.splits import files_of_split

    records = YT8MDataset(files_of_split(data, "video", "train1"), "video", 60).num_records
    half = round(0.5 * records / 16)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--config", "2", "--data", str(data), "--preset", "tiny",
                                 "--epochs", "1.7", "--out", str(run)])
    assert result.exit_code == 0, result.output
    steps = round(1.7 * records / 16)
    scored = [m["step"] for m in (json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines())
              if m.get("split") == "validate1"]
    assert scored == [*range(half, steps + 1, half), *([steps] if steps % half else [])]
    assert len(scored) == 4


def test_a_tree_of_runs_reads_the_same_wherever_it_is_mounted(data: Path, tmp_path: Path) -> None:
    """run.json keeps the runs a run reads relative to it: workers mount the shared artifacts anywhere."""
    from y8m_models.configs import resolve
    from y8m_models.experiment import create_run, open_run

    tree = tmp_path / "mount-a" / "runs"
    (tree / "1").mkdir(parents=True)
    links = {"init": str(tree / "1"), "streams": [str(tree / "1"), str(tree / "2")],
             "example_weights": str(tree / "3" / "example_weights.npz")}
    create_run(resolve(2, "tiny"), data, tree / "3", steps=2, inputs=links)
    assert json.loads((tree / "3" / "run.json").read_text())["inputs"]["streams"] == ["../1", "../2"]
    moved = tmp_path / "mount-b"
    (tmp_path / "mount-a").rename(moved)
    run = open_run(moved / "runs" / "3")
    runs = moved / "runs"
    assert run.inputs == {"init": str(runs / "1"), "streams": [str(runs / "1"), str(runs / "2")],
                         "example_weights": str(runs / "3" / "example_weights.npz")}
