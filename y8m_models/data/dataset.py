"""Reading YouTube-8M files into the batch dict every model consumes.

Flow: ``YT8MDataset`` (iterable over files, sharded by record ranges) -> ``collate`` (CPU batch, frame
features still uint8 codes: 4x less to move between processes and to the GPU) -> ``to_device`` (dequantize
and zero the padding on the target device). Models consume the output of ``to_device``:

==============  ===========================  ===============================================
key             shape, dtype                 meaning
==============  ===========================  ===============================================
video_ids       list[str] [B]
labels          float32 [B, C]               multi-hot ground truth
features        float32 [B, T, D] / [B, D]   frame level: dequantized, zero after num_frames
num_frames      int64 [B]                    frame level only: valid frames (<= max_frames)
==============  ===========================  ===============================================

Sharding: every (rank, DataLoader worker) pair is one shard; the records of all files, in file order
(shuffled per epoch when ``shuffle``), are cut into contiguous ranges, one per shard, so each record is
read exactly once per epoch and a shard mostly reads whole files sequentially.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from y8m_models.data.errors import Y8MDataError
from y8m_models.data.records import (
    DECODERS,
    DEQUANT_BIAS,
    DEQUANT_SCALE,
    SPECS,
    FeatureSpec,
    Level,
    MalformedRecord,
    Record,
    record_level,
)
from y8m_models.data.tfrecord import TFRecordFile

log = logging.getLogger(__name__)
MAX_FRAMES = 300


@dataclass(frozen=True)
class Skipped:
    """A damaged record (or the unreachable rest of a file) passed over with ``skip_corrupt``."""

    path: str
    record: int | None
    offset: int | None
    reason: str

    @classmethod
    def from_error(cls, exc: Y8MDataError) -> Skipped:
        return cls(exc.path, exc.record, exc.offset, exc.reason)

    def __str__(self) -> str:
        return str(Y8MDataError(self.path, self.reason, self.record, self.offset))


def read_record(file: TFRecordFile, i: int, level: Level, spec: FeatureSpec, num_classes: int | None) -> Record:
    """Verify and decode record ``i`` of ``file``; any damage raises :class:`Y8MDataError`."""
    payload = file.payload(i)
    try:
        return DECODERS[level](payload, spec, num_classes)
    except MalformedRecord as exc:
        raise Y8MDataError(file.path, str(exc), i, file.offset(i)) from None


def detect_level(path: str | Path) -> Level:
    """Frame level if the first record is a SequenceExample (it has feature lists), else video level."""
    file = TFRecordFile(path)
    if len(file) == 0:
        raise (file.index.damage.error(path) if file.index.damage else Y8MDataError(path, "no records"))
    try:
        return record_level(file.payload(0))
    except MalformedRecord as exc:
        raise Y8MDataError(path, str(exc), 0, 0) from None


def sample_frames(num_frames: int, fraction: float, rng: np.random.Generator,
                  max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Frame indices kept by random frame subsampling (config #11), as the authors' code draws them:
    a random ``fraction`` of the ``max_frames`` slots, sorted, restricted to the valid frames."""
    keep = np.sort(rng.permutation(max_frames)[: int(max_frames * fraction)])
    return keep[keep < num_frames]


