"""``y8m data extract`` end to end on generated videos with random weights: frames at 1 fps, PCA and codes as
the official extractor (checked against the networks' own outputs), thumbnails, the round trip through the
reader, resuming after a stop, every bad input named; then training on the extracted dataset and predicting on
videos extracted the same way (``--like``), from the command line and as an extraction a worker runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from worker.cli import app
from y8m_models.data.dataset import read_record
from y8m_models.data.layout import find_layout
from y8m_models.data.records import quantize
from y8m_models.data.splits import split_files
from y8m_models.data.tfrecord import TFRecordFile
from y8m_models.features.extract import ExtractError, ExtractOptions, extract
from y8m_models.features.networks import WeightsError
from y8m_models.features.pca import PcaError, load_official, load_vggish
from y8m_models.features.video import VideoError

RANDOM = ExtractOptions(random_weights=True)


def _records(data: Path, level: str) -> dict[str, dict[str, np.ndarray]]:
    """The test split's videos: their features by name (8-bit codes at frame level, floats at video level)."""
    spec, out = find_layout(data).spec(level), {}
    for path in split_files(data, level)["test"]:
        file = TFRecordFile(path)
        for i in range(len(file)):
            record = read_record(file, i, level, spec, None)
            out[record.video_id] = dict(zip(spec.names, record.features, strict=True))
    return out


