"""YouTube-8M records straight from protobuf wire bytes to numpy, without a protobuf object per frame.

Video-level records are ``tf.train.Example``; frame-level records are ``tf.train.SequenceExample`` whose
feature lists ``rgb`` / ``audio`` hold one fixed-size bytes value per frame. The wire layout used here::

    Example          { Features features = 1; }
    SequenceExample  { Features context = 1; FeatureLists feature_lists = 2; }
    Features         { map<string, Feature> feature = 1; }        (entry: key = 1, value = 2)
    FeatureLists     { map<string, FeatureList> feature_list = 1; }
    FeatureList      { repeated Feature feature = 1; }
    Feature          { oneof { BytesList = 1; FloatList = 2; Int64List = 3; } }
    BytesList / FloatList / Int64List { repeated value = 1; }   (floats and int64s usually packed)

A frame list written by any protobuf serializer repeats the same 9-byte prefix before every frame's bytes,
so the frames are a strided numpy view of the record: the prefix of every frame is checked at once, and
only if that check fails is the list walked frame by frame (to accept unusual encodings, or to name the
frame that has the wrong size). Field order, unknown fields and repeated occurrences of a message (which
protobuf merges) are handled as protobuf does; the deprecated group wire types are refused.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

Level = Literal["frame", "video"]
ID_KEYS = (b"id", b"video_id")  # 2018+ files use `id`, 2017 files `video_id`
LABELS_KEY = b"labels"

# Dequantization as the official reader (float32 throughout): x = q * (4/255) + (4/512 - 2).
DEQUANT_SCALE = np.float32(4.0 / 255.0)
DEQUANT_BIAS = np.float32(4.0 / 512.0 - 2.0)


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a record carries, and their sizes, in model-input order."""

    level: Level
    names: tuple[str, ...]
    sizes: tuple[int, ...]

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    @cached_property
    def columns(self) -> tuple[slice, ...]:
        """Each feature's columns in the concatenated model input."""
        return feature_columns(self.sizes)


def feature_columns(sizes: tuple[int, ...]) -> tuple[slice, ...]:
    """Each of features of ``sizes`` columns in their concatenation."""
    ends = itertools.accumulate(sizes)
    return tuple(slice(end - size, end) for size, end in zip(sizes, ends, strict=True))


FRAME_SPEC = FeatureSpec("frame", ("rgb", "audio"), (1024, 128))
VIDEO_SPEC = FeatureSpec("video", ("mean_rgb", "mean_audio"), (1024, 128))
SPECS: dict[str, FeatureSpec] = {"frame": FRAME_SPEC, "video": VIDEO_SPEC}


@dataclass(frozen=True)
class Record:
    """One decoded video. ``features[i]`` is uint8 codes [T_i, size_i] (frame) or float32 [size_i] (video);
    frame features are zero-copy views into the file buffer."""

    video_id: str
    labels: np.ndarray  # int64 [n_labels]
    features: tuple[np.ndarray, ...]


class MalformedRecord(ValueError):
    """A payload whose CRC is fine but whose content is not a valid record; the reader adds file and index."""


def dequantize(codes: np.ndarray) -> np.ndarray:
    """uint8 codes -> float32, bit-identical to the official reader."""
    return codes.astype(np.float32) * DEQUANT_SCALE + DEQUANT_BIAS


def quantize(x: np.ndarray) -> np.ndarray:
    """float -> uint8 codes as the official feature extractor: clip to [-2, 2], scale, round to nearest."""
    return np.rint((np.clip(x, -2.0, 2.0) + 2.0) * (255.0 / 4.0)).astype(np.uint8)


# ----------------------------------------------------------------------------------------------- wire level

def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    value, shift = b & 0x7F, 7
    while True:
        pos += 1
        b = buf[pos]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos + 1
        shift += 7
        if shift > 63:
            raise MalformedRecord("varint longer than 10 bytes")


Span = tuple[int, int]  # [start, end) byte range of a value inside the record
# A message is a list of spans: protobuf merges repeated occurrences of a singular message field.


