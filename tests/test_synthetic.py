"""The synthetic YouTube-8M dataset: layout, agreement of the files, and the structure it must carry."""

from __future__ import annotations

import csv
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from y8m_models.cli.data import data_app
from y8m_models.data.records import decode_frame, decode_video, dequantize
from y8m_models.data.splits import PAPER_GLOBS, SPLITS, in_split
from y8m_models.data.synthetic import (
    VOCABULARY_COLUMNS,
    generate,
    load_config,
    regenerate_video,
)
from y8m_models.data.synthetic_world import FILLER_DARK, FILLER_NONE, FILLER_TITLE, STREAM_AUDIO, STREAM_RGB
from y8m_models.data.tfrecord import TFRecordFile
from y8m_models.data.thumbnails import png_bytes, save_thumbnail_png, thumbnail


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    generate(out, "micro", seed=0)
    return out


@pytest.fixture(scope="session")
def records(tiny: Path) -> dict:
    """Both levels decoded, in the global (sorted file name) order."""
    names = sorted(p.name for p in (tiny / "frame").iterdir())
    frame, video, split_of = [], [], []
    for name in names:
        split = next(p for p in SPLITS if in_split(name, PAPER_GLOBS[p]))
        for _, payload in TFRecordFile(tiny / "frame" / name).payloads():
            rec = decode_frame(payload)
            frame.append(type(rec)(rec.video_id, rec.labels.copy(), tuple(f.copy() for f in rec.features)))
            split_of.append(split)
        video += [decode_video(bytes(p)) for _, p in TFRecordFile(tiny / "video" / name).payloads()]
    return {"frame": frame, "video": video, "split": split_of}


