"""TFRecord framing: CRCs, gzip detection, the record index and every kind of damage."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TF_WRITTEN
from y8m_models.data.errors import Y8MDataError
from y8m_models.data.tfrecord import TFRecordFile, build_index, frame_record, masked_crc32c


def _write(path: Path, payloads: list[bytes]) -> Path:
    path.write_bytes(b"".join(frame_record(p) for p in payloads))
    return path


def test_masked_crc_matches_tensorflow_framing(manifest: dict) -> None:
    # Every header and footer TensorFlow wrote must verify with our masked CRC.
    raw = (TF_WRITTEN / "frame" / "train0000.tfrecord").read_bytes()
    pos = count = 0
    while pos < len(raw):
        (length,) = struct.unpack_from("<Q", raw, pos)
        assert struct.unpack_from("<I", raw, pos + 8)[0] == masked_crc32c(raw[pos:pos + 8])
        payload = raw[pos + 12:pos + 12 + length]
        assert struct.unpack_from("<I", raw, pos + 12 + length)[0] == masked_crc32c(payload)
        pos += 16 + length
        count += 1
    assert count == len(manifest["files"]["train0000.tfrecord"]["videos"])


def test_index_of_plain_and_gzip_files_agree() -> None:
    plain = build_index(TF_WRITTEN / "frame" / "train0000.tfrecord", use_cache=False)
    gz = build_index(TF_WRITTEN / "gzip" / "frame" / "train0000.tfrecord.gz", use_cache=False)
    assert not plain.compressed and gz.compressed
    np.testing.assert_array_equal(plain.offsets, gz.offsets)
    np.testing.assert_array_equal(plain.lengths, gz.lengths)
    assert plain.damage is None and gz.damage is None


def test_gzip_is_detected_by_magic_not_name(tmp_path: Path) -> None:
    payloads = [b"alpha", b"", b"x" * 1000]
    data = gzip.compress(b"".join(frame_record(p) for p in payloads))
    odd_name = tmp_path / "plain_looking.tfrecord"
    odd_name.write_bytes(data)
    f = TFRecordFile(odd_name)
    assert f.index.compressed
    assert [bytes(p) for _, p in f.payloads()] == payloads


def test_multi_member_gzip(tmp_path: Path) -> None:
    path = tmp_path / "two_members.tfrecord.gz"
    path.write_bytes(gzip.compress(frame_record(b"one")) + gzip.compress(frame_record(b"two")))
    assert [bytes(p) for _, p in TFRecordFile(path).payloads()] == [b"one", b"two"]


def test_truncated_gzip_is_reported(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(frame_record(bytes([i]) * 5000) for i in range(4)), compresslevel=0)
    path = tmp_path / "cut.tfrecord.gz"
    path.write_bytes(data[: len(data) - 3000])
    index = build_index(path, use_cache=False)
    assert index.damage is not None
    assert "gzip" in index.damage.reason
    assert 0 < len(index) < 4


@pytest.mark.parametrize(("name", "record", "offset", "words"), [
    ("bad_length_crc.tfrecord", 2, 8346, "length CRC"),
    ("truncated_header.tfrecord", 3, 14274, "record header"),
    ("truncated_payload.tfrecord", 3, 14274, "truncated record"),
])
def test_framing_damage_names_file_record_and_offset(manifest: dict, name: str, record: int, offset: int,
                                                      words: str) -> None:
    f = TFRecordFile(TF_WRITTEN / "corrupt" / name)
    # The intact records before the damage stay readable...
    assert len(f) == manifest["corrupt"][name]["intact_records_before_damage"] == record
    got = [i for i, _ in f.payloads(0, len(f) - 1)]
    assert got == list(range(record - 1))
    # ...and reading to the end raises, naming the file, the record and its byte offset.
    with pytest.raises(Y8MDataError) as err:
        list(f.payloads())
    assert (err.value.record, err.value.offset) == (record, offset)
    assert name in str(err.value) and f"record {record} at byte {offset}" in str(err.value)
    assert words in str(err.value)


def test_payload_crc_mismatch(manifest: dict) -> None:
    name = "bad_data_crc.tfrecord"
    f = TFRecordFile(TF_WRITTEN / "corrupt" / name)
    intact = manifest["corrupt"][name]["intact_records_before_damage"]
    for i in range(intact):
        f.payload(i)
    with pytest.raises(Y8MDataError, match=rf"{name}: record {intact} at byte \d+: payload CRC mismatch"):
        f.payload(intact)
    f.payload(intact + 1)  # framing is intact, so later records are still reachable


def test_empty_file_and_non_tfrecord_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    with pytest.raises(Y8MDataError, match="empty.tfrecord: empty file"):
        TFRecordFile(empty)
    text = tmp_path / "notes.tfrecord"
    text.write_text("this is a text file, certainly not a TFRecord\n" * 3)
    with pytest.raises(Y8MDataError, match=r"notes.tfrecord: record 0 at byte 0: not a TFRecord file"):
        list(TFRecordFile(text).payloads())
    with pytest.raises(Y8MDataError, match="missing.tfrecord: cannot open"):
        TFRecordFile(tmp_path / "missing.tfrecord")


def test_index_cache_is_used_and_invalidated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Y8M_CACHE_DIR", str(tmp_path / "cache"))
    path = _write(tmp_path / "a.tfrecord", [b"1", b"22", b"333"])
    assert len(build_index(path)) == 3
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    # A cached index is returned without scanning the file again.
    import y8m_models.data.tfrecord as tfr
    monkeypatch.setattr(tfr, "_scan", lambda *a: pytest.fail("rescanned a cached file"))
    assert len(build_index(path)) == 3
    monkeypatch.undo()
    monkeypatch.setenv("Y8M_CACHE_DIR", str(tmp_path / "cache"))
    # Rewriting the file (new size and mtime) invalidates the cache entry, which is replaced.
    _write(path, [b"1", b"22", b"333", b"4444"])
    assert len(build_index(path)) == 4
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


def test_default_cache_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import y8m_models.data.tfrecord as tfr

    monkeypatch.delenv("Y8M_CACHE_DIR")
    monkeypatch.delenv("Y8M_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tfr._cache_dir() == tmp_path / "xdg" / "y8m" / "tfrecord-index"  # never the working directory
    monkeypatch.setenv("Y8M_HOME", str(tmp_path / "home"))
    assert tfr._cache_dir() == tmp_path / "home" / "cache" / "tfrecord-index"


def test_indexed_files_hold_no_descriptor(tmp_path: Path) -> None:
    from y8m_models.data.dataset import YT8MDataset

    paths = [_write(tmp_path / f"train{k:02d}.tfrecord", [b"x"]) for k in range(40)]
    before = len(os.listdir("/proc/self/fd"))
    dataset = YT8MDataset(paths, "video", 3)
    assert len(dataset.files) == 40
    assert len(os.listdir("/proc/self/fd")) - before < 5


def test_unwritable_cache_still_indexes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    monkeypatch.setenv("Y8M_CACHE_DIR", str(blocker / "cache"))
    assert len(build_index(_write(tmp_path / "b.tfrecord", [b"x"]))) == 1


def test_file_pickles_without_its_buffer(tmp_path: Path) -> None:
    import pickle

    f = TFRecordFile(_write(tmp_path / "c.tfrecord", [b"abc", b"de"]))
    f.payload(0)
    clone = pickle.loads(pickle.dumps(f))
    assert bytes(clone.payload(1)) == b"de"


def test_a_gzip_bomb_stops_at_the_limits_in_bounded_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record of 8 MB of zeros gzips to ~8 KB: past the free allowance (shrunk here from 64 MiB to 1 MiB,
    checked every 256 KiB instead of 16 MiB) the ratio limit stops it, naming the file and the settings."""
    import tracemalloc

    import y8m_models.data.tfrecord as tfrecord

    monkeypatch.setattr(tfrecord, "GUNZIP_FREE", 1 << 20)
    monkeypatch.setattr(tfrecord, "GUNZIP_CHUNK", 256 << 10)
    monkeypatch.setenv("Y8M_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "bomb.tfrecord"
    length = 8 << 20
    header = struct.pack("<Q", length)
    with gzip.open(path, "wb") as out:
        out.write(header + struct.pack("<I", masked_crc32c(header)))
        for _ in range(8):
            out.write(bytes(1 << 20))
        out.write(struct.pack("<I", 0))
    assert path.stat().st_size < 64 << 10
    tracemalloc.start()
    try:
        with pytest.raises(Y8MDataError, match=r"bomb.tfrecord.*decompresses to more than 1,048,576 bytes .*"
                                               r"Y8M_MAX_DECOMPRESSED_BYTES=4294967296, Y8M_MAX_GZIP_RATIO=100"):
            build_index(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak
    monkeypatch.setenv("Y8M_MAX_DECOMPRESSED_BYTES", str(1 << 30))
    monkeypatch.setenv("Y8M_MAX_GZIP_RATIO", str(10_000))  # raised by setting: the same file is read
    assert build_index(path).lengths.tolist() == [length]