def _fields(buf: memoryview, start: int, end: int):
    """Yield (field number, wire type, a, b): a value span [a, b) for length-delimited and fixed-size
    fields, (value, None) for varints."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise MalformedRecord("a length-delimited field runs past its message")
            yield key >> 3, wire, pos, pos + n
            pos += n
        elif wire == 0:
            value, pos = _varint(buf, pos)
            yield key >> 3, wire, value, None
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > end:
                raise MalformedRecord("a fixed-size field runs past its message")
            yield key >> 3, wire, pos, pos + width
            pos += width
        else:  # 3 and 4 are the deprecated groups, which no YouTube-8M writer produces
            raise MalformedRecord(f"unsupported protobuf wire type {wire}")
    if pos != end:
        raise MalformedRecord("a field runs past its message")


def _message_fields(buf: memoryview, spans: list[Span]):
    for start, end in spans:
        yield from _fields(buf, start, end)


def _submessages(buf: memoryview, spans: list[Span], number: int) -> list[Span]:
    """Every occurrence of message field ``number``: together they are one (merged) message."""
    return [(a, b) for f, w, a, b in _message_fields(buf, spans) if f == number and w == 2]


def _map(buf: memoryview, spans: list[Span]) -> dict[bytes, list[Span]]:
    """A ``map<string, message>`` field's entries: key -> value message (a later entry wins)."""
    entries: dict[bytes, list[Span]] = {}
    for start, end in spans:
        fast = _map_fast(buf, start, end)
        entries.update(fast if fast is not None else _map_general(buf, start, end))
    return entries


def _map_fast(buf: memoryview, start: int, end: int) -> dict[bytes, list[Span]] | None:
    """Entries laid out as every serializer writes them (key field 1, then value field 2), else None."""
    entries: dict[bytes, list[Span]] = {}
    pos = start
    while pos < end:
        if buf[pos] != 0x0A:
            return None
        n, pos = _varint(buf, pos + 1)
        stop = pos + n
        if stop > end or pos == stop or buf[pos] != 0x0A:
            return None
        key_len, key_start = _varint(buf, pos + 1)
        key_stop = key_start + key_len
        if key_stop == stop:  # an entry without a value: the empty message
            entries[bytes(buf[key_start:key_stop])] = []
        elif key_stop < stop and buf[key_stop] == 0x12:
            value_len, value_start = _varint(buf, key_stop + 1)
            if value_start + value_len != stop:
                return None
            entries[bytes(buf[key_start:key_stop])] = [(value_start, stop)]
        else:
            return None
        pos = stop
    return entries


def _map_general(buf: memoryview, start: int, end: int) -> dict[bytes, list[Span]]:
    entries: dict[bytes, list[Span]] = {}
    for field, wire, a, b in _fields(buf, start, end):
        if field != 1 or wire != 2:
            continue
        key, value = b"", []
        for f, w, x, y in _fields(buf, a, b):
            if f == 1 and w == 2:
                key = bytes(buf[x:y])
            elif f == 2 and w == 2:
                value.append((x, y))
        entries[key] = value
    return entries


_KIND_NAMES = {1: "bytes", 2: "float", 3: "int64"}


def _only_field(buf: memoryview, spans: list[Span], tag: int) -> Span | None:
    """Fast path: the value span when a message is exactly one length-delimited field with this tag byte
    (what serializers write for a Feature or a one-value BytesList); else None."""
    if len(spans) == 1:
        start, end = spans[0]
        if start < end and buf[start] == tag:
            n, pos = _varint(buf, start + 1)
            if pos + n == end:
                return pos, end
    return None


def _list_of(buf: memoryview, feature: list[Span], kind: int, name: str) -> list[Span]:
    """The BytesList/FloatList/Int64List inside a Feature, checking the Feature's kind. The kinds are a
    oneof: a later different kind replaces the earlier, a repeated kind merges."""
    found = _only_field(buf, feature, (kind << 3) | 2)
    if found is not None:
        return [found]
    current, lists = None, []
    for field, wire, a, b in _message_fields(buf, feature):
        if wire == 2 and field in _KIND_NAMES:
            if field != current:
                current, lists = field, []
            lists.append((a, b))
    if current is not None and current != kind:
        raise MalformedRecord(f"feature '{name}' is a {_KIND_NAMES[current]} list, "
                              f"expected a {_KIND_NAMES[kind]} list")
    return lists  # an empty Feature is an empty list


def _bytes_values(buf: memoryview, feature: list[Span], name: str) -> list[Span]:
    lists = _list_of(buf, feature, 1, name)
    single = _only_field(buf, lists, 0x0A)
    if single is not None:
        return [single]
    return [(a, b) for f, w, a, b in _message_fields(buf, lists) if f == 1 and w == 2]


