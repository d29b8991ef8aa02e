"""Features of any width (issue 21, part 1): a dataset says which features its records carry (``features.json``,
``y8m_models.data.layout``); the reader, the models' input widths and the parameter counts follow it; a run
records the layout it trained on and a model refuses data of another, naming both."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from y8m_models.cli import app
from y8m_models.data.errors import Y8MDataError
from y8m_models.data.layout import YOUTUBE_8M, FeatureLayout, find_layout, write_layout
from y8m_models.data.records import FeatureSpec, dequantize, quantize
from y8m_models.data.synthetic import file_names
from y8m_models.data.writer import RecordWriter

CLIP = FeatureLayout(FeatureSpec("frame", ("clip",), (64,)), FeatureSpec("video", ("mean_clip",), (64,)))
CLASSES = 6
runner = CliRunner()


def _clip_dataset(root: Path) -> Path:
    """A dataset of one 64-wide frame stream (a user's own features, e.g. CLIP's): class c raises feature c."""
    rng = np.random.default_rng(0)
    for split, count in {"train1": 240, "validate1": 40, "train2": 40, "validate2": 40, "test": 12}.items():
        name = file_names(split, 1)[0]
        with (RecordWriter(root / "frame" / name, "frame", spec=CLIP.frame) as frames,
              RecordWriter(root / "video" / name, "video", spec=CLIP.video) as videos):
            for i in range(count):
                label = int(rng.integers(CLASSES))
                x = rng.normal(0.0, 0.3, (int(rng.integers(1, 12)), 64))
                x[:, label] += 1.0
                codes = quantize(x)
                frames.write(f"{split}-{i}", [label], [codes])
                videos.write(f"{split}-{i}", [label], [dequantize(codes).mean(0)])
    (root / "vocabulary.csv").write_text("Index,Name\n" + "".join(f"{c},class {c}\n" for c in range(CLASSES)))
    write_layout(root, CLIP)
    return root


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _clip_dataset(tmp_path_factory.mktemp("clip") / "data")


def test_a_layout_round_trips_and_bad_files_are_named_by_field(tmp_path: Path) -> None:
    assert FeatureLayout.from_json(CLIP.to_json(), "x") == CLIP
    assert find_layout(tmp_path) == YOUTUBE_8M  # no features.json: YouTube-8M's
    assert YOUTUBE_8M.describe("frame") == "rgb 1024 + audio 128"
    write_layout(tmp_path, CLIP)
    assert find_layout(tmp_path / "frame") == CLIP  # from a level directory, as vocabulary.csv
    cases = [
        ("[1, 2]", 'expected {"frame": [...], "video": [...]}'),
        ('{"frame": [], "video": []}', "frame: expected a non-empty list"),
        ('{"frame": [{"name": "clip"}], "video": [{"name": "v", "size": 2}]}', 'frame[0]: expected {"name"'),
        ('{"frame": [{"name": "Clip!", "size": 2}], "video": [{"name": "v", "size": 2}]}',
         "frame[0].name: 'Clip!' is not a feature name"),
        ('{"frame": [{"name": "a", "size": 2}, {"name": "a", "size": 3}], "video": [{"name": "v", "size": 2}]}',
         "frame[1].name: 'a' is named twice"),
        ('{"frame": [{"name": "labels", "size": 2}], "video": [{"name": "v", "size": 2}]}',
         "a record key of its own"),
        ('{"frame": [{"name": "a", "size": 2}], "video": [{"name": "v", "size": 0}]}',
         "video[0].size: 0 is not a width from 1 to 65536"),
        ("{not json", "not a feature layout (JSONDecodeError"),
    ]
    for text, says in cases:
        (tmp_path / "features.json").write_text(text)
        with pytest.raises(Y8MDataError, match=str(tmp_path / "features.json")) as caught:
            find_layout(tmp_path)
        assert says in str(caught.value), (text, str(caught.value))


def test_data_check_reads_the_features_the_dataset_names(clip: Path, tmp_path: Path) -> None:
    checked = runner.invoke(app, ["data", "check", str(clip / "frame" / "*.tfrecord"), "--json"])
    assert checked.exit_code == 0 and json.loads(checked.stdout)["ok"], checked.output
    bare = tmp_path / "bare"
    shutil.copytree(clip, bare)
    (bare / "features.json").unlink()  # read as YouTube-8M's: every record lacks rgb and audio
    checked = runner.invoke(app, ["data", "check", str(bare / "frame" / "*.tfrecord"), "--json"])
    assert checked.exit_code == 1 and "missing feature list 'rgb'" in checked.stdout, checked.output


def test_models_train_and_predict_on_another_feature_width_and_refuse_other_data(clip: Path, tmp_path: Path) -> None:
    from y8m_models.data.synthetic import generate
    from y8m_models.experiment import RunError, open_run

    run = tmp_path / "lstm"
    trained = runner.invoke(app, ["train", "--config", "3", "--data", str(clip), "--out", str(run), "--preset",
                                  "tiny", "--max-steps", "40"])
    assert trained.exit_code == 0, trained.output
    assert json.loads((run / "run.json").read_text())["features"] == CLIP.to_json()
    opened = open_run(run)
    assert opened.model_inputs().feature_sizes == (64,)
    scored = json.loads(runner.invoke(app, ["eval", str(run), "--json"]).stdout)
    assert scored["gap"] > 1 / CLASSES  # above chance: the one stream is read where it is
    video = runner.invoke(app, ["train", "--config", "2", "--data", str(clip), "--out", str(tmp_path / "video"),
                                "--preset", "tiny", "--max-steps", "10"])
    assert video.exit_code == 0, video.output
    # exported, then evaluated on YouTube-8M data: refused, naming both layouts
    exported = runner.invoke(app, ["export", str(run), str(tmp_path / "m.pt"), "--split", "none"])
    assert exported.exit_code == 0, exported.output
    yt8m = tmp_path / "yt8m"
    generate(yt8m, preset="micro", seed=1)
    refused = runner.invoke(app, ["eval", str(tmp_path / "m.pt"), "--data", str(yt8m)])
    assert refused.exit_code == 2
    assert ("was trained on frame-level features clip 64; this data has rgb 1024 + audio 128" in refused.stderr), (
        refused.stderr)
    # classify another dataset of the same features (a copy stands for a user's own videos); YouTube-8M's refused
    own = tmp_path / "own"
    shutil.copytree(clip, own)
    csv = tmp_path / "top20.csv"
    done = runner.invoke(app, ["predict", str(run), "--data", str(own), "--split", "test", "--submission", str(csv)])
    assert done.exit_code == 0 and "12 videos of" in done.stdout, done.output
    lines = csv.read_text().splitlines()
    assert lines[0] == "VideoId,LabelConfidencePairs" and len(lines) == 13
    assert len(lines[1].split(",")[1].split()) == 2 * CLASSES  # all 6 classes: fewer than 20
    refused = runner.invoke(app, ["predict", str(run), "--data", str(yt8m), "--submission", str(csv)])
    assert refused.exit_code == 2 and "trained on frame-level features clip 64" in refused.stderr
    refused = runner.invoke(app, ["predict", str(run), "--data", str(own)])
    assert refused.exit_code == 2 and "give --submission" in refused.stderr
    (own / "vocabulary.csv").write_text("Index,Name\n" + "".join(f"{c},other {c}\n" for c in range(CLASSES)))
    refused = runner.invoke(app, ["predict", str(run), "--data", str(own), "--submission", str(csv)])
    assert refused.exit_code == 2 and "differs from them at Index 0" in refused.stderr, refused.stderr
    # the dataset's features changed under a trained run: it refuses to read them
    write_layout(clip, YOUTUBE_8M)
    try:
        with pytest.raises(RunError, match="trained on frame-level features clip 64; this data has rgb 1024"):
            opened.files("validate2")
    finally:
        write_layout(clip, CLIP)


def test_a_model_of_two_feature_parts_names_the_widths_it_is_given(clip: Path, tmp_path: Path) -> None:
    from y8m_models.configs import resolve
    from y8m_models.configs.build import parameter_count

    refused = runner.invoke(app, ["train", "--config", "10", "--data", str(clip), "--out", str(tmp_path / "r"),
                                  "--preset", "tiny"])
    assert refused.exit_code == 2 and "cannot be built for" in refused.stderr and "clip 64" in refused.stderr
    assert not (tmp_path / "r" / "run.json").exists()  # nothing written: a second try is not told to --resume

    assert parameter_count(resolve(3, "tiny").model, CLASSES, CLIP) < parameter_count(
        resolve(3, "tiny").model, CLASSES)  # 64 inputs instead of 1,152
    with pytest.raises(ValueError, match=r"\(64,\)"):  # #10's cells are per part: rgb and audio
        parameter_count(resolve(10, "tiny").model, CLASSES, CLIP)
