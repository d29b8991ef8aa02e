"""Reading YouTube-8M files into the batch dict every model consumes.

Flow: ``YT8MDataset`` (iterable over files, sharded by record ranges, yielding CPU batches whose frame
features are still uint8 codes: 4x less to move between processes and to the GPU) -> ``to_device``
(dequantize and zero the padding on the target device). Models consume the output of ``to_device``:

==============  ===========================  ===============================================
key             shape, dtype                 meaning
==============  ===========================  ===============================================
video_ids       list[str] [B]
labels          float32 [B, C]               multi-hot ground truth
features        float32 [B, T, D] / [B, D]   frame level: dequantized, zero after num_frames
num_frames      int64 [B]                    frame level only: valid frames (<= max_frames)
==============  ===========================  ===============================================

Use it as ``DataLoader(dataset, batch_size=None, num_workers=...)``: the dataset batches itself, because
copying each record into its batch row right after its CRC check, while the record is still in the CPU
cache, saves a second read of every record from memory (see BENCHMARKS.md). Each CPU batch also carries
``skipped``, the damaged records passed over while filling it (``skip_corrupt``), so a consumer can count
them across worker processes; each shard also logs what it skipped when it ends. Only when a shard's last
records are all damaged does it end with a batch of 0 videos, which carries just their count: consumers
skip batches without videos. (Holding the last full batch back to take that count instead kept one more
batch buffer alive and cost 15% of the reading speed.) Each batch also says where it came from: ``shard``,
``num_shards`` and ``position`` (records of that shard's order consumed so far, damaged ones included);
``YT8MDataset.resume`` continues an epoch from those positions.

Sharding: every DataLoader worker is one shard; the records of all files, in file order (shuffled per epoch
when ``shuffle``), are cut into contiguous ranges, one per shard, so each record is read exactly once per epoch
and a shard mostly reads whole files. Shuffling then permutes record positions through a seeded buffer before
anything is read. Distributed ranks (``rank``, ``world_size``: DDP) split each batch instead: every rank walks
the same order and reads only its part of each run of ``batch_size`` positions (``global_size`` in each
batch: the videos of the whole step), so N ranks train on exactly the batches one process would, each rank
on 1/N of every one, and a checkpoint's positions hold for any number of ranks.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from y8m_models.data.errors import Y8MDataError
from y8m_models.data.layout import layout_of_files
from y8m_models.data.records import (
    DECODERS,
    DEQUANT_BIAS,
    DEQUANT_SCALE,
    SPECS,
    FeatureSpec,
    Level,
    MalformedRecord,
    Record,
    feature_columns,
    record_level,
)
from y8m_models.data.tfrecord import TFRecordFile
from y8m_models.limits import Limits

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


def read_record(file: TFRecordFile, i: int, level: Level, spec: FeatureSpec, num_classes: int | None,
                payload: memoryview | None = None) -> Record:
    """Verify and decode record ``i`` of ``file`` (``payload``: its already verified bytes, if read);
    any damage raises :class:`Y8MDataError`."""
    payload = file.payload(i) if payload is None else payload
    try:
        record = DECODERS[level](payload, spec, num_classes)
    except MalformedRecord as exc:
        raise Y8MDataError(file.path, str(exc), i, file.offset(i)) from None
    frames = len(record.features[0]) if level == "frame" else 0
    if frames > file.limits.record_frames:
        raise Y8MDataError(file.path, f"video '{record.video_id}': {frames:,} frames is over the limit "
                           f"{file.limits.record_frames:,} ({Limits.variable('record_frames')} raises it)", i,
                           file.offset(i))
    return record


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
    """Frame- or video-level YouTube-8M records from a list of TFRecord files (plain or gzip), in batches.

    All files are indexed at construction; damage that breaks a file's framing raises here, before any
    training, unless ``skip_corrupt``. The last batch of a shard may be smaller than ``batch_size``.
    """

    def __init__(self, files: Sequence[str | Path], level: Level, num_classes: int, *, batch_size: int = 64,
                 spec: FeatureSpec | None = None, max_frames: int = MAX_FRAMES, shuffle: bool = False,
                 seed: int = 0, shuffle_buffer: int = 1024, frame_sample_fraction: float | None = None,
                 skip_corrupt: bool = False, rank: int = 0, world_size: int = 1):
        if level not in SPECS:
            raise ValueError(f"level must be 'frame' or 'video', not {level!r}")
        if not files:
            raise ValueError("no input files")
        if batch_size < 1 or num_classes < 1 or max_frames < 1:
            raise ValueError(f"batch_size ({batch_size}), num_classes ({num_classes}) and max_frames "
                             f"({max_frames}) must be positive")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        if frame_sample_fraction is not None and not 0 < frame_sample_fraction <= 1:
            raise ValueError(f"frame_sample_fraction must be in (0, 1], not {frame_sample_fraction}")
        self.level, self.num_classes, self.batch_size = level, num_classes, batch_size
        self.spec = spec or layout_of_files(files).spec(level)  # the features.json beside the files (data.layout)
        self.max_frames, self.shuffle, self.seed, self.shuffle_buffer = max_frames, shuffle, seed, shuffle_buffer
        self.frame_sample_fraction = frame_sample_fraction
        self.skip_corrupt, self.rank, self.world_size = skip_corrupt, rank, world_size
        self.epoch = 0
        # (epoch, num_shards, shard -> position, the worker whose shard DataLoader worker 0 reads on resuming)
        self._resume: tuple[int, int, dict[int, int], int] | None = None
        self.files = [TFRecordFile(p) for p in files]
        errors = [f.index.damage.error(f.path) for f in self.files if f.index.damage]
        if errors and not skip_corrupt:
            raise errors[0]
        self.framing_damage = [Skipped.from_error(e) for e in errors]
        self.skipped: list[Skipped] = []  # this process's current pass; batches carry their own counts

    @property
    def num_records(self) -> int:
        """Intact records over all files (damaged payloads found while reading are not subtracted)."""
        return sum(len(f) for f in self.files)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next pass reads (it seeds the file order and the shuffle buffer). A whole pass moves on
        to the next epoch by itself, so one DataLoader with ``persistent_workers`` reads epoch after epoch (a
        pass left unfinished does not: the next pass reads its epoch again); set it before a loader's workers
        start (they copy the dataset then)."""
        self.epoch = epoch

    def resume(self, epoch: int, num_shards: int, positions: dict[int, int], next_worker: int = 0) -> None:
        """Continue epoch ``epoch`` where an earlier run stopped: shard s starts after the
        ``positions[s]`` records of its order it had consumed (each batch reports its ``shard``,
        ``num_shards`` and ``position``). Nothing before that is read; the order, shuffle and frame
        sampling of the rest are those of an uninterrupted epoch.

        ``next_worker``: the DataLoader worker (of this rank) whose batch came next. A DataLoader takes
        batches from its workers in turn, starting with worker 0 and skipping those that have finished; so
        the shards are handed out rotated, worker 0 reading that worker's shard, and the batches interleave
        exactly as they would have."""
        self.set_epoch(epoch)
        self._resume = (epoch, num_shards, dict(positions), next_worker)

    # -------------------------------------------------------------------------------------- sharding

    def _shard(self) -> tuple[int, int]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        if self._resume is not None and self._resume[0] == self.epoch:
            worker = (worker + self._resume[3]) % workers
        return worker, workers

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

    def _start(self, shard: int, num_shards: int) -> int:
        if self._resume is None or self._resume[0] != self.epoch:
            return 0
        if self._resume[1] != num_shards:
            raise ValueError(f"cannot resume: positions were recorded with {self._resume[1]} shards "
                             f"(DataLoader workers), this run has {num_shards}")
        return self._resume[2].get(shard, 0)

    def __iter__(self) -> Iterator[dict]:
        self.skipped = []
        shard, num_shards = self._shard()
        ranges = self.shard_ranges(shard, num_shards)
        positions: Iterator[tuple[int, int]] = ((f, i) for f, a, b in ranges for i in range(a, b))
        if self.shuffle:  # its own random stream: resuming replays it without reading anything
            positions = _shuffled(positions, self.shuffle_buffer, np.random.default_rng([self.seed, self.epoch, shard]))
        unread = {f: b - a for f, a, b in ranges}
        untouched = {f: (a, b) for f, a, b in ranges}
        total = sum(unread.values())
        consumed = self._start(shard, num_shards)
        for file_pos, _ in itertools.islice(positions, consumed):  # resume: skip without reading
            unread[file_pos] -= 1
        batch = _Batch(self)
        for file_pos, i in positions:
            file = self.files[file_pos]
            if self._mine(consumed, total):
                if file_pos in untouched:  # map this shard's part of the file in one call, not a fault per 4 KB
                    file.prefetch(*untouched.pop(file_pos))
                try:
                    batch.add(read_record(file, i, self.level, self.spec, self.num_classes), (file_pos, i))
                except Y8MDataError as exc:
                    if not self.skip_corrupt:
                        raise
                    self.skipped.append(Skipped.from_error(exc))
                    batch.skipped += 1
            consumed += 1
            unread[file_pos] -= 1
            if not unread[file_pos]:
                file.close()
            # One process fills its batches (a damaged record skipped is replaced by the next one); ranks end
            # each batch after the same batch_size positions, so that they step together.
            if batch.full if self.world_size == 1 else consumed % self.batch_size == 0 or consumed == total:
                yield batch.finish(shard, num_shards, consumed, self._step_size(batch, consumed - 1, total))
                batch = _Batch(self)
        if batch.size or batch.skipped:  # a batch of 0 videos only to carry the count of trailing damage
            yield batch.finish(shard, num_shards, consumed, batch.size + batch.skipped)
        self._report(shard)
        self.epoch += 1  # the next pass: also in a DataLoader's persistent workers, which iterate their own copies

    def _step_size(self, batch: _Batch, position: int, total: int) -> int:
        """The records of the whole step (all ranks' parts, damaged ones included) whose last is ``position``."""
        if self.world_size == 1:
            return batch.size + batch.skipped
        return self._global_size(position, total)

    def _global_size(self, position: int, total: int) -> int:
        """The positions of the step (over all ranks) that ``position`` of a shard's order of ``total`` is in."""
        return min(self.batch_size, total - position // self.batch_size * self.batch_size)

    def _mine(self, position: int, total: int) -> bool:
        """Whether this rank reads ``position``: rank r takes the r-th of ``world_size`` near-equal parts of
        each step's positions (a shard's last step may be shorter than ``batch_size``)."""
        if self.world_size == 1:
            return True
        size, offset = self._global_size(position, total), position % self.batch_size
        return size * self.rank // self.world_size <= offset < size * (self.rank + 1) // self.world_size

    def _report(self, shard: int) -> None:
        damage = self.skipped + (self.framing_damage if shard == 0 else [])
        if damage:
            log.warning("skipped %d damaged record(s) or file tail(s):\n  %s", len(damage),
                        "\n  ".join(map(str, damage)))


def label_prior(files: Sequence[str | Path], level: Level, num_classes: int, max_records: int = 20_000) -> np.ndarray:
    """float64 [C]: each class's share of videos among the first ``max_records`` records of ``files`` (file
    order; YouTube-8M shards are random samples of the split), add-one smoothed, ``(count + 1) / (n + 2)``, so
    that no class is 0 or 1. What a classifier's output biases start from (``models.base.start_at_label_prior``).
    Frame level reads 2 frames per record: the cost is the records' CRC checks, ~0.1 ms each."""
    data = YT8MDataset(files, level, num_classes, batch_size=1024, max_frames=2)
    counts, seen = np.zeros(num_classes, np.int64), 0
    for batch in itertools.islice(iter(data), -(-max_records // 1024)):
        counts += batch["labels"].numpy().sum(axis=0, dtype=np.int64)
        seen += len(batch["video_ids"])
    return (counts + 1.0) / (seen + 2.0)


def _shuffled(items: Iterator, size: int, rng: np.random.Generator) -> Iterator:
    """Seeded shuffle buffer: keep ``size`` items, emit a random one as each new one arrives."""
    buffer: list = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        j = int(rng.integers(size))
        yield buffer[j]
        buffer[j] = item
    rng.shuffle(buffer)
    yield from buffer


class _Batch:
    """One batch being filled: each record is copied into its row right after it was verified.

    Frame level: uint8 codes ``frames_q`` [B, T, D] (padding code 0; to_device zeroes the padding after
    dequantizing), ``num_frames`` [B] and ``feature_frames`` [B, F], each feature's own length (the
    official reader pads each feature separately). Video level: float32 ``features`` [B, D].
    """

    def __init__(self, dataset: YT8MDataset):
        self.dataset = dataset
        capacity, spec = dataset.batch_size, dataset.spec
        self.video_ids: list[str] = []
        self.skipped = 0  # damaged records passed over while filling this batch (skip_corrupt)
        self.labels = np.zeros((capacity, dataset.num_classes), np.uint8)
        if dataset.level == "frame":
            self.codes_t = _batch_uint8((capacity, dataset.max_frames, spec.dim))
            self.codes = self.codes_t.numpy()
            self.lengths = np.zeros((capacity, len(spec.sizes)), np.int64)
        else:
            self.features = np.zeros((capacity, spec.dim), np.float32)

    @property
    def size(self) -> int:
        return len(self.video_ids)

    @property
    def full(self) -> bool:
        return self.size == self.dataset.batch_size

    def add(self, record: Record, where: tuple[int, int]) -> None:
        """Copy one verified record (``where`` = its file position and record index) into the next row."""
        b, ds = self.size, self.dataset
        self.labels[b, record.labels] = 1
        self.video_ids.append(record.video_id)
        if ds.level == "video":
            self.features[b] = np.concatenate(record.features)
            return
        keep = None
        if ds.frame_sample_fraction is not None:  # seeded per record: the same frames whatever was read before
            rng = np.random.default_rng([ds.seed, ds.epoch, *where])
            keep = sample_frames(len(record.features[0]), ds.frame_sample_fraction, rng, ds.max_frames)
        for k, (frames, cols) in enumerate(zip(record.features, ds.spec.columns, strict=True)):
            frames = frames[: ds.max_frames]  # the official reader keeps the FIRST max_frames frames
            if keep is not None:
                frames = frames[keep[keep < len(frames)]]
            n = len(frames)
            self.codes[b, :n, cols] = frames
            self.codes[b, n:, cols] = 0  # only the padding is zeroed: no full-batch memset
            self.lengths[b, k] = n

    def finish(self, shard: int, num_shards: int, position: int, global_size: int) -> dict:
        n = self.size
        batch: dict = {"video_ids": self.video_ids, "labels": torch.from_numpy(self.labels[:n]),
                       "skipped": self.skipped, "shard": shard, "num_shards": num_shards, "position": position,
                       "global_size": global_size}
        if self.dataset.level == "video":
            batch["features"] = torch.from_numpy(self.features[:n])
            return batch
        batch["frames_q"] = self.codes_t[:n]
        batch["num_frames"] = torch.from_numpy(self.lengths[:n, 0].copy())
        batch["feature_frames"] = torch.from_numpy(self.lengths[:n])
        batch["feature_sizes"] = self.dataset.spec.sizes  # each feature's columns, for to_device's padding
        return batch


def _cpu_empty(shape: tuple[int, ...], dtype: type) -> torch.Tensor:
    """An uninitialised CPU tensor allocated by numpy, which asks the kernel for huge pages on large
    arrays: batch-sized buffers then cost far fewer page faults than with torch.empty (BENCHMARKS.md)."""
    return torch.from_numpy(np.empty(shape, dtype))


def _batch_uint8(shape: tuple[int, ...]) -> torch.Tensor:
    """An uninitialised uint8 batch tensor (every byte gets written). Inside a DataLoader worker it lives
    in shared memory, so the batch reaches the main process without the copy DataLoader would make."""
    if get_worker_info() is None:
        return _cpu_empty(shape, np.uint8)
    # The same private call torch's default_collate uses to build batches in shared memory.
    storage = torch.empty(0, dtype=torch.uint8)._typed_storage()._new_shared(int(np.prod(shape)))
    return torch.empty(0, dtype=torch.uint8).set_(storage).view(shape)


def _zero_padding(x_BTD: torch.Tensor, lengths_BF: torch.Tensor, columns: Sequence[slice], per_row: bool) -> None:
    """Set each feature's frames from its own length on to +0.0 (as np.zeros), in place. On the CPU one
    contiguous fill per video and feature is ~5x faster than a broadcast mask, which suits accelerators."""
    if per_row:
        for b, row in enumerate(lengths_BF.tolist()):
            for n, cols in zip(row, columns, strict=True):
                x_BTD[b, n:, cols] = 0.0
        return
    t = torch.arange(x_BTD.shape[1], device=x_BTD.device)
    for k, cols in enumerate(columns):
        padding_BT1 = (t[None, :] >= lengths_BF[:, k, None])[:, :, None]
        x_BTD[:, :, cols].masked_fill_(padding_BT1, 0.0)


def to_device(batch: dict, device: torch.device | str = "cpu") -> dict:
    """The model input: move a YT8MDataset batch, dequantize frame codes exactly as the official reader
    (float32 ``q * (4/255) + (4/512 - 2)``) and zero every feature's padding after its own length."""
    out = {"video_ids": batch["video_ids"],
           "labels": batch["labels"].to(device, non_blocking=True).float()}
    if "frames_q" not in batch:
        out["features"] = batch["features"].to(device, non_blocking=True)
        return out
    codes = batch["frames_q"].to(device, non_blocking=True)
    sizes = tuple(batch["feature_sizes"])
    if sum(sizes) != codes.shape[2]:
        raise ValueError(f"feature sizes {sizes} do not add up to the batch's {codes.shape[2]} columns")
    x = _cpu_empty(tuple(codes.shape), np.float32).copy_(codes) if codes.device.type == "cpu" else codes.float()
    x.mul_(float(DEQUANT_SCALE)).add_(float(DEQUANT_BIAS))
    _zero_padding(x, batch["feature_frames"].to(device, non_blocking=True), feature_columns(sizes),
                  per_row=x.device.type == "cpu")
    out["features"] = x
    out["num_frames"] = batch["num_frames"].to(device, non_blocking=True)
    # What packed sequences are built from (models.base.frame_lengths); an array, not a tensor, so that DDP,
    # which moves every tensor of a forward's input to the GPU, leaves it on the host.
    out["num_frames_host"] = batch["num_frames"].numpy()
    return out


def host_to_device(x: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A host array or tensor on ``device`` as stored. To a GPU through pinned memory, so the copy is queued and
    the host does not wait for the steps before it (a copy from pageable memory would); a read-only array
    (a memory-mapped slice) is copied first, as tensors do not share read-only memory."""
    t = torch.from_numpy(np.require(x, requirements="CW")) if isinstance(x, np.ndarray) else x
    return t.pin_memory().to(device, non_blocking=True) if torch.device(device).type == "cuda" else t.to(device)


def device_batches(batches: Iterable[dict], device: torch.device | str) -> Iterator[tuple[dict, dict]]:
    """(batch, ``to_device(batch)``) for each loader batch. On a GPU the next batch's copy and dequantization run
    on a side stream while the step queued before it computes: each batch is converted as soon as the one
    before it is handed out, and the training stream waits only for its own batch's conversion (an event).
    Elsewhere, the conversion as it comes."""
    device = torch.device(device)
    if device.type != "cuda":
        for batch in batches:
            yield batch, to_device(batch, device)
        return
    side, waiting = torch.cuda.Stream(device), None
    for batch in batches:
        with torch.cuda.stream(side):
            inputs = to_device(batch, device)
            ready = torch.cuda.Event()
            ready.record(side)
        if waiting is not None:
            yield _handed_out(*waiting, device)
        waiting = batch, inputs, ready
    if waiting is not None:
        yield _handed_out(*waiting, device)


def _handed_out(batch: dict, inputs: dict, ready: torch.cuda.Event, device: torch.device) -> tuple[dict, dict]:
    """The training stream waits for ``inputs``; their memory, made on the side stream, is not reused before
    the training stream is done with it."""
    training = torch.cuda.current_stream(device)
    training.wait_event(ready)
    for value in inputs.values():
        if isinstance(value, torch.Tensor):
            value.record_stream(training)
    return batch, inputs