def _int64_values(buf: memoryview, feature: list[Span], name: str) -> list[int]:
    values: list[int] = []
    for field, wire, a, b in _message_fields(buf, _list_of(buf, feature, 3, name)):
        if field != 1:
            continue
        if wire == 2:  # packed
            pos = a
            while pos < b:
                v, pos = _varint(buf, pos)
                values.append(v)
            if pos != b:
                raise MalformedRecord(f"feature '{name}': a packed varint runs past its list")
        elif wire == 0:
            values.append(a)
    # int64 is two's complement in a 64-bit varint
    return [v - (1 << 64) if v >= 1 << 63 else v for v in values]


def _float_values(buf: memoryview, feature: list[Span], name: str) -> np.ndarray:
    chunks: list[np.ndarray] = []
    for field, wire, a, b in _message_fields(buf, _list_of(buf, feature, 2, name)):
        if field != 1:
            continue
        if wire == 2:
            if (b - a) % 4:
                raise MalformedRecord(f"feature '{name}': packed floats of {b - a} bytes")
            chunks.append(np.frombuffer(buf[a:b], "<f4"))
        elif wire == 5:
            chunks.append(np.frombuffer(buf[a:b], "<f4"))
    if not chunks:
        return np.zeros(0, np.float32)
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _frame_prefix(size: int) -> bytes:
    """The bytes a serializer writes before each ``size``-byte frame in a FeatureList."""
    bytes_list = 1 + len(_varint_bytes(size)) + size
    feature = 1 + len(_varint_bytes(bytes_list)) + bytes_list
    return b"\x0a" + _varint_bytes(feature) + b"\x0a" + _varint_bytes(bytes_list) + b"\x0a" + _varint_bytes(size)


_PREFIXES: dict[int, bytes] = {}


def _frames(buf: memoryview, u8: np.ndarray, feature_list: list[Span], name: str, size: int) -> np.ndarray:
    """uint8 [T, size] view of a frame feature list."""
    prefix = _PREFIXES.get(size)
    if prefix is None:
        prefix = _PREFIXES[size] = _frame_prefix(size)
    stride = len(prefix) + size
    if len(feature_list) == 1 and (feature_list[0][1] - feature_list[0][0]) % stride == 0:
        rows = u8[feature_list[0][0]:feature_list[0][1]].reshape(-1, stride)
        # every frame's prefix at once (comparing bytes is ~2x faster than a numpy == and all())
        if rows[:, : len(prefix)].tobytes() == prefix * len(rows):
            return rows[:, len(prefix):]
    # Slow path: walk every Feature (unusual encoding, or a frame of the wrong size to report).
    frames = []
    for field, wire, a, b in _message_fields(buf, feature_list):
        if field != 1 or wire != 2:
            continue
        t = len(frames)
        values = _bytes_values(buf, [(a, b)], name)
        if len(values) != 1:
            raise MalformedRecord(f"feature list '{name}' frame {t} has {len(values)} bytes values, expected 1")
        x, y = values[0]
        if y - x != size:
            raise MalformedRecord(f"feature list '{name}' frame {t} has {y - x} bytes, expected {size}")
        frames.append(u8[x:y])
    return np.stack(frames) if frames else np.zeros((0, size), np.uint8)


# -------------------------------------------------------------------------------------------- record level

MAX_ID_CHARS = 512


def _check_id(video_id: str, key: str) -> None:
    """A video id goes into the prediction store (one per line), submission CSVs, terminals and pages: it must be
    1 to ``MAX_ID_CHARS`` printable characters without a comma (no newline, U+2028, escape or other control)."""
    if not 0 < len(video_id) <= MAX_ID_CHARS or not video_id.isprintable() or "," in video_id:
        raise MalformedRecord(f"feature '{key}': video id {ascii(video_id[:80])} is not 1-{MAX_ID_CHARS} printable "
                              "characters without a comma")


