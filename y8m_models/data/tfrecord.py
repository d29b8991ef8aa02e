"""TFRecord framing: plain and gzip files, masked CRC32C always verified, a cached record index.

Each record on disk is::

    uint64 length (little endian) | uint32 masked_crc32c(length bytes) | payload | uint32 masked_crc32c(payload)

A gzip file is one gzip stream (possibly several members) over the same framing. It is recognised by its
magic bytes, never by its name. Plain files are memory-mapped; gzip files are decompressed into memory
once per opening (YouTube-8M files are at most a few hundred MB uncompressed).

The index of a file (offset and payload length of every record) is built in one pass over the record
headers, verifying every length CRC, and cached on disk keyed by (path, size, mtime). Damage found while
indexing ends the framing (a length that cannot be trusted leaves no way to find the next record): the
index keeps the intact records before it and records the damage. Payload CRCs are checked whenever a
payload is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import crc32c
import numpy as np

from y8m_models import atomic
from y8m_models.data.errors import Y8MDataError
from y8m_models.limits import Limits

HEADER_BYTES = 12  # uint64 length + uint32 masked CRC of the length
FOOTER_BYTES = 4  # uint32 masked CRC of the payload
GZIP_MAGIC = b"\x1f\x8b"
GUNZIP_CHUNK = 16 << 20  # bytes of output decompressed between two checks of the limits
GUNZIP_FREE = 64 << 20  # output bytes any gzip file may have, whatever its ratio
_CRC_MASK_DELTA = 0xA282EAD8
_INDEX_FORMAT = 1  # bump when the cached index layout changes
_PREFETCH_BYTES = 256 << 20
_MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)  # Linux >= 5.14; the constant arrived in Python 3.12


def masked_crc32c(data: bytes | memoryview) -> int:
    """TFRecord's masked CRC32C: rotate right by 15 bits, add a constant, mod 2**32."""
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def frame_record(payload: bytes) -> bytes:
    """Wrap one serialized proto in TFRecord framing (header, payload, footer)."""
    length = struct.pack("<Q", len(payload))
    return b"".join(
        (length, struct.pack("<I", masked_crc32c(length)), payload, struct.pack("<I", masked_crc32c(payload)))
    )


@dataclass(frozen=True)
class Damage:
    """Where and why the framing of a file broke off; records from ``record`` on are unreachable."""

    record: int
    offset: int
    reason: str

    def error(self, path: str | Path) -> Y8MDataError:
        return Y8MDataError(path, self.reason, self.record, self.offset)


@dataclass(frozen=True)
class RecordIndex:
    """Offsets (of each header) and payload lengths of the intact records of one file."""

    offsets: np.ndarray  # int64 [N]
    lengths: np.ndarray  # int64 [N]
    damage: Damage | None
    compressed: bool

    def __len__(self) -> int:
        return len(self.offsets)


def _gunzip(raw: bytes, path: Path) -> tuple[bytearray, str | None]:
    """Decompress every gzip member into one growing buffer; on a broken stream keep what decompressed
    and say why. Y8MDataError past ``limits.Limits``' decompressed bytes, or past its ratio to the compressed
    size once beyond ``GUNZIP_FREE`` bytes (a small file of constant records may compress better than any
    ratio), checked every ``GUNZIP_CHUNK`` bytes of output: a small file cannot take all the memory."""
    bounds = Limits.from_env()
    cap = min(bounds.decompressed_bytes, max(GUNZIP_FREE, bounds.gzip_ratio * len(raw)))
    out = bytearray()
    data = memoryview(raw)
    while len(data):
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            while len(data) and not d.eof:
                out += d.decompress(data, GUNZIP_CHUNK)
                data = memoryview(d.unconsumed_tail)
                if len(out) > cap:
                    raise Y8MDataError(path, f"gzip stream decompresses to more than {cap:,} bytes ({len(raw):,} "
                                             f"compressed; limits: {Limits.variable('decompressed_bytes')}="
                                             f"{bounds.decompressed_bytes}, {Limits.variable('gzip_ratio')}="
                                             f"{bounds.gzip_ratio})")
        except zlib.error as exc:
            return out, f"gzip stream is corrupt ({exc})"
        if not d.eof:
            out += d.flush()
            return out, "gzip stream ends early (file truncated)"
        data = memoryview(d.unused_data)
    return out, None


