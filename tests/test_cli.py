"""The public `y8m` commands: data dump / check / splits and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import TF_WRITTEN
from tests.test_dataset import official_frame_input
from y8m_models.cli import app
from y8m_models.data.tfrecord import TFRecordFile
from y8m_models.data.writer import RecordWriter

runner = CliRunner()


def test_dump_frame_level_equals_official_reader(tmp_path: Path, manifest: dict) -> None:
    out = tmp_path / "frames.npz"
    result = runner.invoke(app, ["data", "dump", str(TF_WRITTEN / "frame" / "*.tfrecord"), str(out),
                                 "--num-classes", "3862"])
    assert result.exit_code == 0, result.output
    z = np.load(out)
    assert z["ids"].tolist() == (TF_WRITTEN / "ids.txt").read_text().split()
    assert z["labels"].dtype == np.uint8 and z["labels"].shape == (10, 3862)
    np.testing.assert_array_equal(z["labels"], np.load(TF_WRITTEN / "labels.npy"))
    videos = manifest["files"]["train0000.tfrecord"]["videos"]
    assert z["num_frames"].tolist() == [min(v["num_frames"], 300) for v in videos]
    assert z["features"].dtype == np.float32 and z["features"].shape == (10, 300, 1152)
    for k, (_, payload) in enumerate(TFRecordFile(TF_WRITTEN / "frame" / "train0000.tfrecord").payloads()):
        np.testing.assert_array_equal(z["features"][k], official_frame_input(bytes(payload))[0])


def test_dump_video_level_from_gzip(tmp_path: Path, manifest: dict) -> None:
    out = tmp_path / "video.npz"
    result = runner.invoke(app, ["data", "dump", str(TF_WRITTEN / "gzip" / "video" / "train0000.tfrecord.gz"),
                                 str(out), "--num-classes", "3862"])
    assert result.exit_code == 0, result.output
    z = np.load(out)
    assert z["features"].shape == (10, 1152)
    sums = [v["mean_audio_sum"] for v in manifest["files"]["train0000.tfrecord"]["videos"]]
    np.testing.assert_allclose(z["features"][:, 1024:].astype(np.float64).sum(1), sums, atol=1e-5)


def test_dump_needs_a_class_count_and_reports_damage(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "dump", str(TF_WRITTEN / "frame" / "train0000.tfrecord"),
                                 str(tmp_path / "x.npz")])
    assert result.exit_code == 2 and "pass --num-classes" in result.output
    result = runner.invoke(app, ["data", "dump", str(TF_WRITTEN / "corrupt" / "bad_data_crc.tfrecord"),
                                 str(tmp_path / "x.npz"), "--num-classes", "3862"])
    assert result.exit_code == 2
    assert "bad_data_crc.tfrecord: record 2 at byte 8346: payload CRC mismatch" in result.output
    assert not (tmp_path / "x.npz").exists()


def test_check_clean_and_damaged_files() -> None:
    ok = runner.invoke(app, ["data", "check", str(TF_WRITTEN / "frame" / "*.tfrecord"),
                             str(TF_WRITTEN / "gzip" / "video" / "*.gz"), "--num-classes", "3862", "--json"])
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.output)
    assert (summary["records"], summary["frame_files"], summary["video_files"], summary["ok"]) == (20, 1, 1, True)
    assert summary["frames"] == sum([1, 317, 300, 300, 300, 0, 238, 4, 175, 300])
    bad = runner.invoke(app, ["data", "check", str(TF_WRITTEN / "corrupt" / "*.tfrecord"), "--num-classes", "3862"])
    assert bad.exit_code == 1
    for name in ("bad_content", "bad_data_crc", "bad_length_crc", "truncated_header", "truncated_payload"):
        assert f"{name}.tfrecord: record" in bad.output
    assert "6 damaged" in bad.output
    missing = runner.invoke(app, ["data", "check", "/nonexistent/*.tfrecord"])
    assert missing.exit_code == 2 and "no file matches '/nonexistent/*.tfrecord'" in missing.output


def test_check_reads_the_class_count_from_vocabulary(tmp_path: Path) -> None:
    (tmp_path / "vocabulary.csv").write_text("Index,Name\n0,a\n1,b\n")
    with RecordWriter(tmp_path / "video" / "train00.tfrecord", "video") as w:
        w.write("fine", [1], (np.zeros(1024), np.zeros(128)))
        w.write("broken", [2], (np.zeros(1024), np.zeros(128)))
    result = runner.invoke(app, ["data", "check", str(tmp_path / "video" / "train00.tfrecord")])
    assert result.exit_code == 1
    assert "record 1" in result.output and "label id 2 out of range (num_classes is 2)" in result.output


def test_splits_prints_files_and_record_counts(tmp_path: Path) -> None:
    for name, n in (("train00", 3), ("train01", 2), ("validatea0", 1), ("validateb0", 1), ("validate00", 2),
                    ("test00", 1)):
        with RecordWriter(tmp_path / "video" / f"{name}.tfrecord", "video") as w:
            for k in range(n):
                w.write(f"{name}-{k}", [], (np.zeros(1024), np.zeros(128)))
    result = runner.invoke(app, ["data", "splits", str(tmp_path), "--level", "video", "--json"])
    assert result.exit_code == 0, result.output
    parts = json.loads(result.output)["video"]
    assert {p: sum(f["records"] for f in files) for p, files in parts.items()} == {
        "train1": 5, "validate1": 1, "train2": 1, "validate2": 2, "test": 1}
    text = runner.invoke(app, ["data", "splits", str(tmp_path), "--level", "video"])
    assert "train1" in text.output and "2 files" in text.output
    bad = runner.invoke(app, ["data", "splits", str(tmp_path), "--level", "audio"])
    assert bad.exit_code == 2 and "--level must be frame, video or both" in bad.output


def test_metrics_command(tmp_path: Path) -> None:
    predictions = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]], np.float32)
    labels = np.array([[1, 0, 0], [0, 0, 1]], np.uint8)
    np.save(tmp_path / "p.npy", predictions)
    np.save(tmp_path / "l.npy", labels)
    result = runner.invoke(app, ["metrics", "--predictions", str(tmp_path / "p.npy"),
                                 "--labels", str(tmp_path / "l.npy"), "--top-k", "2"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    # Pooled top-2 pairs: 0.9(+) 0.8(-) 0.5(-) 0.3(+): GAP = (1/1 + 2/4) / 2 = 0.75
    assert out["gap"] == pytest.approx(0.75) and out["hit_at_1"] == 0.5 and out["n_positives"] == 2
    assert set(out) >= {"gap", "hit_at_1", "perr", "map", "n_videos", "n_positives", "ties"}
    np.save(tmp_path / "short.npy", labels[:1])
    bad = runner.invoke(app, ["metrics", "--predictions", str(tmp_path / "p.npy"),
                              "--labels", str(tmp_path / "short.npy")])
    assert bad.exit_code == 2 and "must both be [N, C]" in bad.output


def test_synth_then_splits_and_check(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    result = runner.invoke(app, ["data", "synth", str(out), "--preset", "micro", "--videos", "60", "--classes", "12",
                                 "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "wrote 60 videos" in result.output and "12 classes" in result.output
    parts = json.loads(runner.invoke(app, ["data", "splits", str(out), "--json"]).output)
    for level in ("frame", "video"):
        assert sum(f["records"] for files in parts[level].values() for f in files) == 60
        assert all(parts[level][p] for p in ("train1", "validate1", "train2", "validate2", "test"))
    check = runner.invoke(app, ["data", "check", str(out / "frame" / "*"), str(out / "video" / "*"), "--json"])
    assert check.exit_code == 0, check.output
    assert json.loads(check.output)["num_classes"] == 12  # from the generated vocabulary.csv
    bad = runner.invoke(app, ["data", "synth", str(tmp_path / "bad"), "--preset", "huge"])
    assert bad.exit_code == 2 and "huge" in bad.output


def test_synth_takes_the_old_name_of_the_micro_dataset_preset_with_a_notice(tmp_path: Path) -> None:
    """The dataset preset "tiny" (also the name of a model preset) is "micro" now; the old name still works
    for one release, says so, and writes the same dataset under the new name."""
    old = runner.invoke(app, ["data", "synth", str(tmp_path / "old"), "--preset", "tiny", "--videos", "40",
                              "--classes", "12"])
    assert old.exit_code == 0, old.output
    assert "dataset preset tiny is now micro" in old.stderr
    new = runner.invoke(app, ["data", "synth", str(tmp_path / "new"), "--videos", "40", "--classes", "12"])
    assert new.exit_code == 0 and "warning" not in new.stderr
    files = sorted(p.relative_to(tmp_path / "old") for p in (tmp_path / "old").rglob("*") if p.is_file())
    assert len(files) > 10 and files == sorted(p.relative_to(tmp_path / "new")
                                               for p in (tmp_path / "new").rglob("*") if p.is_file())
    for name in files:
        assert (tmp_path / "old" / name).read_bytes() == (tmp_path / "new" / name).read_bytes(), name
    assert json.loads((tmp_path / "new" / "synthetic.json").read_text())["preset"] == "micro"


def test_splits_flags_damaged_files(tmp_path: Path) -> None:
    import shutil

    (tmp_path / "frame").mkdir()
    shutil.copy(TF_WRITTEN / "frame" / "train0000.tfrecord", tmp_path / "frame" / "train00.tfrecord")
    shutil.copy(TF_WRITTEN / "corrupt" / "truncated_payload.tfrecord", tmp_path / "frame" / "train01.tfrecord")
    (tmp_path / "frame" / "test00.tfrecord").write_bytes(b"")
    result = runner.invoke(app, ["data", "splits", str(tmp_path), "--level", "frame", "--json"])
    assert result.exit_code == 1
    parts = json.loads(result.stdout)["frame"]
    assert [(f["records"], f["damaged"] is None) for f in parts["train1"]] == [(10, True), (3, False)]
    assert "record 3 at byte 14274" in parts["train1"][1]["damaged"]
    assert parts["test"][0]["damaged"].startswith("empty file")


def test_check_goes_on_after_a_damaged_first_record(tmp_path: Path) -> None:
    path = tmp_path / "train00.tfrecord"
    with RecordWriter(path, "video") as w:
        for k in range(4):
            w.write(f"v{k}", [0], (np.zeros(1024), np.zeros(128)))
    raw = bytearray(path.read_bytes())
    index = TFRecordFile(path).index
    for k in (0, 2):  # flip a payload byte of records 0 and 2
        raw[int(index.offsets[k]) + 20] ^= 0xFF
    path.write_bytes(bytes(raw))
    result = runner.invoke(app, ["data", "check", str(path), "--num-classes", "2", "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["records"] == 2 and summary["video_files"] == 1
    where = [d.split(": ")[1] for d in summary["damaged"]]
    assert where == ["record 0 at byte 0", f"record 2 at byte {index.offsets[2]}"]


@pytest.mark.parametrize(("args", "message"), [
    (["data", "check", "{tmp}"], "is a folder, not TFRecord files"),
    (["data", "dump", "{tmp}", "{tmp}/out.npz"], "is a folder, not TFRecord files"),
    (["configs", "show", "3", "--num-classes", "0"], "Invalid value for '--num-classes'"),
    (["train", "--config", "2", "--data", "{tmp}", "--max-steps", "0"], "Invalid value for '--max-steps'"),
    (["train", "--config", "2", "--data", "{tmp}", "--max-steps", "-5"], "Invalid value for '--max-steps'"),
    (["train", "--config", "2", "--data", "{tmp}", "--seed", str(10**20)], "Invalid value for '--seed'"),
    (["reproduce", "--configs", "2", "--data", "{tmp}", "--seed", "-1"], "Invalid value for '--seed'"),
    (["train", "--config", "2", "--data", "{tmp}", "--epochs", "0"], "--epochs must be more than 0"),
    (["train", "--config", "2", "--data", "{tmp}", "--precision", "fp16"],
     "--precision: precision 'fp16': expected one of auto, fp32, bf16"),
    (["train", "--config", "2", "--data", "{tmp}", "--loader-workers", "-1"], "--loader-workers must be from 0"),
    # the old spelling of --loader-workers still reaches the same check, with its notice
    (["train", "--config", "2", "--data", "{tmp}", "--workers", "-1"], "--loader-workers must be from 0"),
])
def test_bad_arguments_exit_2_with_a_message_not_a_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    """Exit 1 means "damage found" (data check); a bad argument is exit 2 and says which, and writes nothing."""
    result = CliRunner().invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_old_spelling_of_loader_workers_says_it_was_renamed(tmp_path: Path) -> None:
    """``--workers`` meant the DataLoader processes on ``y8m train`` and the Celery workers on ``y8m paper``: the
    first are ``--loader-workers`` now (glossary: loader worker); the old spelling works for a release."""
    result = CliRunner().invoke(app, ["train", "--config", "2", "--data", str(tmp_path / "none"), "--preset",
                                      "tiny", "--workers", "1"])
    assert result.exit_code == 2 and "--workers is now --loader-workers" in result.stderr
    assert "data directory" in result.stderr or "does not exist" in result.stderr, result.stderr


def test_synth_into_a_foreign_folder_exits_2_and_keeps_its_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["data", "synth", str(tmp_path)])
    assert result.exit_code == 2 and "is not empty and holds no synthetic.json" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