class YT8MDataset(IterableDataset):
    """Frame- or video-level YouTube-8M records from a list of TFRecord files (plain or gzip).

    Yields one dict per video (see :func:`collate`). All files are indexed at construction; damage that
    breaks a file's framing raises here, before any training, unless ``skip_corrupt``.
    """

    def __init__(self, files: Sequence[str | Path], level: Level, num_classes: int, *,
                 spec: FeatureSpec | None = None, max_frames: int = MAX_FRAMES, shuffle: bool = False,
                 seed: int = 0, shuffle_buffer: int = 1024, frame_sample_fraction: float | None = None,
                 skip_corrupt: bool = False, rank: int = 0, world_size: int = 1):
        if level not in SPECS:
            raise ValueError(f"level must be 'frame' or 'video', not {level!r}")
        if not files:
            raise ValueError("no input files")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        if frame_sample_fraction is not None and not 0 < frame_sample_fraction <= 1:
            raise ValueError(f"frame_sample_fraction must be in (0, 1], not {frame_sample_fraction}")
        self.level, self.num_classes = level, num_classes
        self.spec = spec or SPECS[level]
        self.max_frames, self.shuffle, self.seed, self.shuffle_buffer = max_frames, shuffle, seed, shuffle_buffer
        self.frame_sample_fraction = frame_sample_fraction
        self.skip_corrupt, self.rank, self.world_size = skip_corrupt, rank, world_size
        self.epoch = 0
        self.files = [TFRecordFile(p) for p in files]
        errors = [f.index.damage.error(f.path) for f in self.files if f.index.damage]
        if errors and not skip_corrupt:
            raise errors[0]
        self.framing_damage = [Skipped.from_error(e) for e in errors]
        self.skipped: list[Skipped] = []  # filled while iterating in this process

    @property
    def num_records(self) -> int:
        """Intact records over all files (damaged payloads found while reading are not subtracted)."""
        return sum(len(f) for f in self.files)

    def set_epoch(self, epoch: int) -> None:
        """Reseed file order and shuffle buffer; call before iterating each epoch."""
        self.epoch = epoch

    # -------------------------------------------------------------------------------------- sharding

    def _shard(self) -> tuple[int, int]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        return self.rank * workers + worker, self.world_size * workers

    def _file_order(self) -> np.ndarray:
        order = np.arange(len(self.files))
        if self.shuffle:  # the same permutation in every shard: it only depends on (seed, epoch)
            np.random.default_rng([self.seed, self.epoch]).shuffle(order)
        return order

    def shard_ranges(self, shard: int, num_shards: int) -> list[tuple[int, int, int]]:
        """(file position in ``files``, first record, stop record) read by one shard."""
        order = self._file_order()
        counts = np.array([len(self.files[i]) for i in order], np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)])
        total = int(starts[-1])
        lo, hi = total * shard // num_shards, total * (shard + 1) // num_shards
        ranges = []
        for k, file_pos in enumerate(order):
            a, b = max(lo, starts[k]), min(hi, starts[k + 1])
            if a < b:
                ranges.append((int(file_pos), int(a - starts[k]), int(b - starts[k])))
        return ranges

    # -------------------------------------------------------------------------------------- iteration

    def _records(self, shard: int, num_shards: int) -> Iterator[Record]:
        for file_pos, start, stop in self.shard_ranges(shard, num_shards):
            file = self.files[file_pos]
            file.prefetch(start, stop)
            for i in range(start, stop):
                try:
                    yield read_record(file, i, self.level, self.spec, self.num_classes)
                except Y8MDataError as exc:
                    if not self.skip_corrupt:
                        raise
                    self.skipped.append(Skipped.from_error(exc))
            file.close()

    def __iter__(self) -> Iterator[dict]:
        shard, num_shards = self._shard()
        rng = np.random.default_rng([self.seed, self.epoch, shard, 1])
        items = (self._item(r, rng) for r in self._records(shard, num_shards))
        yield from (_shuffled(items, self.shuffle_buffer, rng) if self.shuffle else items)
        self._report(shard)

    def _report(self, shard: int) -> None:
        damage = self.skipped + (self.framing_damage if shard == 0 else [])
        if damage:
            log.warning("skipped %d damaged record(s) or file tail(s):\n  %s", len(damage),
                        "\n  ".join(map(str, damage)))

    def _item(self, record: Record, rng: np.random.Generator) -> dict:
        """One video for :func:`collate`: frame features stay (zero-copy) views, truncated to the FIRST
        ``max_frames`` frames as the official reader does; collate pads them into the batch array."""
        labels = np.zeros(self.num_classes, np.uint8)
        labels[record.labels] = 1
        if self.level == "video":
            return {"video_id": record.video_id, "labels": labels, "features": np.concatenate(record.features)}
        frames = tuple(f[: self.max_frames] for f in record.features)
        if self.frame_sample_fraction is not None:
            keep = sample_frames(len(frames[0]), self.frame_sample_fraction, rng, self.max_frames)
            frames = tuple(f[keep[keep < len(f)]] for f in frames)
        return {"video_id": record.video_id, "labels": labels, "frames": frames, "max_frames": self.max_frames}


def _shuffled(items: Iterator[dict], size: int, rng: np.random.Generator) -> Iterator[dict]:
    """Seeded shuffle buffer: keep ``size`` items, emit a random one as each new one arrives."""
    buffer: list[dict] = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        j = int(rng.integers(size))
        yield buffer[j]
        buffer[j] = item
    rng.shuffle(buffer)
    yield from buffer


