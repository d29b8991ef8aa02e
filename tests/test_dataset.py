"""The dataset's batches and to_device: what the model sees, sharding, shuffling and damage handling."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from tfrecord import example_pb2 as pb
from torch.utils.data import DataLoader

from tests.conftest import TF_WRITTEN
from y8m_models.data.dataset import YT8MDataset, sample_frames, to_device
from y8m_models.data.errors import Y8MDataError
from y8m_models.data.tfrecord import TFRecordFile
from y8m_models.data.writer import RecordWriter


def official_frame_input(payload: bytes, max_frames: int = 300) -> tuple[np.ndarray, int]:
    """What the official starter-code reader computes, re-derived with the protobuf runtime: each
    feature decoded, truncated to max_frames, dequantized in float32, zero-padded; concatenated."""
    seq = pb.SequenceExample.FromString(payload)
    parts = []
    for name in ("rgb", "audio"):
        frames = [np.frombuffer(f.bytes_list.value[0], np.uint8) for f in seq.feature_lists.feature_list[name].feature]
        size = 1024 if name == "rgb" else 128
        q = np.stack(frames[:max_frames]) if frames else np.zeros((0, size), np.uint8)
        x = q.astype(np.float32) * np.float32(4 / 255) + np.float32(4 / 512 - 2)
        parts.append(np.concatenate([x, np.zeros((max_frames - len(x), size), np.float32)]))
    n_rgb = len(seq.feature_lists.feature_list["rgb"].feature)
    return np.concatenate(parts, axis=1), min(n_rgb, max_frames)


def test_model_input_equals_official_reader(manifest: dict) -> None:
    path = TF_WRITTEN / "frame" / "train0000.tfrecord"
    batch = to_device(_one_batch(YT8MDataset([path], "frame", 3862)))
    payloads = [bytes(p) for _, p in TFRecordFile(path).payloads()]
    assert batch["features"].dtype == torch.float32 and batch["features"].shape == (10, 300, 1152)
    for k, payload in enumerate(payloads):
        expected, n = official_frame_input(payload)
        np.testing.assert_array_equal(batch["features"][k].numpy(), expected)  # bit-exact, not allclose
        assert int(batch["num_frames"][k]) == n
    videos = manifest["files"]["train0000.tfrecord"]["videos"]
    assert batch["num_frames"].tolist() == [min(v["num_frames"], 300) for v in videos]
    labels = np.load(TF_WRITTEN / "labels.npy")
    np.testing.assert_array_equal(batch["labels"].numpy(), labels)
    assert batch["video_ids"] == (TF_WRITTEN / "ids.txt").read_text().split()
    # Padding is +0.0 (not -0.0): bytes identical to np.zeros.
    assert not torch.signbit(batch["features"][5]).any()


def test_video_level_batch(manifest: dict) -> None:
    ds = YT8MDataset([TF_WRITTEN / "gzip" / "video" / "train0000.tfrecord.gz"], "video", 3862)
    batch = to_device(_one_batch(ds))
    assert batch["features"].shape == (10, 1152) and "num_frames" not in batch
    sums = [v["mean_rgb_sum"] for v in manifest["files"]["train0000.tfrecord"]["videos"]]
    np.testing.assert_allclose(batch["features"][:, :1024].double().sum(1).numpy(), sums, atol=1e-9)


def _one_batch(ds: YT8MDataset) -> dict:
    (batch,) = list(ds)
    return batch


def test_audio_shorter_than_rgb_is_padded_on_its_own(tmp_path: Path) -> None:
    # The official reader pads each feature to max_frames separately; num_frames comes from rgb.
    path = tmp_path / "train00.tfrecord"
    with RecordWriter(path, "frame") as w:
        w.write("v", [0], (np.full((5, 1024), 200, np.uint8), np.full((3, 128), 100, np.uint8)))
    batch = to_device(_one_batch(YT8MDataset([path], "frame", 2)))
    x = batch["features"][0]
    assert int(batch["num_frames"][0]) == 5
    assert (x[:5, :1024] != 0).all() and (x[5:] == 0).all()
    assert (x[:3, 1024:] != 0).all() and (x[3:, 1024:] == 0).all()


def _synthetic_files(tmp_path: Path, files: int = 3, per_file: int = 25, frames: int = 4) -> list[Path]:
    paths = []
    for f in range(files):
        path = tmp_path / f"train{f:02d}.tfrecord"
        with RecordWriter(path, "frame") as w:
            for k in range(per_file):
                n = 1 + (k % frames)
                w.write(f"f{f}v{k}", [k % 5], (np.full((n, 1024), k, np.uint8), np.full((n, 128), f, np.uint8)))
        paths.append(path)
    return paths


@pytest.mark.parametrize("shuffle", [False, True])
def test_two_dataloader_workers_read_every_record_exactly_once(tmp_path: Path, shuffle: bool) -> None:
    paths = _synthetic_files(tmp_path)
    ds = YT8MDataset(paths, "frame", 5, batch_size=7, shuffle=shuffle, seed=3, shuffle_buffer=8)
    loader = DataLoader(ds, batch_size=None, num_workers=2)
    seen = Counter(v for batch in loader for v in batch["video_ids"])
    assert seen == Counter(f"f{f}v{k}" for f in range(3) for k in range(25))


@pytest.mark.parametrize("workers", [0, 2])
def test_ranks_split_each_batch_of_one_process(tmp_path: Path, workers: int) -> None:
    """DDP: rank r reads the r-th part of every batch one process would read; the parts make the batch."""
    paths = _synthetic_files(tmp_path, files=4, per_file=13)

    def batches(rank: int = 0, world_size: int = 1) -> list[dict]:
        ds = YT8MDataset(paths, "frame", 5, batch_size=5, shuffle=True, seed=1, rank=rank, world_size=world_size)
        ds.set_epoch(1)
        return list(DataLoader(ds, batch_size=None, num_workers=workers))

    whole = batches()
    parts = [batches(rank, 3) for rank in range(3)]
    assert all(len(p) == len(whole) for p in parts)  # the ranks step together
    for k, batch in enumerate(whole):
        assert [v for p in parts for v in p[k]["video_ids"]] == batch["video_ids"]
        assert {p[k]["global_size"] for p in parts} == {len(batch["video_ids"])}
        assert {p[k]["position"] for p in parts} == {batch["position"]}  # one checkpoint serves every rank
        assert sorted(len(p[k]["video_ids"]) for p in parts) in ([1, 2, 2], [1, 1, 1], [0, 1, 1], [0, 0, 1])
    # A shard's records are contiguous and the shards cover them all without overlap.
    ds = YT8MDataset(paths, "frame", 5)
    sizes = [sum(b - a for _, a, b in ds.shard_ranges(s, 6)) for s in range(6)]
    assert sum(sizes) == 52 and max(sizes) - min(sizes) <= 1


def test_shuffle_is_seeded_and_changes_with_epoch(tmp_path: Path) -> None:
    paths = _synthetic_files(tmp_path)

    def order(seed: int, epoch: int) -> list[str]:
        ds = YT8MDataset(paths, "frame", 5, batch_size=4, shuffle=True, seed=seed, shuffle_buffer=16)
        ds.set_epoch(epoch)
        return [v for batch in ds for v in batch["video_ids"]]

    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1) and order(0, 0) != order(1, 0)
    assert sorted(order(0, 1)) == sorted(order(1, 0))
    plain = [v for batch in YT8MDataset(paths, "frame", 5, batch_size=4) for v in batch["video_ids"]]
    assert plain == [f"f{f}v{k}" for f in range(3) for k in range(25)]


def test_each_pass_reads_the_next_epoch_also_in_persistent_workers(tmp_path: Path) -> None:
    """``fit`` keeps one loader (and its worker processes, which hold copies of the dataset) for every epoch: each
    pass then reads the next epoch's order, as a dataset set to that epoch does in one process."""
    paths = _synthetic_files(tmp_path)

    def epoch_order(epoch: int) -> list[str]:
        ds = YT8MDataset(paths, "frame", 5, batch_size=4, shuffle=True, seed=2, shuffle_buffer=16)
        ds.set_epoch(epoch)
        return sorted(v for batch in DataLoader(ds, batch_size=None, num_workers=2) for v in batch["video_ids"][:1])

    ds = YT8MDataset(paths, "frame", 5, batch_size=4, shuffle=True, seed=2, shuffle_buffer=16)
    ds.set_epoch(3)
    loader = DataLoader(ds, batch_size=None, num_workers=2, persistent_workers=True)
    passes = [sorted(v for batch in loader for v in batch["video_ids"][:1]) for _ in range(3)]
    assert passes == [epoch_order(3), epoch_order(4), epoch_order(5)]
    assert passes[0] != passes[1] != passes[2]
    in_process = [[v for batch in ds for v in batch["video_ids"]] for _ in range(2)]  # ds itself: still at 3
    assert in_process[0] != in_process[1] and sorted(in_process[0]) == sorted(in_process[1])