@pytest.fixture(scope="session")
def gt(tiny: Path) -> dict:
    with np.load(tiny / "ground_truth.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="session")
def meta(tiny: Path) -> dict:
    return json.loads((tiny / "synthetic.json").read_text())


def _files_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------- layout

def test_same_seed_same_bytes_other_seed_differs(tiny: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", "micro", seed=0)
    generate(tmp_path / "other", "micro", seed=1)
    first, again, other = _files_bytes(tiny), _files_bytes(tmp_path / "again"), _files_bytes(tmp_path / "other")
    assert first == again
    assert set(first) == set(other)
    differing = [name for name in first if first[name] != other[name]]
    assert len(differing) == len(first)  # every file, metadata included


def test_file_names_follow_table1_globs_and_every_split_has_videos(tiny: Path, records: dict) -> None:
    for level in ("frame", "video"):
        names = sorted(p.name for p in (tiny / level).iterdir())
        for name in names:
            matching = [p for p in SPLITS if in_split(name, PAPER_GLOBS[p])]
            assert len(matching) == 1, (name, matching)
        for split in SPLITS:
            assert any(in_split(n, PAPER_GLOBS[split]) for n in names), split
    counts = {p: records["split"].count(p) for p in SPLITS}
    assert min(counts.values()) > 0
    assert counts["train1"] > 0.5 * len(records["split"])
    assert len([n for n in (tiny / "frame").iterdir() if n.name.startswith("train")]) >= 2  # shardable
    assert all(len(r.labels) > 0 for r, p in zip(records["frame"], records["split"], strict=True) if p == "test")


def test_frame_and_video_files_agree(records: dict, gt: dict) -> None:
    assert [r.video_id for r in records["frame"]] == [r.video_id for r in records["video"]]
    assert [r.video_id for r in records["frame"]] == gt["ids"].tolist()
    assert len(set(gt["ids"].tolist())) == len(gt["ids"])
    for f, v in zip(records["frame"], records["video"], strict=True):
        np.testing.assert_array_equal(f.labels, v.labels)
        for codes, mean, size in zip(f.features, v.features, (1024, 128), strict=True):
            assert codes.shape[1] == size and mean.shape == (size,)
            expected = dequantize(codes).astype(np.float64).mean(axis=0)
            np.testing.assert_allclose(mean, expected, atol=1e-6, rtol=0)


def test_lengths_span_1_to_360_with_truncation(records: dict, gt: dict) -> None:
    lengths = np.array([len(r.features[0]) for r in records["frame"]])
    np.testing.assert_array_equal(lengths, [len(r.features[1]) for r in records["frame"]])
    np.testing.assert_array_equal(lengths, gt["num_frames"])
    assert lengths.min() == 1 and lengths.max() <= 360
    assert (lengths > 300).sum() >= 3
    assert (lengths <= 5).sum() >= 3


def test_vocabulary_is_in_train1_frequency_order(tiny: Path, records: dict, meta: dict) -> None:
    with open(tiny / "vocabulary.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == VOCABULARY_COLUMNS
    vocab = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    classes = meta["classes"]
    assert [int(r["Index"]) for r in vocab] == list(range(classes))
    counts = np.zeros(classes, int)
    for r, split in zip(records["frame"], records["split"], strict=True):
        if split == "train1":
            counts[r.labels] += 1
    np.testing.assert_array_equal([int(r["TrainVideoCount"]) for r in vocab], counts)
    assert (np.diff(counts) <= 0).all() and counts[0] > 4 * np.median(counts)  # Zipf-like head
    assert len({r["Vertical1"] for r in vocab}) == 25
    assert len({r["Name"] for r in vocab}) == classes


def test_labels_per_video_and_verticals(records: dict, gt: dict, meta: dict) -> None:
    written = [len(r.labels) for r in records["frame"]]
    assert 2.3 <= np.mean(written) <= 3.5 and min(written) >= 1
    vertical = np.array([e["vertical"] for e in meta["labels"]])

    def share(vertical: np.ndarray) -> float:  # mean share of a video's labels in its commonest vertical
        return float(np.mean([np.unique(vertical[r.labels], return_counts=True)[1].max() / len(r.labels)
                              for r in records["frame"]]))

    shuffled = np.random.default_rng(0).permutation(vertical)  # same vertical sizes, no relation to videos
    assert share(vertical) > 0.7 and share(vertical) > share(shuffled) + 0.12


def test_about_ten_percent_of_true_labels_are_dropped(records: dict, gt: dict) -> None:
    true = gt["true_labels"]
    dropped = total = 0
    for r, t in zip(records["frame"], true, strict=True):
        t = t[t >= 0]
        assert set(r.labels.tolist()) <= set(t.tolist())
        dropped += len(t) - len(r.labels)
        total += len(t)
    assert 0.06 <= dropped / total <= 0.14


def test_group_labels_are_present_exactly_when_a_member_is(gt: dict, meta: dict) -> None:
    true = gt["true_labels"]
    groups = [e for e in meta["labels"] if e["kind"] == "group"]
    assert groups
    for g in groups:
        has_group = (true == g["index"]).any(1)
        has_member = np.isin(true, g["members"]).any(1)
        np.testing.assert_array_equal(has_group, has_member)
        assert has_group.sum() >= 3


# ------------------------------------------------------------------------------------------- structure

def test_uninformative_frames_are_the_filler_patterns(records: dict, gt: dict) -> None:
    rgb = [dequantize(r.features[0]) for r in records["frame"]]
    kinds = np.concatenate([gt["filler_kind"][i, : len(x)] for i, x in enumerate(rgb)])
    frames = np.concatenate(rgb)
    assert (gt["uninformative"] == (gt["filler_kind"] != FILLER_NONE)).all()
    assert 0.03 < (kinds != FILLER_NONE).mean() < 0.25
    assert (kinds == FILLER_DARK).sum() > 20 and (kinds == FILLER_TITLE).sum() > 20
    patterns = [np.median(frames[kinds == k], axis=0) for k in (FILLER_DARK, FILLER_TITLE)]
    distance = np.min([np.sqrt(((frames - p) ** 2).mean(1)) for p in patterns], axis=0)
    assert distance[kinds != FILLER_NONE].max() < 0.1  # every flagged frame is a filler pattern
    assert distance[kinds == FILLER_NONE].min() > 0.3  # and no content frame is
    assert patterns[0].mean() < frames[kinds == FILLER_NONE].mean() - 0.3  # dark frames are darker


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def test_order_labels_differ_by_frame_order_only(tiny: Path, records: dict, gt: dict, meta: dict) -> None:
    """X = motif A then B, Y = B then A: the mean along (A - B) cannot tell them apart, the order can."""
    motifs = load_config(tiny).world().rgb_motifs
    order = {e["index"]: e for e in meta["labels"] if e["kind"] == "order"}
    mean_stat, slope, a_first = [], [], []
    for r, true in zip(records["frame"], gt["true_labels"], strict=True):
        labels = [label for label in true if label in order]
        if not labels or len(r.features[0]) < 12:
            continue
        e = order[labels[0]]
        a, b = sorted((e["first_motif"], e["second_motif"]))
        s = (dequantize(r.features[0]) - dequantize(r.features[0]).mean(0)) @ (motifs[a] - motifs[b])
        s_mean = dequantize(r.features[0]).mean(0) @ (motifs[a] - motifs[b])
        t = np.arange(len(s)) - (len(s) - 1) / 2
        mean_stat.append(s_mean)
        slope.append(float(s @ t))
        a_first.append(e["first_motif"] == a)
    mean_stat, slope, a_first = map(np.array, (mean_stat, slope, a_first))
    assert a_first.sum() >= 15 and (~a_first).sum() >= 15
    assert 0.25 < _auc(mean_stat[a_first], mean_stat[~a_first]) < 0.75  # means: no better than chance
    assert ((slope < 0) == a_first).mean() > 0.9  # A early -> projection falls over time


def _split_half_t(diffs: np.ndarray) -> float:
    """Is there a consistent direction in per-video differences? Estimate it on one half, test on the other."""
    half = len(diffs) // 2
    direction = diffs[:half].mean(0)
    proj = diffs[half:] @ (direction / np.linalg.norm(direction))
    return float(proj.mean() / (proj.std(ddof=1) / np.sqrt(len(proj))))


@pytest.mark.parametrize("kind, shows, hides", [("audio", 1, 0), ("visual", 0, 1)])
def test_single_stream_labels_leave_the_other_stream_uninformative(
        tiny: Path, records: dict, gt: dict, meta: dict, kind: str, shows: int, hides: int) -> None:
    """Frames inside an audio-only label's events differ from the video's other content frames consistently
    in audio and not in rgb (and the reverse for visual-only labels)."""
    label = next(e for e in meta["labels"] if e["kind"] == kind)  # the most frequent of its kind
    internal_motif = label["audio_motif" if kind == "audio" else "rgb_motif"]
    stream = STREAM_AUDIO if kind == "audio" else STREAM_RGB
    diffs: list[list[np.ndarray]] = [[], []]
    for i, (r, true) in enumerate(zip(records["frame"], gt["true_labels"], strict=True)):
        if label["index"] not in true:
            continue
        plan, _, _ = regenerate_video(tiny, r.video_id)
        inside = np.zeros(plan.num_frames, bool)
        for s, motif, start, stop in plan.events:
            if s == stream and motif == internal_motif:
                inside[start:stop] = True
        content = gt["filler_kind"][i, : plan.num_frames] == FILLER_NONE
        if (inside & content).sum() < 2 or (~inside & content).sum() < 2:
            continue
        for j, codes in enumerate(r.features):
            x = dequantize(codes)
            diffs[j].append(x[inside & content].mean(0) - x[~inside & content].mean(0))
    assert len(diffs[0]) >= 20
    t = [_split_half_t(np.array(d)) for d in diffs]
    assert t[shows] > 5.0, t
    assert abs(t[hides]) < 3.0, t


def test_a_video_regenerates_alone_to_its_records(tiny: Path, records: dict) -> None:
    for r in records["frame"][::37]:
        plan, rgb, audio = regenerate_video(tiny, r.video_id)
        np.testing.assert_array_equal(rgb, r.features[0])
        np.testing.assert_array_equal(audio, r.features[1])
    with pytest.raises(KeyError, match="not"):
        regenerate_video(tiny, "????")


# ------------------------------------------------------------------------------------------ thumbnails

def test_thumbnails_deterministic_without_records_and_dark_on_filler(tiny: Path, gt: dict, tmp_path: Path) -> None:
    alone = tmp_path / "meta-only"
    alone.mkdir()
    shutil.copy(tiny / "synthetic.json", alone / "synthetic.json")  # no records at all
    brightness = {FILLER_NONE: [], FILLER_DARK: [], FILLER_TITLE: []}
    titles = []
    for i in range(0, len(gt["ids"]), 7):
        vid = str(gt["ids"][i])
        for f in np.unique(np.linspace(0, gt["num_frames"][i] - 1, 6).astype(int)):
            img = thumbnail(tiny, vid, int(f))
            assert img.shape == (64, 64, 3) and img.dtype == np.uint8
            np.testing.assert_array_equal(img, thumbnail(alone, vid, int(f)))
            kind = int(gt["filler_kind"][i, f])
            brightness[kind].append(img.mean())
            if kind == FILLER_TITLE:
                titles.append(img)
        assert thumbnail(tiny, vid, 0, size=32).shape == (32, 32, 3)
    assert max(brightness[FILLER_DARK]) < 20 < min(brightness[FILLER_NONE])
    assert all((t == titles[0]).all() for t in titles)  # a title card is a fixed pattern
    with pytest.raises(IndexError):
        thumbnail(tiny, str(gt["ids"][0]), int(gt["num_frames"][0]))


def test_png_round_trip(tiny: Path, gt: dict, tmp_path: Path) -> None:
    vid = str(gt["ids"][3])
    path = save_thumbnail_png(tiny, vid, 0, tmp_path / "t.png", size=16)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data == png_bytes(thumbnail(tiny, vid, 0, 16))
    width, height = struct.unpack(">II", data[16:24])
    idat_len = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    raw = np.frombuffer(zlib.decompress(data[41:41 + idat_len]), np.uint8).reshape(height, 1 + width * 3)
    assert (width, height) == (16, 16) and (raw[:, 0] == 0).all()
    np.testing.assert_array_equal(raw[:, 1:].reshape(16, 16, 3), thumbnail(tiny, vid, 0, 16))


def test_2017_id_key(tmp_path: Path) -> None:
    summary = generate(tmp_path / "d2017", "micro", videos=40, classes=12, id_key="video_id")
    assert summary.classes == 12 and sum(summary.videos.values()) == 40
    payload = bytes(TFRecordFile(tmp_path / "d2017" / "frame" / summary.files["train1"][0]).payload(0))
    assert b"video_id" in payload
    assert len(decode_frame(payload).video_id) == 4


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="preset"):
        generate(tmp_path / "x", "huge")
    with pytest.raises(ValueError, match="classes"):
        generate(tmp_path / "x", "micro", classes=3)
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="occupied"):
        generate(tmp_path / "occupied", "micro")
    assert (tmp_path / "occupied" / "notes.txt").read_text() == "mine"


def test_regenerating_replaces_an_earlier_dataset_and_survives_interruption(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ds"
    generate(out, "micro", videos=120, classes=12, seed=0)

    # A run killed half-way leaves the complete earlier dataset untouched ...
    import y8m_models.data.synthetic as synthetic

    def crash(*args: object) -> None:
        raise KeyboardInterrupt

    before = _files_bytes(out)
    monkeypatch.setattr(synthetic, "_save_npz", crash)
    with pytest.raises(KeyboardInterrupt):
        generate(out, "micro", videos=60, classes=12, seed=1)
    monkeypatch.undo()
    assert _files_bytes(out) == before
    # ... and the next run replaces it, with no file of the earlier layout left behind.
    summary = generate(out, "micro", videos=60, classes=12, seed=1)
    names = {p.name for p in (out / "frame").iterdir()}
    assert names == {n for files in summary.files.values() for n in files}
    assert not (tmp_path / ".ds.partial").exists()


@pytest.mark.parametrize("name", ["../../victim.tfrecord", "/tmp/victim.tfrecord", "..", "victim.txt", 7])
def test_an_earlier_manifest_naming_other_files_deletes_nothing(tmp_path: Path, name: object) -> None:
    """The clean-up of an earlier generation deletes only the record files its synthetic.json names, each a
    plain *.tfrecord name; anything else is refused, named, before any generation or deletion."""
    out = tmp_path / "a" / "b" / "ds"
    (out / "frame").mkdir(parents=True)
    victim = tmp_path / "victim.tfrecord"
    victim.write_text("keep")
    (out / "frame" / "train00.tfrecord").write_text("the earlier dataset's")
    (out / "synthetic.json").write_text(json.dumps({"files": [{"name": "train00.tfrecord"}, {"name": name}]}))
    with pytest.raises(ValueError, match=r"synthetic.json: file entry .* is not a record file name"):
        generate(out, "micro", videos=40, classes=12)
    assert victim.read_text() == "keep" and (out / "frame" / "train00.tfrecord").exists()
    assert not (out.parent / ".ds.partial").exists()
    result = CliRunner().invoke(data_app, ["synth", str(out), "--videos", "40"])
    assert result.exit_code == 2 and "nothing was deleted" in result.output
    (out / "synthetic.json").write_text("{not json")
    with pytest.raises(ValueError, match="not an earlier synthetic dataset's manifest"):
        generate(out, "micro", videos=40, classes=12)


def test_a_manifest_written_before_the_split_names_still_loads(tiny: Path, tmp_path: Path) -> None:
    """synthetic.json said "parts" and "files_per_part" before the glossary's "split": such a dataset keeps its
    configuration, and so its regenerated frames (the attention gallery's thumbnails)."""
    meta = json.loads((tiny / "synthetic.json").read_text())
    meta["files_per_part"], meta["parts"] = meta.pop("files_per_split"), meta.pop("splits")
    old = tmp_path / "old"
    old.mkdir()
    (old / "synthetic.json").write_text(json.dumps(meta))
    assert load_config(old) == load_config(tiny)
    first = next(iter(TFRecordFile(tiny / "video" / meta["files"][0]["name"]).payloads()))[1]
    video_id = decode_video(bytes(first)).video_id
    np.testing.assert_array_equal(thumbnail(old, video_id, 0, size=16), thumbnail(tiny, video_id, 0, size=16))


def test_videos_are_as_long_as_the_reader_they_are_meant_for() -> None:
    """YouTube-8M decodes up to 360 s and the paper's reader keeps 300 frames, so a frame model sees at least
    5/6 of what the video-level means average. A dataset meant for the tiny preset's reader (100 frames, the
    `paper` dataset) keeps that ratio: lengths up to 100, the long videos up to 120, never past."""
    from y8m_models.configs import resolve
    from y8m_models.data.synthetic import PRESETS
    from y8m_models.data.synthetic_world import Knobs, build_world, plan_video

    def lengths(knobs: Knobs) -> np.ndarray:
        world = build_world(0, 40, knobs)
        return np.array([plan_video(world, i).num_frames for i in range(600)])

    real = lengths(Knobs())
    assert real.max() <= 360 and (real > 300).any() and ((real > 6) & (real <= 300)).mean() > 0.8
    knobs = PRESETS["paper"].knobs
    reader = resolve(25, "tiny").model.params.max_frames
    assert knobs.reader_frames == reader == 100
    paper = lengths(knobs)
    assert paper.max() <= 120 and (paper > 100).any()
    assert (np.minimum(paper, reader) / paper).min() >= 5 / 6
    with pytest.raises(ValueError, match="reader_frames must be from 6 to 300"):
        Knobs(reader_frames=400)
    # a dataset written before the knob regenerates as it was: the real reader's 300
    older = {k: v for k, v in Knobs().to_json().items() if k != "reader_frames"}
    assert Knobs.from_json(older) == Knobs()