def _batch_uint8(shape: tuple[int, ...]) -> torch.Tensor:
    """An uninitialised uint8 batch tensor (collate writes every byte). Inside a DataLoader worker it lives
    in shared memory, so the batch reaches the main process without the copy DataLoader would make."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=torch.uint8)
    # The same private call torch's default_collate uses to build batches in shared memory.
    storage = torch.empty(0, dtype=torch.uint8)._typed_storage()._new_shared(int(np.prod(shape)))
    return torch.empty(0, dtype=torch.uint8).set_(storage).view(shape)


def collate(items: Sequence[dict]) -> dict:
    """Stack dataset items into a CPU batch. Frame features become uint8 codes ``frames_q`` [B, T, D]
    padded with code 0 (zeroed after dequantizing, see :func:`to_device`) plus ``num_frames`` [B] and
    ``feature_frames`` [B, F], each feature's own length (the official reader pads each separately)."""
    batch: dict = {"video_ids": [it["video_id"] for it in items],
                   "labels": torch.from_numpy(np.stack([it["labels"] for it in items]))}
    if "frames" not in items[0]:
        batch["features"] = torch.from_numpy(np.stack([it["features"] for it in items]))
        return batch
    sizes = [f.shape[1] for f in items[0]["frames"]]
    codes_t = _batch_uint8((len(items), items[0]["max_frames"], sum(sizes)))
    codes = codes_t.numpy()
    lengths = np.zeros((len(items), len(sizes)), np.int64)
    for b, item in enumerate(items):
        col = 0
        for k, frames in enumerate(item["frames"]):
            n, width = frames.shape
            codes[b, :n, col: col + width] = frames
            codes[b, n:, col: col + width] = 0  # only the padding is zeroed: no full-batch memset
            lengths[b, k] = n
            col += width
    batch["frames_q"] = codes_t
    batch["num_frames"] = torch.from_numpy(lengths[:, 0].copy())
    batch["feature_frames"] = torch.from_numpy(lengths)
    return batch


def _zero_padding(x_BTD: torch.Tensor, lengths_BF: torch.Tensor, sizes: Sequence[int], per_row: bool) -> None:
    """Set each feature's frames from its own length on to +0.0 (as np.zeros), in place. On the CPU one
    contiguous fill per video and feature is ~5x faster than a broadcast mask, which suits accelerators."""
    starts = np.cumsum([0, *sizes])
    if per_row:
        for b, row in enumerate(lengths_BF.tolist()):
            for k, n in enumerate(row):
                x_BTD[b, n:, starts[k]: starts[k + 1]] = 0.0
        return
    t = torch.arange(x_BTD.shape[1], device=x_BTD.device)
    for k in range(len(sizes)):
        padding_BT1 = (t[None, :] >= lengths_BF[:, k, None])[:, :, None]
        x_BTD[:, :, starts[k]: starts[k + 1]].masked_fill_(padding_BT1, 0.0)


def to_device(batch: dict, device: torch.device | str = "cpu", spec: FeatureSpec | None = None) -> dict:
    """The model input: move a collated batch, dequantize frame codes exactly as the official reader
    (float32 ``q * (4/255) + (4/512 - 2)``) and zero every feature's padding after its own length."""
    out = {"video_ids": batch["video_ids"],
           "labels": batch["labels"].to(device, non_blocking=True).float()}
    if "frames_q" not in batch:
        out["features"] = batch["features"].to(device, non_blocking=True)
        return out
    codes = batch["frames_q"].to(device, non_blocking=True)
    sizes = (spec or SPECS["frame"]).sizes
    if sum(sizes) != codes.shape[2]:
        raise ValueError(f"feature sizes {sizes} do not add up to the batch's {codes.shape[2]} columns")
    x = codes.to(torch.float32).mul_(float(DEQUANT_SCALE)).add_(float(DEQUANT_BIAS))
    _zero_padding(x, batch["feature_frames"].to(device, non_blocking=True), sizes, per_row=x.device.type == "cpu")
    out["features"] = x
    out["num_frames"] = batch["num_frames"].to(device, non_blocking=True)
    return out