def open_buffer(path: str | Path) -> tuple[bytearray | mmap.mmap, bool, str | None]:
    """The uncompressed bytes of a TFRecord file: an mmap for plain files, bytes for gzip.

    Returns (buffer, compressed, gzip_problem). A file that does not exist or is empty raises
    :class:`Y8MDataError`.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise Y8MDataError(path, f"cannot open: {exc.strerror or exc}") from exc
    if size == 0:
        raise Y8MDataError(path, "empty file: a TFRecord file holds at least one record")
    with open(path, "rb") as f:
        if f.read(2) == GZIP_MAGIC:
            f.seek(0)
            data, problem = _gunzip(f.read(), path)
            return data, True, problem
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), False, None


def _scan(buf: bytearray | mmap.mmap, gzip_problem: str | None) -> tuple[list[int], list[int], Damage | None]:
    """One pass over the record headers, verifying each length CRC."""
    offsets: list[int] = []
    lengths: list[int] = []
    size = len(buf)
    pos = 0
    unpack_len, unpack_crc = struct.Struct("<Q").unpack_from, struct.Struct("<I").unpack_from
    while pos < size:
        i = len(offsets)
        if size - pos < HEADER_BYTES:
            return offsets, lengths, Damage(i, pos, f"file ends {size - pos} bytes into a 12-byte record header"
                                            + (f"; {gzip_problem}" if gzip_problem else ""))
        (length,) = unpack_len(buf, pos)
        (crc,) = unpack_crc(buf, pos + 8)
        if masked_crc32c(buf[pos:pos + 8]) != crc:
            reason = "length CRC mismatch (record header is corrupt)"
            if i == 0:
                reason = "not a TFRecord file (the first record header fails its CRC check)"
            return offsets, lengths, Damage(i, pos, reason)
        end = pos + HEADER_BYTES + length + FOOTER_BYTES
        if end > size:
            reason = (f"truncated record: payload of {length} bytes needs {end - pos} bytes, "
                      f"file has {size - pos} left")
            if gzip_problem:
                reason += f"; {gzip_problem}"
            return offsets, lengths, Damage(i, pos, reason)
        offsets.append(pos)
        lengths.append(length)
        pos = end
    if gzip_problem:  # the stream broke exactly at a record boundary: still data loss
        return offsets, lengths, Damage(len(offsets), pos, gzip_problem)
    return offsets, lengths, None


def _cache_dir() -> Path:
    """``$Y8M_CACHE_DIR``, else ``$Y8M_HOME/cache/tfrecord-index``, else the user's cache directory."""
    if os.environ.get("Y8M_CACHE_DIR"):
        return Path(os.environ["Y8M_CACHE_DIR"])
    if os.environ.get("Y8M_HOME"):
        return Path(os.environ["Y8M_HOME"]) / "cache" / "tfrecord-index"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "y8m" / "tfrecord-index"


