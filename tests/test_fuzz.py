"""Fuzzing the reader: random mutations of the TensorFlow-written fixtures (framing: flipped, cut, inserted,
repeated and zeroed bytes, plain and gzip; payloads: the same inside valid framing, so that the protobuf decoder
sees them) either read or raise our one error type, ``Y8MDataError``, naming the file, in bounded memory.
Seeded: the same inputs on every run. It prints how many inputs it tried and the peak memory."""

from __future__ import annotations

import gzip
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TF_WRITTEN
from y8m_models.data.dataset import read_record
from y8m_models.data.errors import Y8MDataError
from y8m_models.data.records import FRAME_SPEC, VIDEO_SPEC
from y8m_models.data.tfrecord import TFRecordFile, build_index, frame_record, open_buffer

SPECS = {"frame": FRAME_SPEC, "video": VIDEO_SPEC}
Mutation = Callable[[np.random.Generator, bytes], bytes]


def _flip(rng: np.random.Generator, data: bytes) -> bytes:
    out = bytearray(data)
    for i in rng.integers(0, len(out), int(rng.integers(1, 9))):
        out[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def _cut(rng: np.random.Generator, data: bytes) -> bytes:
    return data[: int(rng.integers(1, len(data)))]


def _insert(rng: np.random.Generator, data: bytes) -> bytes:
    at = int(rng.integers(0, len(data)))
    return data[:at] + rng.integers(0, 256, int(rng.integers(1, 64)), np.uint8).tobytes() + data[at:]


def _repeat(rng: np.random.Generator, data: bytes) -> bytes:
    a = int(rng.integers(0, len(data)))
    b = min(len(data), a + int(rng.integers(1, 256)))
    return data[:b] + data[a:b] + data[b:]


def _zero(rng: np.random.Generator, data: bytes) -> bytes:
    a = int(rng.integers(0, len(data)))
    b = min(len(data), a + int(rng.integers(1, 128)))
    return data[:a] + bytes(b - a) + data[b:]


def _varint_max(rng: np.random.Generator, data: bytes) -> bytes:
    """A byte run of 0xff: huge varints (lengths, counts) where the decoder reads one."""
    at = int(rng.integers(0, len(data)))
    return data[:at] + b"\xff" * int(rng.integers(1, 11)) + data[at:]


MUTATIONS: tuple[Mutation, ...] = (_flip, _cut, _insert, _repeat, _zero, _varint_max)


def _read_everything(path: Path, level: str) -> None:
    """What ``y8m data check`` and the loader do with a file: index it, read and decode every record."""
    index = build_index(path, use_cache=False)
    file = TFRecordFile(path, index)
    for i in range(len(file)):
        read_record(file, i, level, SPECS[level], None)
    if index.damage is not None:
        raise index.damage.error(path)


def _payloads(path: Path) -> list[bytes]:
    file = TFRecordFile(path)
    return [bytes(file.payload(i)) for i in range(len(file))]


@pytest.mark.parametrize(("level", "inputs"), [("frame", 300), ("video", 900)])  # ~15 s in all on 2 cores
def test_every_mutated_file_reads_or_names_its_damage(level: str, inputs: int, tmp_path: Path) -> None:
    plain = TF_WRITTEN / level / "train0000.tfrecord"
    originals = {"plain": plain.read_bytes(), "gzip": (TF_WRITTEN / "gzip" / level / "train0000.tfrecord.gz")
                 .read_bytes()}
    payloads = _payloads(plain)
    rng = np.random.default_rng(20261206 + (level == "video"))
    target = tmp_path / "fuzzed.tfrecord"
    tried = refused = 0
    tracemalloc.start()
    try:
        for n in range(inputs):
            mutate = MUTATIONS[n % len(MUTATIONS)]
            kind = ("plain", "gzip", "payload")[n % 3]
            if kind == "payload":  # valid framing around a mutated payload: the decoder's turn
                data = b"".join(frame_record(mutate(rng, p) if rng.random() < 0.5 else p) for p in payloads)
            elif kind == "gzip" and rng.random() < 0.5:  # a mutated stream inside a valid gzip container
                data = gzip.compress(mutate(rng, originals["plain"]))
            else:
                data = mutate(rng, originals[kind])
            target.write_bytes(data)
            tried += 1
            try:
                _read_everything(target, level)
            except Y8MDataError as exc:
                refused += 1
                assert str(target) in str(exc)
            except Exception as exc:  # anything else is a bug in the reader: show the input that found it
                kept = tmp_path / f"failing-{n}.tfrecord"
                kept.write_bytes(data)
                raise AssertionError(f"input {n} ({mutate.__name__}, {kind}; kept in {kept}) raised "
                                     f"{type(exc).__name__}: {exc}") from exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"fuzz {level}: {tried} inputs, {refused} refused with Y8MDataError, peak traced memory "
          f"{peak / 2**20:.1f} MiB")
    assert refused > tried // 3  # the mutations do damage; most of it is found
    assert peak < 64 << 20


def test_open_buffer_of_the_fixtures_is_what_gzip_holds() -> None:
    """The fuzz test's two originals are the same records, plain and gzip."""
    for level in ("frame", "video"):
        plain = (TF_WRITTEN / level / "train0000.tfrecord").read_bytes()
        buffer, compressed, problem = open_buffer(TF_WRITTEN / "gzip" / level / "train0000.tfrecord.gz")
        assert compressed and problem is None and bytes(buffer) == plain
