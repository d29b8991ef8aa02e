"""``y8m data convert`` (issue 21, part 2): per-video features from .npy/.npz folders, Parquet and HDF5 with a
labels CSV -> the YouTube-8M layout, read back by the reader as written; every bad input named by file and row,
nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from y8m_models.cli import app
from y8m_models.data.convert import ConvertError, convert
from y8m_models.data.dataset import YT8MDataset, to_device
from y8m_models.data.layout import find_layout
from y8m_models.data.records import dequantize, quantize
from y8m_models.data.splits import SPLITS, split_files
from y8m_models.data.vocabulary import read_vocabulary

NAMES = ["cat", "dog", "bird"]


def _videos(n: int = 30, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {f"vid{i:03d}": {"clip": rng.uniform(-1.5, 1.5, (int(rng.integers(1, 9)), 16)),
                            "sound": rng.uniform(-1, 1, (0, 4))} for i in range(n)}


def _same_frames(videos: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    for arrays in videos.values():
        arrays["sound"] = rng.uniform(-1, 1, (arrays["clip"].shape[0], 4))
    return videos


def _labels_csv(path: Path, videos, split: dict[str, str] | None = None) -> Path:
    lines = ["video_id,labels" + (",split" if split else "")]
    for i, video in enumerate(videos):
        labels = ";".join(NAMES[: 1 + i % 3]) if i % 3 else "dog"
        lines.append(f"{video},{labels}" + (f",{split[video]}" if split else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def _npz_folder(folder: Path, videos) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for video, arrays in videos.items():
        np.savez(folder / f"{video}.npz", **arrays)
    return folder


def _read_back(out: Path, level: str) -> dict[str, dict]:
    layout = find_layout(out)
    got = {}
    for split, files in split_files(out, level).items():
        for batch in YT8MDataset(files, level, 3, batch_size=64, spec=layout.spec(level)):
            inputs = to_device(batch)
            for row, video in enumerate(batch["video_ids"]):
                got[video] = {"split": split, "labels": np.flatnonzero(batch["labels"][row].numpy()).tolist(),
                              "x": inputs["features"][row].numpy(),
                              "frames": int(batch["num_frames"][row]) if level == "frame" else None}
    return got


def test_a_folder_of_npz_files_round_trips_through_the_reader(tmp_path: Path) -> None:
    videos = _same_frames(_videos())
    labels = _labels_csv(tmp_path / "labels.csv", videos)
    done = convert(_npz_folder(tmp_path / "npz", videos), labels, tmp_path / "out", seed=3)
    assert done.layout.describe("frame") == "clip 16 + sound 4" and done.layout.describe("video") == (
        "mean_clip 16 + mean_sound 4")
    # 30 videos by the shares 0.6, 0.06, 0.16, 0.1, 0.08: 18, 1.8, 4.8, 3, 2.4, rounded to the largest remainders
    assert done.videos == {"train1": 18, "validate1": 2, "train2": 5, "validate2": 3, "test": 2}
    # the vocabulary from the names, the most frequent first: dog on every line, cat on 2 of 3, bird on 1 of 3
    assert list(read_vocabulary(tmp_path / "out" / "vocabulary.csv").names) == ["dog", "cat", "bird"]
    frames, video_level = _read_back(tmp_path / "out", "frame"), _read_back(tmp_path / "out", "video")
    assert set(frames) == set(videos) == set(video_level)
    for i, (video, arrays) in enumerate(videos.items()):
        x = np.concatenate([arrays["clip"], arrays["sound"]], axis=1)
        codes = quantize(x)
        n = frames[video]["frames"]
        assert n == len(x)
        np.testing.assert_array_equal(frames[video]["x"][:n], dequantize(codes))  # 8 bits, as YouTube-8M's
        # the official codes: half a step of 4/255, and the reader's bias of 4/512 the extractor does not add
        assert np.abs(frames[video]["x"][:n] - x).max() <= 2 / 255 + 4 / 512 + 1e-6
        np.testing.assert_allclose(video_level[video]["x"], dequantize(codes).mean(0), rtol=1e-6)
        names = NAMES[: 1 + i % 3] if i % 3 else ["dog"]
        assert frames[video]["labels"] == sorted({"dog": 0, "cat": 1, "bird": 2}[n] for n in names)
    assert json.loads((tmp_path / "out" / "convert.json").read_text())["seed"] == 3


def test_npy_parquet_and_hdf5_give_the_same_dataset_and_a_split_column_is_kept(tmp_path: Path) -> None:
    import h5py
    import pyarrow as pa
    import pyarrow.parquet as pq

    videos = {v: {"clip": a["clip"]} for v, a in _videos(12, seed=2).items()}
    split = {v: SPLITS[i % 5] for i, v in enumerate(videos)}
    labels = _labels_csv(tmp_path / "labels.csv", videos, split)
    folder = tmp_path / "npy"
    folder.mkdir()
    for video, arrays in videos.items():
        np.save(folder / f"{video}.npy", arrays["clip"])
    rows = [(video, t, arrays["clip"][t].tolist()) for video, arrays in videos.items()
            for t in range(len(arrays["clip"]))][::-1]  # any row order: frames are sorted
    pq.write_table(pa.table({"video_id": [r[0] for r in rows], "frame": [r[1] for r in rows],
                             "clip": [r[2] for r in rows]}), tmp_path / "f.parquet")
    with h5py.File(tmp_path / "f.h5", "w") as handle:
        for video, arrays in videos.items():
            handle.create_group(video).create_dataset("clip", data=arrays["clip"])
    read = {}
    for source, names in ((folder, ["clip"]), (tmp_path / "f.parquet", None), (tmp_path / "f.h5", None)):
        out = tmp_path / f"out-{source.name}"
        done = convert(source, labels, out, names=names)
        assert done.layout.describe("frame") == "clip 16"
        read[source.name] = _read_back(out, "frame")
        assert {v: r["split"] for v, r in read[source.name].items()} == split
    first = read["npy"]
    for other in ("f.parquet", "f.h5"):
        for video in videos:
            np.testing.assert_array_equal(read[other][video]["x"], first[video]["x"])


def test_every_bad_input_is_named_and_nothing_is_left_behind(tmp_path: Path) -> None:
    videos = _same_frames(_videos(10))
    good = _npz_folder(tmp_path / "good", videos)
    labels = _labels_csv(tmp_path / "labels.csv", videos)
    (tmp_path / "vocab.csv").write_text("Index,Name\n0,dog\n1,cat\n")

    def broken(name: str, change) -> Path:
        folder = _npz_folder(tmp_path / name, {v: dict(a) for v, a in videos.items()})
        change(folder)
        return folder

    def save(video: str, **arrays) -> callable:
        return lambda folder: np.savez(folder / f"{video}.npz", **arrays)

    clip, sound = videos["vid003"]["clip"], videos["vid003"]["sound"]
    nan = clip.copy()
    nan[1, 2] = np.nan
    cases = [
        (broken("ragged", save("vid003", clip=clip[:, :8], sound=sound)), labels, {},
         "vid003.npz: feature 'clip' is 8 wide; the first video's is 16"),
        (broken("frames", save("vid003", clip=clip, sound=sound[:1])), labels, {},
         "vid003.npz: feature 'sound' has 1 frames, 'clip'"),
        (broken("nan", save("vid003", clip=nan, sound=sound)), labels, {},
         "vid003.npz: feature 'clip': frame 1, value 2 is nan"),
        (broken("range", save("vid003", clip=clip * 10, sound=sound)), labels, {},
         "outside [-2, 2], the range of YouTube-8M's 8-bit codes"),
        (broken("empty", save("vid003", clip=clip[:0], sound=sound[:0])), labels, {},
         "vid003.npz: feature 'clip' is empty"),
        (broken("extra", save("vid999", clip=clip, sound=sound)), labels, {},
         f"vid999.npz: video 'vid999' has no line in {labels}"),
        (broken("names", save("vid003", clip=clip, noise=sound)), labels, {},
         "vid003.npz: features clip, noise; the first video has clip, sound"),
        (broken("missing", lambda folder: (folder / "vid004.npz").unlink()), labels, {},
         "line 6: video 'vid004' has no features"),
        (good, labels, {"vocabulary": tmp_path / "vocab.csv"}, "line 4: label 'bird' is not in the vocabulary"),
        (good, labels, {"ratios": [1, 0, 1, 1, 1]}, "--ratios: five positive shares"),
        (tmp_path / "nowhere", labels, {}, "nowhere: does not exist"),
    ]
    twice = tmp_path / "twice.csv"
    twice.write_text(labels.read_text() + "vid001,dog\n")
    cases.append((good, twice, {}, "line 12: video 'vid001' is listed twice (first on line 3)"))
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text(labels.read_text().replace("vid002,cat;dog;bird", "vid002,"))
    cases.append((good, unlabelled, {}, "line 4: video 'vid002' has no labels"))
    header = tmp_path / "header.csv"
    header.write_text("id,tags\nvid000,dog\n")
    cases.append((good, header, {}, "expected a header video_id,labels[,split]"))
    for features, labels_csv, options, says in cases:
        out = tmp_path / "out"
        with pytest.raises(ConvertError) as caught:
            convert(features, labels_csv, out, **options)
        assert says in str(caught.value), (says, str(caught.value))
        assert not out.exists() and not list(tmp_path.glob(".out.partial-*")), says
    # more files than a split's Table 1 glob can name; a Parquet column that is not a list of numbers
    many = tmp_path / "many.csv"  # checked before any feature is read
    many.write_text("video_id,labels,split\n" + "".join(f"v{i},dog,validate1\n" for i in range(70)))
    with pytest.raises(ConvertError, match="--shard-size: 70 validate1 videos in files of 1 are 70 files; .* at "
                                           "most 64"):
        convert(good, many, tmp_path / "out", shard_size=1)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"video_id": ["vid000"], "frame": [0], "clip": [0.5]}), tmp_path / "scalar.parquet")
    with pytest.raises(ConvertError, match="column 'clip' is double: a feature column holds each frame's values"):
        convert(tmp_path / "scalar.parquet", labels, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(ConvertError, match="taken: exists and is not an empty folder"):
        convert(good, labels, tmp_path / "taken")
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_convert_on_the_command_line_then_train_on_it(tmp_path: Path) -> None:
    videos = _same_frames(_videos(40))
    labels = _labels_csv(tmp_path / "labels.csv", videos)
    runner = CliRunner()
    done = runner.invoke(app, ["data", "convert", str(_npz_folder(tmp_path / "npz", videos)), str(labels),
                               str(tmp_path / "data"), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["features"]["frame"] == [{"name": "clip", "size": 16}, {"name": "sound", "size": 4}]
    trained = runner.invoke(app, ["train", "--config", "3", "--data", str(tmp_path / "data"), "--out",
                                  str(tmp_path / "run"), "--preset", "tiny", "--max-steps", "5"])
    assert trained.exit_code == 0, trained.output
    bad = runner.invoke(app, ["data", "convert", str(tmp_path / "npz"), str(labels), str(tmp_path / "data")])
    assert bad.exit_code == 2 and "exists and is not an empty folder" in bad.stderr
    bad = runner.invoke(app, ["data", "convert", str(tmp_path / "npz"), str(labels), str(tmp_path / "x"),
                              "--ratios", "a,b"])
    assert bad.exit_code == 2 and "--ratios 'a,b': five numbers" in bad.stderr
