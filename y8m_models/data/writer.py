"""Write YouTube-8M records (video-level Examples, frame-level SequenceExamples) that TensorFlow reads.

Records are serialized with the protobuf classes shipped by the ``tfrecord`` package (the same messages
as ``tf.train.Example``) and framed with masked CRC32C. A path ending in ``.gz`` is written as gzip.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from tfrecord import example_pb2 as pb

from y8m_models.data.records import FRAME_SPEC, VIDEO_SPEC, FeatureSpec, Level
from y8m_models.data.tfrecord import frame_record


def _bytes_feature(value: bytes) -> pb.Feature:
    return pb.Feature(bytes_list=pb.BytesList(value=[value]))


def _context(video_id: str, labels: Sequence[int], id_key: str) -> dict[str, pb.Feature]:
    return {
        id_key: _bytes_feature(video_id.encode("utf-8")),
        "labels": pb.Feature(int64_list=pb.Int64List(value=[int(x) for x in labels])),
    }


def encode_video(video_id: str, labels: Sequence[int], features: Sequence[np.ndarray],
                 spec: FeatureSpec = VIDEO_SPEC, id_key: str = "id") -> bytes:
    """Serialize a video-level ``tf.train.Example``; ``features[i]`` is float [spec.sizes[i]]."""
    feature = _context(video_id, labels, id_key)
    for name, size, values in zip(spec.names, spec.sizes, features, strict=True):
        values = np.asarray(values, np.float32).reshape(-1)
        if values.size != size:
            raise ValueError(f"video '{video_id}': feature '{name}' has {values.size} values, expected {size}")
        feature[name] = pb.Feature(float_list=pb.FloatList(value=values.tolist()))
    return pb.Example(features=pb.Features(feature=feature)).SerializeToString()


def encode_frame(video_id: str, labels: Sequence[int], features: Sequence[np.ndarray],
                 spec: FeatureSpec = FRAME_SPEC, id_key: str = "id") -> bytes:
    """Serialize a frame-level ``tf.train.SequenceExample``; ``features[i]`` is uint8 codes [T, size_i]."""
    lists = {}
    for name, size, codes in zip(spec.names, spec.sizes, features, strict=True):
        codes = np.ascontiguousarray(codes, np.uint8)
        if codes.ndim != 2 or codes.shape[1] != size:
            raise ValueError(f"video '{video_id}': feature '{name}' has shape {codes.shape}, expected [T, {size}]")
        lists[name] = pb.FeatureList(feature=[_bytes_feature(row.tobytes()) for row in codes])
    return pb.SequenceExample(
        context=pb.Features(feature=_context(video_id, labels, id_key)),
        feature_lists=pb.FeatureLists(feature_list=lists),
    ).SerializeToString()


ENCODERS = {"frame": encode_frame, "video": encode_video}


class RecordWriter:
    """Append YouTube-8M records to one TFRecord file (gzip when the name ends in ``.gz``)."""

    def __init__(self, path: str | Path, level: Level, id_key: str = "id", spec: FeatureSpec | None = None):
        if id_key not in ("id", "video_id"):
            raise ValueError(f"id_key must be 'id' (2018+) or 'video_id' (2017), not {id_key!r}")
        self.path = Path(path)
        self.level = level
        self.spec = spec or (FRAME_SPEC if level == "frame" else VIDEO_SPEC)
        self.id_key = id_key
        self._encode = ENCODERS[level]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The writer owns the file until close(); used as a context manager by callers.
        opener = gzip.open if self.path.suffix == ".gz" else open
        self._file: BinaryIO = opener(self.path, "wb")  # noqa: SIM115
        self.count = 0

    def write(self, video_id: str, labels: Sequence[int], features: Sequence[np.ndarray]) -> None:
        self._file.write(frame_record(self._encode(video_id, labels, features, self.spec, self.id_key)))
        self.count += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