def _context(buf: memoryview, entries: dict[bytes, list[Span]], num_classes: int | None) -> tuple[str, np.ndarray]:
    for key in ID_KEYS:
        if key in entries:
            values = _bytes_values(buf, entries[key], key.decode())
            if len(values) != 1:
                raise MalformedRecord(f"feature '{key.decode()}' has {len(values)} values, expected 1")
            a, b = values[0]
            try:
                video_id = bytes(buf[a:b]).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedRecord(f"feature '{key.decode()}' is not UTF-8") from exc
            _check_id(video_id, key.decode())
            break
    else:
        raise MalformedRecord("missing video id: neither 'id' nor 'video_id' is present")
    labels = _int64_values(buf, entries[LABELS_KEY], "labels") if LABELS_KEY in entries else []
    for label in labels:  # a handful per video: plain Python beats numpy here
        if label < 0 or (num_classes is not None and label >= num_classes):
            limit = f" (num_classes is {num_classes})" if num_classes is not None else ""
            raise MalformedRecord(f"video '{video_id}': label id {label} out of range{limit}")
    return video_id, np.array(labels, np.int64)


def _decode_video(buf: memoryview, spec: FeatureSpec, num_classes: int | None) -> Record:
    entries = _map(buf, _submessages(buf, [(0, len(buf))], 1))
    video_id, labels = _context(buf, entries, num_classes)
    features = []
    for name, size in zip(spec.names, spec.sizes, strict=True):
        if name.encode() not in entries:
            raise MalformedRecord(f"video '{video_id}': missing feature '{name}'")
        values = _float_values(buf, entries[name.encode()], name)
        if values.size != size:
            raise MalformedRecord(f"video '{video_id}': feature '{name}' has {values.size} floats, expected {size}")
        features.append(values)
    return Record(video_id, labels, tuple(features))


def _sequence_example_parts(buf: memoryview) -> tuple[list[Span], list[Span]]:
    """The ``context`` (field 1) and ``feature_lists`` (field 2) messages."""
    end = len(buf)
    if end and buf[0] == 0x0A:  # fast path: one context, then one feature_lists, nothing else
        n, pos = _varint(buf, 1)
        context, pos = (pos, pos + n), pos + n
        if pos < end and buf[pos] == 0x12:
            n, start = _varint(buf, pos + 1)
            if start + n == end:
                return [context], [(start, end)]
    whole = [(0, end)]
    return _submessages(buf, whole, 1), _submessages(buf, whole, 2)


def _decode_frame(buf: memoryview, spec: FeatureSpec, num_classes: int | None) -> Record:
    u8 = np.frombuffer(buf, np.uint8)
    context, lists = _sequence_example_parts(buf)
    video_id, labels = _context(buf, _map(buf, context), num_classes)
    feature_lists = _map(buf, lists)
    features = []
    for name, size in zip(spec.names, spec.sizes, strict=True):
        if name.encode() not in feature_lists:
            raise MalformedRecord(f"video '{video_id}': missing feature list '{name}'")
        features.append(_frames(buf, u8, feature_lists[name.encode()], name, size))
    return Record(video_id, labels, tuple(features))


def _decoding(decode):
    """Any failure inside a payload whose CRC was fine is a MalformedRecord (the reader adds the file)."""
    def run(payload: memoryview | bytes, spec: FeatureSpec, num_classes: int | None) -> Record:
        try:
            return decode(memoryview(payload), spec, num_classes)
        except MalformedRecord:
            raise
        except IndexError as exc:
            raise MalformedRecord("record ends inside a field") from exc
        except ValueError as exc:
            raise MalformedRecord(f"malformed record ({exc})") from exc
    return run


def decode_video(payload: memoryview | bytes, spec: FeatureSpec = VIDEO_SPEC,
                 num_classes: int | None = None) -> Record:
    """Decode a video-level ``tf.train.Example`` (features float32, not quantized)."""
    return _decoding(_decode_video)(payload, spec, num_classes)


def decode_frame(payload: memoryview | bytes, spec: FeatureSpec = FRAME_SPEC,
                 num_classes: int | None = None) -> Record:
    """Decode a frame-level ``tf.train.SequenceExample`` (features as uint8 codes, all frames)."""
    return _decoding(_decode_frame)(payload, spec, num_classes)


def record_level(payload: memoryview | bytes) -> Level:
    """``frame`` for a SequenceExample (it has feature lists, field 2), else ``video``."""
    buf = memoryview(payload)
    try:
        return "frame" if any(f == 2 and w == 2 for f, w, _, _ in _fields(buf, 0, len(buf))) else "video"
    except IndexError as exc:
        raise MalformedRecord("record ends inside a field") from exc


DECODERS = {"frame": decode_frame, "video": decode_video}