def _cache_file(path: Path) -> Path:
    """``<hash of the path>-<hash of size, mtime and format>.npz``: one live entry per file."""
    st = path.stat()
    who = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:20]
    what = hashlib.sha1(f"{_INDEX_FORMAT}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return _cache_dir() / f"{who}-{what}.npz"


def _load_cached(cache: Path) -> RecordIndex | None:
    try:
        with np.load(cache) as z:
            meta = json.loads(str(z["meta"]))
            damage = Damage(**meta["damage"]) if meta["damage"] else None
            return RecordIndex(z["offsets"], z["lengths"], damage, meta["compressed"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def _store_cached(cache: Path, index: RecordIndex) -> None:
    damage = None if index.damage is None else vars(index.damage)
    meta = json.dumps({"damage": damage, "compressed": index.compressed})
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic.save_npz(cache, offsets=index.offsets, lengths=index.lengths, meta=np.array(meta))
        for stale in cache.parent.glob(cache.name.split("-")[0] + "-*.npz"):  # earlier versions of the file
            if stale != cache:
                stale.unlink(missing_ok=True)
    except OSError:
        pass  # the cache only saves time; an unwritable cache directory costs a re-scan next time


def _index_from_buffer(buf: bytearray | mmap.mmap, compressed: bool, gzip_problem: str | None) -> RecordIndex:
    offsets, lengths, damage = _scan(buf, gzip_problem)
    return RecordIndex(np.asarray(offsets, np.int64), np.asarray(lengths, np.int64), damage, compressed)


def build_index(path: str | Path, use_cache: bool = True) -> RecordIndex:
    """Index the records of one file (cached on disk by path, size and mtime)."""
    return _open_indexed(Path(path), use_cache)[0]


def _open_indexed(path: Path, use_cache: bool) -> tuple[RecordIndex, bytearray | mmap.mmap | None]:
    """The index, and the opened buffer when indexing had to open the file anyway."""
    cache = _cache_file(path) if use_cache and path.exists() else None
    if cache is not None and cache.exists():
        cached = _load_cached(cache)
        if cached is not None:
            return cached, None
    buf, compressed, problem = open_buffer(path)
    index = _index_from_buffer(buf, compressed, problem)
    if cache is not None:
        _store_cached(cache, index)
    return index, buf


class TFRecordFile:
    """Random access to the verified payloads of one TFRecord file.

    The file is opened on first read and released by :meth:`close` (a dataset over thousands of files
    holds no descriptor or decompressed buffer for files it is not reading). With ``keep_open`` the
    buffer opened to build the index is kept for reading (saves a second decompression of a gzip file).
    Pickles as (path, index): DataLoader workers re-open the file themselves.
    """

    def __init__(self, path: str | Path, index: RecordIndex | None = None, keep_open: bool = False):
        self.path = Path(path)
        self._buf: bytearray | mmap.mmap | None = None
        self.limits = Limits.from_env()  # read once per file: the record size and frame count checked per record
        if index is None:
            index, buf = _open_indexed(self.path, use_cache=True)
            self._buf = buf if keep_open else None
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:
        return {"path": self.path, "index": self.index, "limits": self.limits, "_buf": None}

    def _buffer(self) -> bytearray | mmap.mmap:
        if self._buf is None:
            self._buf, _, _ = open_buffer(self.path)
        return self._buf

    def close(self) -> None:
        # Drop the reference rather than mmap.close(): decoded records may still hold zero-copy views;
        # the mapping is released when the last of them goes.
        self._buf = None

    def prefetch(self, start: int, stop: int) -> None:
        """Map records ``start..stop`` into memory in one call (MADV_POPULATE_READ) instead of one page
        fault per 4 KB while reading; a hint only, ignored where the kernel lacks it."""
        buf = self._buffer()
        if not isinstance(buf, mmap.mmap) or start >= stop:
            return
        begin = int(self.index.offsets[start]) // mmap.PAGESIZE * mmap.PAGESIZE
        end = int(self.index.offsets[stop - 1] + self.index.lengths[stop - 1]) + HEADER_BYTES + FOOTER_BYTES
        end = min(end, begin + _PREFETCH_BYTES)  # a bound on the time and page cache one call takes
        with contextlib.suppress(OSError):  # EINVAL on kernels before 5.14
            buf.madvise(_MADV_POPULATE_READ, begin, end - begin)

    def offset(self, i: int) -> int:
        return int(self.index.offsets[i])

    def payload(self, i: int) -> memoryview:
        """Record ``i``'s payload (zero-copy for plain files), its CRC verified."""
        start = int(self.index.offsets[i]) + HEADER_BYTES
        end = start + int(self.index.lengths[i])
        if end - start > self.limits.record_bytes:
            raise Y8MDataError(self.path, f"a record of {end - start:,} bytes is over the limit "
                               f"{self.limits.record_bytes:,} ({Limits.variable('record_bytes')} raises it)", i,
                               start - HEADER_BYTES)
        buf = self._buffer()
        view = memoryview(buf)[start:end]
        (expected,) = struct.unpack_from("<I", buf, end)
        if masked_crc32c(view) != expected:
            raise Y8MDataError(self.path, "payload CRC mismatch (record data is corrupt)", i, start - HEADER_BYTES)
        return view

    def payloads(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, memoryview]]:
        """(record index, verified payload) for records ``start..stop``; raises on the first damage."""
        stop = len(self) if stop is None else stop
        for i in range(start, stop):
            yield i, self.payload(i)
        if stop == len(self) and self.index.damage is not None:
            raise self.index.damage.error(self.path)