def test_frame_subsampling_keeps_sorted_valid_frames(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    keep = sample_frames(120, 0.5, rng)
    assert (np.diff(keep) > 0).all() and keep.max() < 120
    assert 40 < len(keep) < 80  # about half of the 120 valid frames
    path = tmp_path / "train00.tfrecord"
    rgb = np.repeat(np.arange(200, dtype=np.uint8)[:, None], 1024, axis=1)
    with RecordWriter(path, "frame") as w:
        w.write("v", [0], (rgb, np.zeros((200, 128), np.uint8)))
    batch = _one_batch(YT8MDataset([path], "frame", 1, frame_sample_fraction=0.5, seed=4))
    n = int(batch["num_frames"][0])
    kept = batch["frames_q"][0, :n, 0].numpy()
    assert 70 < n < 130 and (np.diff(kept.astype(int)) > 0).all()  # original frames, in time order
    assert (batch["frames_q"][0, n:] == 0).all()
    assert batch["feature_frames"][0].tolist() == [n, n]


def test_framing_damage_stops_before_reading_unless_skipped(caplog: pytest.LogCaptureFixture) -> None:
    corrupt = TF_WRITTEN / "corrupt"
    with pytest.raises(Y8MDataError, match=r"truncated_payload.tfrecord: record 3 at byte 14274"):
        YT8MDataset([TF_WRITTEN / "frame" / "train0000.tfrecord", corrupt / "truncated_payload.tfrecord"],
                     "frame", 3862)
    files = sorted(corrupt.glob("*.tfrecord"))
    with pytest.raises(Y8MDataError):
        YT8MDataset(files, "frame", 3862)
    ds = YT8MDataset(files, "frame", 3862, batch_size=4, skip_corrupt=True)
    with caplog.at_level(logging.WARNING):
        ids = [v for batch in ds for v in batch["video_ids"]]
    # bad_content: 1 of 3 ok; bad_data_crc: 5 of 6 (framing intact); bad_length_crc 2, truncated_* 3 each.
    assert len(ids) == 1 + 5 + 2 + 3 + 3
    reasons = sorted(s.reason.split(" (")[0] for s in ds.skipped)
    assert len(ds.skipped) == 3 and "payload CRC mismatch" in reasons
    assert "skipped 6 damaged record(s)" in caplog.text and "bad_length_crc.tfrecord: record 2" in caplog.text


def test_damaged_payload_raises_during_iteration() -> None:
    ds = YT8MDataset([TF_WRITTEN / "corrupt" / "bad_data_crc.tfrecord"], "frame", 3862)
    with pytest.raises(Y8MDataError, match=r"bad_data_crc.tfrecord: record 2 at byte 8346: payload CRC"):
        list(ds)
    ds = YT8MDataset([TF_WRITTEN / "corrupt" / "bad_content.tfrecord"], "frame", 3862)
    with pytest.raises(Y8MDataError, match=r"bad_content.tfrecord: record 1 at byte \d+: .*1000 bytes"):
        list(ds)


def test_label_out_of_range_names_the_record(tmp_path: Path) -> None:
    path = tmp_path / "train00.tfrecord"
    with RecordWriter(path, "video") as w:
        w.write("ok", [1], (np.zeros(1024), np.zeros(128)))
        w.write("bad", [7], (np.zeros(1024), np.zeros(128)))
    with pytest.raises(Y8MDataError, match=r"train00.tfrecord: record 1 at byte \d+: video 'bad': label id 7"):
        list(YT8MDataset([path], "video", 5))


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    paths = _synthetic_files(tmp_path, files=1, per_file=1)
    with pytest.raises(ValueError, match="level must be"):
        YT8MDataset(paths, "frames", 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rank 2 is outside world_size 2"):
        YT8MDataset(paths, "frame", 5, rank=2, world_size=2)
    with pytest.raises(ValueError, match="frame_sample_fraction"):
        YT8MDataset(paths, "frame", 5, frame_sample_fraction=0.0)


def test_shuffled_batches_carry_each_videos_own_frames(tmp_path: Path) -> None:
    # _synthetic_files: video f{f}v{k} has 1 + k % 4 frames, rgb codes k and audio codes f.
    paths = _synthetic_files(tmp_path)
    ds = YT8MDataset(paths, "frame", 5, batch_size=7, shuffle=True, seed=9, shuffle_buffer=10)
    sizes = []
    for batch in ds:
        sizes.append(len(batch["video_ids"]))
        for row, vid in enumerate(batch["video_ids"]):
            f, k = (int(x) for x in vid[1:].split("v"))
            n = 1 + k % 4
            assert int(batch["num_frames"][row]) == n and batch["labels"][row].tolist() == [int(j == k % 5)
                                                                                          for j in range(5)]
            assert (batch["frames_q"][row, :n, :1024] == k).all() and (batch["frames_q"][row, :n, 1024:] == f).all()
            assert (batch["frames_q"][row, n:] == 0).all()
    assert sizes == [7] * 10 + [5]


def test_batch_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"batch_size \(0\)"):
        YT8MDataset(_synthetic_files(tmp_path, files=1, per_file=1), "frame", 5, batch_size=0)


def test_skipped_records_are_counted_once_per_pass_and_reach_the_main_process() -> None:
    files = [TF_WRITTEN / "corrupt" / "bad_data_crc.tfrecord", TF_WRITTEN / "corrupt" / "bad_content.tfrecord"]
    ds = YT8MDataset(files, "frame", 3862, batch_size=2, skip_corrupt=True)
    for _ in range(3):  # three epochs: the count does not accumulate across passes
        batches = list(ds)
        assert sum(b["skipped"] for b in batches) == 3 and len(ds.skipped) == 3
    # bad_content's last two records are damaged: a final batch of 0 videos carries their count.
    assert [(len(b["video_ids"]), b["skipped"]) for b in batches] == [(2, 0), (2, 1), (2, 0), (0, 2)]
    assert batches[-1]["frames_q"].shape == (0, 300, 1152)
    loader = DataLoader(ds, batch_size=None, num_workers=2)
    batches = list(loader)
    assert sum(b["skipped"] for b in batches) == 3 and sum(len(b["video_ids"]) for b in batches) == 5 + 1


def test_resume_continues_an_epoch_exactly(tmp_path: Path) -> None:
    paths = _synthetic_files(tmp_path, files=3, per_file=20, frames=6)

    def make() -> YT8MDataset:
        return YT8MDataset(paths, "frame", 5, batch_size=4, shuffle=True, seed=7, shuffle_buffer=9,
                           frame_sample_fraction=0.5, max_frames=6)

    full = make()
    full.set_epoch(2)
    batches = list(full)
    stop = 6  # interrupted after 6 batches
    resumed = make()
    resumed.resume(2, batches[stop - 1]["num_shards"], {batches[stop - 1]["shard"]: batches[stop - 1]["position"]})
    rest = list(resumed)
    assert len(rest) == len(batches) - stop
    for got, want in zip(rest, batches[stop:], strict=True):
        assert got["video_ids"] == want["video_ids"] and got["position"] == want["position"]
        assert torch.equal(got["frames_q"], want["frames_q"]) and torch.equal(got["num_frames"], want["num_frames"])
    with pytest.raises(ValueError, match="recorded with 3 shards"):
        mismatched = make()
        mismatched.resume(0, 3, {0: 4})
        list(mismatched)


def test_resume_with_workers_reads_the_rest_exactly_once(tmp_path: Path) -> None:
    paths = _synthetic_files(tmp_path, files=3, per_file=20)
    ds = YT8MDataset(paths, "frame", 5, batch_size=3, shuffle=True, seed=1, shuffle_buffer=5)
    seen, positions = [], {}
    for k, batch in enumerate(DataLoader(ds, batch_size=None, num_workers=2)):
        if k == 7:
            break  # the run dies here
        seen += batch["video_ids"]
        positions[batch["shard"]] = batch["position"]
    ds.resume(0, 2, positions)
    rest = [v for batch in DataLoader(ds, batch_size=None, num_workers=2) for v in batch["video_ids"]]
    assert sorted(seen + rest) == sorted(f"f{f}v{k}" for f in range(3) for k in range(20))


def test_record_size_and_frame_count_limits_name_the_record_and_their_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record past ``Y8M_MAX_RECORD_BYTES`` or a video past ``Y8M_MAX_RECORD_FRAMES`` is damage that names the
    file, the record and the setting (``data check`` lists it, training stops or skips it); the neighbours
    read; the setting raises the limit."""
    from y8m_models.data.check import check_file
    from y8m_models.data.dataset import read_record
    from y8m_models.data.records import FRAME_SPEC

    path = tmp_path / "train00.tfrecord"
    with RecordWriter(path, "frame") as w:
        for video, frames in (("short", 5), ("long", 50), ("also-short", 6)):
            w.write(video, [1], (np.zeros((frames, 1024)), np.zeros((frames, 128))))
    monkeypatch.setenv("Y8M_MAX_RECORD_FRAMES", "10")
    file = TFRecordFile(path)
    with pytest.raises(Y8MDataError, match=r"train00.tfrecord: record 1 at byte \d+: video 'long': 50 frames is "
                                           r"over the limit 10 \(Y8M_MAX_RECORD_FRAMES raises it\)"):
        read_record(file, 1, "frame", FRAME_SPEC, 5)
    assert [len(read_record(file, i, "frame", FRAME_SPEC, 5).features[0]) for i in (0, 2)] == [5, 6]
    assert [d.record for d in check_file(path, 5).damage] == [1]
    size = len(file.payload(1))
    monkeypatch.setenv("Y8M_MAX_RECORD_FRAMES", "50")
    monkeypatch.setenv("Y8M_MAX_RECORD_BYTES", str(size - 1))
    file = TFRecordFile(path)
    with pytest.raises(Y8MDataError, match=rf"record 1 at byte \d+: a record of {size:,} bytes is over the limit "
                                           rf"{size - 1:,} \(Y8M_MAX_RECORD_BYTES raises it\)"):
        list(YT8MDataset([path], "frame", 5, batch_size=3))
    monkeypatch.setenv("Y8M_MAX_RECORD_BYTES", str(size))
    batch = next(iter(YT8MDataset([path], "frame", 5, batch_size=3)))
    assert batch["video_ids"] == ["short", "long", "also-short"]