@pytest.fixture(scope="module")
def extracted(videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("extracted") / "data"
    extract([videos], out, options=RANDOM, keep_cache=True)
    return out


def test_frames_codes_and_means_as_the_official_extractor(extracted: Path) -> None:
    made = json.loads((extracted / "extract.json").read_text())
    assert {v: d["frames"] for v, d in made["videos"].items()} == {"blip": 1, "long": 6, "mute": 3}
    assert {v: d["audio"] for v, d in made["videos"].items()} == {"blip": True, "long": True, "mute": False}
    assert made["options"]["random_weights"] is True and made["pca"]["rgb"].startswith(
        "fitted on 10 frames of 3 videos (only 9 of its 1024 components")
    assert find_layout(extracted).describe("frame") == "rgb 1024 + audio 128"
    rgb_pca, audio_pca = load_official(extracted / "pca", 1024), load_vggish(extracted / "pca" /
                                                                             "vggish_pca_params.npz")
    frames, videos = _records(extracted, "frame"), _records(extracted, "video")
    cache = extracted.with_name(".data.extract") / "videos"
    for vid in ("long", "mute", "blip"):
        with np.load(cache / f"{vid}.npz") as raw:  # the networks' outputs, before PCA
            rgb, audio = rgb_pca.apply(raw["rgb"]), audio_pca.apply(raw["audio"])
        # The codes as written: the official quantization of the PCA'd features.
        assert np.array_equal(frames[vid]["rgb"], quantize(rgb))
        assert np.array_equal(frames[vid]["audio"], quantize(audio))
        # Video level: the mean of the PCA'd values (before the codes), as extract_tfrecords_main's mean_rgb.
        assert videos[vid]["mean_rgb"] == pytest.approx(rgb.mean(0), abs=1e-5)
        assert videos[vid]["mean_audio"] == pytest.approx(audio.mean(0), abs=1e-5)
        pictures = sorted((extracted / "frames" / vid).iterdir())
        assert [p.name for p in pictures] == [f"{s}.jpg" for s in range(len(rgb))]
        assert pictures[0].read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    # A fitted PCA whitens the frames it was fitted on.
    long = rgb_pca.apply(np.concatenate([np.load(cache / f"{v}.npz")["rgb"] for v in ("long", "mute", "blip")]))
    assert np.abs(long[:, :5].mean(0)).max() < 1e-3


def test_extracting_again_with_its_pca_gives_the_same_features(videos: Path, extracted: Path,
                                                               tmp_path: Path) -> None:
    again = extract([videos / "long.mp4"], tmp_path / "again", options=ExtractOptions.like(extracted))
    assert again.pca == {"rgb": str(extracted / "pca"), "audio": str(extracted / "pca" / "vggish_pca_params.npz")}
    first, second = _records(extracted, "frame")["long"], _records(tmp_path / "again", "frame")["long"]
    assert np.array_equal(first["rgb"], second["rgb"]) and np.array_equal(first["audio"], second["audio"])


def test_a_stopped_extraction_goes_on_at_the_next_video(videos: Path, tmp_path: Path) -> None:
    stages = []

    def stop_after_the_first(p) -> None:
        stages.append((p.video, p.stage))
        if p.stage == "done":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract([videos], tmp_path / "data", options=RANDOM, progress=stop_after_the_first)
    assert not (tmp_path / "data").exists()
    assert [p.name for p in (tmp_path / ".data.extract" / "videos").iterdir()] == ["blip.npz"]
    stages.clear()
    done = extract([videos], tmp_path / "data", options=RANDOM, progress=lambda p: stages.append((p.video, p.stage)))
    assert ("blip", "cached") in stages and ("long", "done") in stages and ("blip", "done") not in stages
    assert done.frames == 10 and not (tmp_path / ".data.extract").exists()
    extract([videos], tmp_path / "whole", options=RANDOM)
    assert _records(tmp_path / "data", "frame")["blip"]["rgb"].tolist() == \
        _records(tmp_path / "whole", "frame")["blip"]["rgb"].tolist()


def test_bad_input_is_named_and_nothing_is_left_behind(videos: Path, corrupt: Path, tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"broken\.mp4: not a video PyAV can open"):
        extract([videos, corrupt], tmp_path / "data", options=RANDOM)
    assert not (tmp_path / "data").exists()
    with pytest.raises(WeightsError, match=r"nothing\.pth: does not exist"):
        extract([videos], tmp_path / "data", options=ExtractOptions(weights=str(tmp_path / "nothing.pth")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]  # no dataset, no cache
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "long.mkv").write_bytes((videos / "long.mp4").read_bytes())
    with pytest.raises(ExtractError, match=r"long\.mkv: has the id 'long' of .*long\.mp4"):
        extract([videos, tmp_path / "other"], tmp_path / "data", options=RANDOM)
    labels = tmp_path / "labels.csv"
    labels.write_text("video_id,labels\nlong,cat\nmute,dog\n")
    with pytest.raises(ExtractError, match=r"labels\.csv: has no line for video 'blip'"):
        extract([videos], tmp_path / "data", labels=labels, options=RANDOM)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    with pytest.raises(ExtractError, match="taken: exists and is not an empty folder"):
        extract([videos], tmp_path / "taken", options=RANDOM)
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep"
    with pytest.raises(PcaError, match="rgb: cannot fit a PCA on 1 frame: give the official files with --pca"):
        extract([videos / "blip.mp4"], tmp_path / "one", options=RANDOM)
    assert not (tmp_path / "one").exists() and (tmp_path / ".one.extract" / "videos" / "blip.npz").is_file()
    (tmp_path / ".one.extract").rename(tmp_path / ".two.extract")
    with pytest.raises(ExtractError, match=r"\.two\.extract: holds videos extracted with other options "
                                           r"\(max_frames\)"):
        extract([videos / "blip.mp4"], tmp_path / "two", options=ExtractOptions(random_weights=True, max_frames=5))
    with pytest.raises(ExtractError, match=r"extract\.json: missing: the dataset was not made by y8m data extract"):
        ExtractOptions.like(tmp_path / "taken")


def test_extract_train_and_predict_on_new_videos_from_the_command_line(tmp_path: Path) -> None:
    from y8m_models.features.sample_video import write_video

    names = []
    for n in range(12):  # two kinds of video: short scenes (cat) and long ones (dog)
        write_video(tmp_path / "videos" / f"v{n:02d}.mp4", 3.0 + n % 3, scene_seconds=1.0 if n % 2 else 8.0,
                    audio=n % 4 != 3)
        names.append("cat" if n % 2 else "dog")
    labels = tmp_path / "labels.csv"
    labels.write_text("video_id,labels\n" + "".join(f"v{n:02d},{name}\n" for n, name in enumerate(names)))
    runner = CliRunner()
    done = runner.invoke(app, ["data", "extract", str(tmp_path / "videos"), str(tmp_path / "data"), "--labels",
                               str(labels), "--random-weights", "--rgb-width", "32", "--thumbnail", "0", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert sum(summary["videos"].values()) == 12 and summary["videos"]["train1"] >= 5
    assert find_layout(tmp_path / "data").describe("frame") == "rgb 32 + audio 128"
    trained = runner.invoke(app, ["train", "--config", "25", "--data", str(tmp_path / "data"), "--out",
                                  str(tmp_path / "run"), "--preset", "tiny", "--max-steps", "4"])
    assert trained.exit_code == 0, trained.output
    write_video(tmp_path / "new" / "fresh.mp4", 4.0)
    like = runner.invoke(app, ["data", "extract", str(tmp_path / "new"), str(tmp_path / "new-data"), "--like",
                               str(tmp_path / "data")])
    assert like.exit_code == 0, like.output
    assert "PCA: rgb " + str(tmp_path / "data" / "pca") in like.stdout
    csv = tmp_path / "submission.csv"
    predicted = runner.invoke(app, ["predict", str(tmp_path / "run"), "--data", str(tmp_path / "new-data"),
                                    "--split", "test", "--submission", str(csv)])
    assert predicted.exit_code == 0, predicted.output
    assert csv.read_text().splitlines()[1].startswith("fresh,")
    # Extracted otherwise (another PCA width), the run refuses the features, naming both.
    runner.invoke(app, ["data", "extract", str(tmp_path / "new"), str(tmp_path / "wide"), "--random-weights",
                        "--rgb-width", "16"])
    refused = runner.invoke(app, ["predict", str(tmp_path / "run"), "--data", str(tmp_path / "wide"), "--split",
                                  "test", "--submission", str(csv)])
    assert refused.exit_code == 2 and "trained on frame-level features rgb 32 + audio 128" in refused.stderr
    assert "rgb 16 + audio 128" in refused.stderr
    bad = runner.invoke(app, ["data", "extract", str(tmp_path / "new"), str(tmp_path / "x"), "--like",
                              str(tmp_path / "data"), "--rgb-width", "8"])
    assert bad.exit_code == 2 and "--like takes" in bad.stderr


def test_an_extraction_with_a_run_extracts_and_predicts(tmp_path: Path) -> None:
    from y8m_models.experiment import create_run, train_run
    from y8m_models.features.extraction import read_state, run_extraction, write_extraction
    from y8m_models.features.sample_video import write_video

    for n in range(10):
        write_video(tmp_path / "videos" / f"v{n}.mp4", 2.0 + n % 2, scene_seconds=1.0 if n % 2 else 8.0)
    labels = tmp_path / "labels.csv"
    labels.write_text("video_id,labels\n" + "".join(f"v{n},{'cat' if n % 2 else 'dog'}\n" for n in range(10)))
    extract([tmp_path / "videos"], tmp_path / "data", labels=labels, options=ExtractOptions(
        random_weights=True, rgb_width=32, thumbnail=0))
    run = create_run(25, tmp_path / "data", tmp_path / "run", preset="tiny", steps=3)
    train_run(run)
    write_video(tmp_path / "try" / "mine.mp4", 3.0)
    folder = write_extraction(tmp_path / "extraction", [tmp_path / "try" / "mine.mp4"], ExtractOptions(),
                              run_dir=tmp_path / "run")
    assert read_state(folder) == {"state": "queued"}
    result = run_extraction(folder)
    state = read_state(folder)
    assert state["state"] == "succeeded" and state["videos"]["mine"]["frames"] == 3
    top = result["videos"]["mine"]["top"]
    assert sorted(t["name"] for t in top) == ["cat", "dog"] and top[0]["score"] >= top[1]["score"]
    with np.load(folder / result["attention"]) as attention:
        assert attention["weights/mine"].shape[0] == 3  # a weight per frame, per attention group
    assert run_extraction(folder) == result  # a finished extraction is not done again


def test_an_extraction_records_absolute_paths_and_a_written_result_is_its_state(tmp_path: Path, monkeypatch) -> None:
    from y8m_models.features.extraction import read_state, write_extraction

    monkeypatch.chdir(tmp_path)  # a worker runs elsewhere: nothing relative to here may remain
    folder = write_extraction(Path("x"), [Path("v.mp4")], ExtractOptions(pca="data/pca", weights="w.pth"),
                              labels=Path("labels.csv"))
    request = json.loads((folder / "extraction.json").read_text())
    assert request["videos"] == [str(tmp_path / "v.mp4")] and request["labels"] == str(tmp_path / "labels.csv")
    assert request["options"]["pca"] == str(tmp_path / "data" / "pca")
    assert request["options"]["weights"] == str(tmp_path / "w.pth") and request["out"] == str(tmp_path / "x" / "data")
    # its worker stopped after writing the result, before saying so: the result is what counts
    (folder / "progress.json").write_text(json.dumps({"state": "predicting"}))
    (folder / "result.json").write_text(json.dumps({"dataset": "d", "videos": {}}))
    assert read_state(folder)["state"] == "succeeded"
