"""Record decoding against TensorFlow-written files, our writer, and hand-built protobuf encodings."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import numpy as np
import pytest
from tfrecord import example_pb2 as pb

from tests.conftest import TF_WRITTEN, TF_WRITTEN_2017
from y8m_models.data.records import (
    DEQUANT_BIAS,
    DEQUANT_SCALE,
    MalformedRecord,
    decode_frame,
    decode_video,
    dequantize,
    quantize,
)
from y8m_models.data.tfrecord import TFRecordFile
from y8m_models.data.writer import RecordWriter, encode_frame, encode_video


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


@pytest.mark.parametrize("sub", ["frame/train0000.tfrecord", "gzip/frame/train0000.tfrecord.gz"])
def test_frame_records_match_manifest(manifest: dict, sub: str) -> None:
    videos = manifest["files"]["train0000.tfrecord"]["videos"]
    records = [decode_frame(p, num_classes=3862) for _, p in TFRecordFile(TF_WRITTEN / sub).payloads()]
    assert [r.video_id for r in records] == [v["id"] for v in videos]
    for r, v in zip(records, videos, strict=True):
        assert r.labels.tolist() == v["labels"]
        rgb, audio = r.features
        assert len(rgb) == len(audio) == v["num_frames"]
        assert _sha(rgb) == v["rgb_sha256"] and _sha(audio) == v["audio_sha256"]
        assert _sha(rgb[:300]) == v["rgb_sha256_first300"]


@pytest.mark.parametrize("sub", ["video/train0000.tfrecord", "gzip/video/train0000.tfrecord.gz"])
def test_video_records_match_manifest(manifest: dict, sub: str) -> None:
    videos = manifest["files"]["train0000.tfrecord"]["videos"]
    records = [decode_video(p, num_classes=3862) for _, p in TFRecordFile(TF_WRITTEN / sub).payloads()]
    for r, v in zip(records, videos, strict=True):
        assert r.video_id == v["id"] and r.labels.tolist() == v["labels"]
        assert r.features[0].shape == (1024,) and r.features[1].shape == (128,)
        assert r.features[0].sum(dtype=np.float64) == pytest.approx(v["mean_rgb_sum"], abs=1e-9)
        assert r.features[1].sum(dtype=np.float64) == pytest.approx(v["mean_audio_sum"], abs=1e-6)


def test_2017_layout_uses_video_id(manifest_2017: dict) -> None:
    videos = manifest_2017["files"]["train0000.tfrecord"]["videos"]
    frames = [decode_frame(p, num_classes=4716)
              for _, p in TFRecordFile(TF_WRITTEN_2017 / "frame" / "train0000.tfrecord").payloads()]
    means = [decode_video(p, num_classes=4716)
             for _, p in TFRecordFile(TF_WRITTEN_2017 / "video" / "train0000.tfrecord").payloads()]
    assert [r.video_id for r in frames] == [r.video_id for r in means] == [v["id"] for v in videos]
    assert [r.labels.tolist() for r in frames] == [v["labels"] for v in videos]
    assert all(_sha(r.features[0]) == v["rgb_sha256"] for r, v in zip(frames, videos, strict=True))


def test_label_beyond_num_classes_is_an_error(manifest_2017: dict) -> None:
    # The 2017 fixture has labels up to 4639: fine for 4716 classes, an error for 3862.
    payloads = [bytes(p) for _, p in TFRecordFile(TF_WRITTEN_2017 / "frame" / "train0000.tfrecord").payloads()]
    with pytest.raises(MalformedRecord, match=r"label id 4232 out of range \(num_classes is 3862\)"):
        for p in payloads:
            decode_frame(p, num_classes=3862)


def test_dequantize_is_the_float32_formula() -> None:
    codes = np.arange(256, dtype=np.uint8)
    expected = codes.astype(np.float32) * np.float32(4 / 255) + np.float32(4 / 512 - 2)
    np.testing.assert_array_equal(dequantize(codes), expected)
    assert dequantize(codes).dtype == np.float32
    assert (np.float32(4 / 255), np.float32(-1.9921875)) == (DEQUANT_SCALE, DEQUANT_BIAS)
    # float64 then cast differs by an ulp on some codes: the reason we compute in float32.
    np.testing.assert_allclose(codes * (4 / 255) + (4 / 512 - 2), expected, atol=1e-6)
    np.testing.assert_array_equal(quantize(dequantize(codes)), codes)
    np.testing.assert_array_equal(quantize(np.array([-9.0, -2.0, 2.0, 9.0])), [0, 0, 255, 255])


@pytest.mark.parametrize("id_key", ["id", "video_id"])
def test_writer_round_trip_and_protobuf_agrees(tmp_path: Path, id_key: str) -> None:
    rng = np.random.default_rng(0)
    lengths = [0, 1, 7, 301]
    frames = [(rng.integers(0, 256, (t, 1024), np.uint8), rng.integers(0, 256, (t, 128), np.uint8))
              for t in lengths]
    path = tmp_path / "train00.tfrecord.gz"
    with RecordWriter(path, "frame", id_key=id_key) as w:
        for k, f in enumerate(frames):
            w.write(f"vid{k}", [k, 2 * k + 1], f)
    file = TFRecordFile(path)
    assert file.index.compressed and len(file) == 4
    for k, (_, payload) in enumerate(file.payloads()):
        r = decode_frame(payload)
        assert (r.video_id, r.labels.tolist()) == (f"vid{k}", [k, 2 * k + 1])
        np.testing.assert_array_equal(r.features[0], frames[k][0])
        np.testing.assert_array_equal(r.features[1], frames[k][1])
        # An independent parser (the protobuf runtime) reads the same thing.
        seq = pb.SequenceExample.FromString(bytes(payload))
        assert seq.context.feature[id_key].bytes_list.value[0] == f"vid{k}".encode()
        assert len(seq.feature_lists.feature_list["rgb"].feature) == lengths[k]


def test_video_writer_round_trip(tmp_path: Path) -> None:
    rgb, audio = np.linspace(-1, 1, 1024, dtype=np.float32), np.full(128, 0.25, np.float32)
    path = tmp_path / "train00.tfrecord"
    with RecordWriter(path, "video", id_key="video_id") as w:
        w.write("abc", [], (rgb, audio))
    (_, payload), = TFRecordFile(path).payloads()
    r = decode_video(payload)
    assert r.video_id == "abc" and r.labels.size == 0
    np.testing.assert_array_equal(r.features[0], rgb)
    assert pb.Example.FromString(bytes(payload)).features.feature["video_id"].bytes_list.value == [b"abc"]


def _feature_bytes(v: bytes) -> pb.Feature:
    return pb.Feature(bytes_list=pb.BytesList(value=[v]))


def test_unusual_but_valid_encodings_decode() -> None:
    # Fields in reverse order, an unknown field, unpacked int64 labels and unpacked floats: all legal
    # protobuf, none written by TensorFlow; the slow paths must read them as protobuf would.
    context = pb.Features(feature={"id": _feature_bytes(b"odd"),
                                   "labels": pb.Feature(int64_list=pb.Int64List(value=[3, 300]))})
    lists = pb.FeatureLists(feature_list={
        "rgb": pb.FeatureList(feature=[_feature_bytes(bytes([7]) * 1024)] * 2),
        "audio": pb.FeatureList(feature=[_feature_bytes(bytes([9]) * 128)] * 2)})
    ctx, fl = context.SerializeToString(), lists.SerializeToString()
    unknown = b"\x18\x05"  # field 3, varint 5
    payload = b"\x12" + _len(fl) + fl + unknown + b"\x0a" + _len(ctx) + ctx
    r = decode_frame(payload)
    assert (r.video_id, r.labels.tolist()) == ("odd", [3, 300])
    assert r.features[0].shape == (2, 1024) and (r.features[1] == 9).all()
    # Unpacked labels (wire type 0, one tag per value) and unpacked floats (wire type 5).
    labels_unpacked = b"\x1a" + _len(b"\x08\x03\x08\xac\x02") + b"\x08\x03\x08\xac\x02"
    floats = b"".join(b"\x0d" + np.float32(i).tobytes() for i in range(128))
    feats = {"id": _feature_bytes(b"u").SerializeToString(), "labels": labels_unpacked,
             "mean_rgb": pb.Feature(float_list=pb.FloatList(value=[0.5] * 1024)).SerializeToString(),
             "mean_audio": b"\x12" + _len(floats) + floats}
    entries = b"".join(b"\x0a" + _len(e) + e for e in (_entry(k, v) for k, v in feats.items()))
    r = decode_video(b"\x0a" + _len(entries) + entries)
    assert r.labels.tolist() == [3, 300]
    np.testing.assert_array_equal(r.features[1], np.arange(128, dtype=np.float32))


def _len(b: bytes) -> bytes:
    from y8m_models.data.records import _varint_bytes
    return _varint_bytes(len(b))


def _entry(key: str, value: bytes) -> bytes:
    return b"\x0a" + _len(key.encode()) + key.encode() + b"\x12" + _len(value) + value


@pytest.mark.parametrize(("change", "message"), [
    ({"rgb": [bytes(1000)]}, "feature list 'rgb' frame 0 has 1000 bytes, expected 1024"),
    ({"audio": None}, "missing feature list 'audio'"),
    ({"id": None}, "missing video id"),
    ({"labels": [-1]}, "label id -1 out of range"),
    ({"labels": [10]}, r"label id 10 out of range \(num_classes is 10\)"),
])
def test_malformed_frame_records(change: dict, message: str) -> None:
    ctx = {"id": _feature_bytes(b"v"), "labels": pb.Feature(int64_list=pb.Int64List(value=[1]))}
    lists = {"rgb": [bytes(1024)], "audio": [bytes(128)]}
    for key, value in change.items():
        target = ctx if key in ("id", "labels") else lists
        if value is None:
            del target[key]
        elif key == "labels":
            ctx["labels"] = pb.Feature(int64_list=pb.Int64List(value=value))
        else:
            target[key] = value
    seq = pb.SequenceExample(context=pb.Features(feature=ctx), feature_lists=pb.FeatureLists(feature_list={
        k: pb.FeatureList(feature=[_feature_bytes(f) for f in v]) for k, v in lists.items()}))
    with pytest.raises(MalformedRecord, match=message):
        decode_frame(seq.SerializeToString(), num_classes=10)


def test_wrong_float_count_and_wrong_kind() -> None:
    ok = encode_video("v", [1], (np.zeros(1024), np.zeros(128)))
    decode_video(ok)
    short = pb.Example.FromString(ok)
    del short.features.feature["mean_audio"].float_list.value[-1]
    with pytest.raises(MalformedRecord, match="feature 'mean_audio' has 127 floats, expected 128"):
        decode_video(short.SerializeToString())
    wrong = pb.Example.FromString(ok)
    wrong.features.feature["labels"].CopyFrom(pb.Feature(float_list=pb.FloatList(value=[1.0])))
    with pytest.raises(MalformedRecord, match="feature 'labels' is a float list, expected a int64 list"):
        decode_video(wrong.SerializeToString())


def test_garbage_payload_is_malformed_not_a_crash() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        blob = rng.integers(0, 256, int(rng.integers(1, 64)), np.uint8).tobytes()
        for decode in (decode_frame, decode_video):
            with contextlib.suppress(MalformedRecord):
                decode(blob)


def test_encode_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match=r"feature 'rgb' has shape \(3, 1000\)"):
        encode_frame("v", [], (np.zeros((3, 1000), np.uint8), np.zeros((3, 128), np.uint8)))


def test_repeated_message_fields_merge_as_in_protobuf() -> None:
    # Protobuf merges repeated occurrences of a singular message field: concatenated serializations of
    # parts of one message parse as the whole message.
    head = encode_video("split", [4], (np.zeros(1024), np.zeros(128)))
    part1 = pb.Example(features=pb.Features(feature={"id": _feature_bytes(b"split"),
                                                     "labels": pb.Feature(int64_list=pb.Int64List(value=[4]))}))
    rgb = np.arange(1024, dtype=np.float32)
    half1 = pb.FloatList(value=rgb[:500].tolist()).SerializeToString()
    half2 = pb.FloatList(value=rgb[500:].tolist()).SerializeToString()
    split_rgb = b"\x12" + _len(half1) + half1 + b"\x12" + _len(half2) + half2  # one Feature, two float_lists
    audio = pb.Feature(float_list=pb.FloatList(value=[0.5] * 128)).SerializeToString()
    entries = b"".join(b"\x0a" + _len(e) + e for e in (_entry("mean_rgb", split_rgb), _entry("mean_audio", audio)))
    part2 = b"\x0a" + _len(entries) + entries
    payload = part1.SerializeToString() + part2
    merged = pb.Example.FromString(payload)
    assert len(merged.features.feature["mean_rgb"].float_list.value) == 1024  # what protobuf does
    r = decode_video(payload)
    assert (r.video_id, r.labels.tolist()) == ("split", [4])
    np.testing.assert_array_equal(r.features[0], rgb)
    assert decode_video(head).video_id == "split"
    # A SequenceExample with its context split around the feature lists.
    seq = pb.SequenceExample.FromString(encode_frame("s", [1, 2], (np.ones((3, 1024), np.uint8),
                                                                   np.ones((3, 128), np.uint8))))
    ids = pb.SequenceExample(context=pb.Features(feature={"id": seq.context.feature["id"]}))
    labels = pb.SequenceExample(context=pb.Features(feature={"labels": seq.context.feature["labels"]}))
    lists = pb.SequenceExample(feature_lists=seq.feature_lists)
    r = decode_frame(ids.SerializeToString() + lists.SerializeToString() + labels.SerializeToString())
    assert (r.video_id, r.labels.tolist(), r.features[0].shape) == ("s", [1, 2], (3, 1024))


def test_field_cut_at_the_end_of_the_payload_is_malformed() -> None:
    payload = encode_video("v", [1], (np.zeros(1024), np.zeros(128)))
    cut = b"\x0d\x00\x00"  # a FloatList whose one fixed32 value has 2 of its 4 bytes
    entry = _entry("mean_audio", b"\x12" + _len(cut) + cut)
    entries = b"\x0a" + _len(entry) + entry
    bad = payload + b"\x0a" + _len(entries) + entries  # a later features part replaces mean_audio
    with pytest.raises(MalformedRecord, match="fixed-size field runs past its message"):
        decode_video(bad)


def _map_entry(key: str, value: bytes) -> bytes:
    entry = _entry(key, value)
    return b"\x0a" + _len(entry) + entry


def _shuffled_message(fields: list[bytes], rng: np.random.Generator) -> bytes:
    """Fields in a random order, with unknown fields sprinkled in (merged repeated messages have their own
    test above)."""
    out = []
    for f in (fields[k] for k in rng.permutation(len(fields))):
        out.append(f)
        if rng.random() < 0.3:
            out.append(b"\x98\x06" + bytes([int(rng.integers(0, 100))]))  # unknown field 99, varint
    return b"".join(out)


def test_random_encodings_decode_as_protobuf_does() -> None:
    # Property test: records with random lengths, labels and ids, serialised with the fields of every
    # message in random order and with unknown fields, decode to what the protobuf runtime parses.
    rng = np.random.default_rng(42)
    for _ in range(60):
        t = int(rng.integers(0, 5))
        vid = "".join(rng.choice(list("abcXYZ09-_"), size=int(rng.integers(1, 12))))
        labels = sorted(rng.choice(50, size=int(rng.integers(0, 4)), replace=False).tolist())
        rgb, audio = rng.integers(0, 256, (t, 1024), np.uint8), rng.integers(0, 256, (t, 128), np.uint8)
        seq = pb.SequenceExample.FromString(encode_frame(vid, labels, (rgb, audio), id_key="video_id"))
        context = _shuffled_message([_map_entry(k, f.SerializeToString()) for k, f in seq.context.feature.items()],
                                    rng)
        feature_lists = _shuffled_message([_map_entry(k, f.SerializeToString())
                                           for k, f in seq.feature_lists.feature_list.items()], rng)
        payload = _shuffled_message([b"\x0a" + _len(context) + context, b"\x12" + _len(feature_lists) + feature_lists],
                                    rng)
        parsed = pb.SequenceExample.FromString(payload)
        r = decode_frame(payload, num_classes=50)
        assert r.video_id == parsed.context.feature["video_id"].bytes_list.value[0].decode() == vid
        assert r.labels.tolist() == list(parsed.context.feature["labels"].int64_list.value) == labels
        np.testing.assert_array_equal(r.features[0], rgb)
        np.testing.assert_array_equal(r.features[1], audio)


@pytest.mark.parametrize("video_id", ["a\nb", "a\u2028b", "\x1b[31mred", "a,b", "", "x" * 513])
def test_a_video_id_the_store_csv_or_a_terminal_would_break_on_is_malformed(video_id: str) -> None:
    """Ids go one per line into the prediction store, into submission CSVs, terminals and pages."""
    record = encode_video(video_id, [1], (np.zeros(1024), np.zeros(128)))
    with pytest.raises(MalformedRecord, match=r"video id .* is not 1-512 printable characters without a comma"):
        decode_video(record)
    decode_video(encode_video("-09K4OPZSSo é", [1], (np.zeros(1024), np.zeros(128))))  # unusual but fine
