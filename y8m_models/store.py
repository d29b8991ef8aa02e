"""The prediction store: one run's predictions on one split, with the video ids, memory-mapped.

Ensembles read their members' predictions from here and join them **by video id**, never by row order
(ARCHITECTURE.md); the dashboard reads them for the leaderboard and the attention gallery.

A stored split is a folder (``RUN_DIR/predictions/<split>/``):

- ``meta.json``: format ("dense" or "topk"), rows N, classes C, k, and the file names;
- ``ids.txt``: the N video ids, one per line, in row order;
- dense: ``scores.f16``, raw float16 [N, C] (C-order), memory-mapped on reading;
- top-k: ``indices.i32`` int32 [N, k] and ``scores.f16`` float16 [N, k], each row's k best classes by
  descending score; the other classes read as 0. For large vocabularies: 700,640 test videos x 4,716 classes
  are 6.6 GB dense and 0.14 GB as the top 20.

Writing streams batch by batch into a staging folder that is renamed into place when complete, so a crash
never leaves a half-written split where a reader would find it, and an existing split is replaced whole.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from y8m_models import atomic

FORMAT_VERSION = 1


class StoreError(ValueError):
    """A stored split that is missing, damaged, or does not join; the message names the folder or runs."""


class PredictionWriter:
    """``with PredictionWriter(folder, num_classes, top_k=None) as w: w.add(ids, scores)`` for each batch."""

    def __init__(self, folder: str | Path, num_classes: int, top_k: int | None = None):
        if num_classes < 1 or (top_k is not None and not 1 <= top_k <= num_classes):
            raise ValueError(f"need num_classes >= 1 and 1 <= top_k <= num_classes, got {num_classes}, {top_k}")
        self.folder, self.num_classes, self.top_k = Path(folder), num_classes, top_k
        # per process: two runs predicting the same reused member's split must not share a staging folder
        self.staging = self.folder.with_name(f".{self.folder.name}.{os.getpid()}.partial")
        self.rows = 0
        self._ids: list[str] = []
        self._seen: set[str] = set()

    def __enter__(self) -> PredictionWriter:
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        self._scores = open(self.staging / "scores.f16", "wb")  # noqa: SIM115 - closed in __exit__
        self._indices = open(self.staging / "indices.i32", "wb") if self.top_k else None  # noqa: SIM115
        return self

    def add(self, video_ids: Sequence[str], scores: np.ndarray) -> None:
        """Append a batch: ids [B] and scores [B, C] (any float dtype; a torch tensor is converted)."""
        scores = np.asarray(scores.detach().float().cpu() if hasattr(scores, "detach") else scores)
        if scores.shape != (len(video_ids), self.num_classes):
            raise ValueError(f"scores of shape {scores.shape} for {len(video_ids)} ids and {self.num_classes} "
                             "classes")
        for vid in video_ids:
            if vid in self._seen:
                raise ValueError(f"video id {vid!r} appears twice in {self.folder}")
            self._seen.add(vid)
        if self.top_k:
            top = np.argpartition(-scores, self.top_k - 1, axis=1)[:, : self.top_k]
            order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)
            self._indices.write(top.astype(np.int32).tobytes())
            scores = np.take_along_axis(scores, top, axis=1)
        self._scores.write(np.ascontiguousarray(scores, dtype=np.float16).tobytes())
        self._ids.extend(video_ids)
        self.rows += len(video_ids)

    def __exit__(self, exc_type, exc, tb) -> None:
        """Publish the split (its files flushed to the disk, then the staging folder renamed over the old one),
        or, on an error, remove the staging folder and leave the old split as it was; a full disk is
        ``atomic.DiskFull`` naming the split."""
        try:
            for handle in (self._scores, self._indices):
                if handle is not None:
                    if exc_type is None:
                        handle.flush()
                        os.fsync(handle.fileno())
                    handle.close()
            if exc_type is None:
                self._publish()
        except BaseException as error:
            shutil.rmtree(self.staging, ignore_errors=True)
            atomic.raise_if_full(error, self.folder)
            raise
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            atomic.raise_if_full(exc, self.folder)

    def _publish(self) -> None:
        atomic.write_text(self.staging / "ids.txt", "".join(f"{v}\n" for v in self._ids))
        meta = {"version": FORMAT_VERSION, "format": "topk" if self.top_k else "dense", "rows": self.rows,
                "num_classes": self.num_classes, "k": self.top_k}
        atomic.write_text(self.staging / "meta.json", json.dumps(meta, indent=1))
        old = self.folder.with_name(f".{self.folder.name}.{os.getpid()}.old")
        shutil.rmtree(old, ignore_errors=True)
        if self.folder.exists():
            os.replace(self.folder, old)
        try:
            os.replace(self.staging, self.folder)
        except OSError:  # another process published this split in between: keep its complete copy
            if not (self.folder / "meta.json").exists():
                raise
            shutil.rmtree(self.staging, ignore_errors=True)
        atomic.sync_folder(self.folder.parent)
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class StoredPredictions:
    """One stored split, memory-mapped. ``dense(rows)`` gives float32 [len(rows), C] whatever the format."""

    folder: Path
    ids: np.ndarray  # [N] str
    num_classes: int
    k: int | None  # None: dense
    scores: np.ndarray  # float16 [N, C] or [N, k] (memory-mapped)
    indices: np.ndarray | None  # int32 [N, k] (memory-mapped), top-k only

    @property
    def rows(self) -> int:
        return len(self.ids)

    def dense(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        rows = slice(None) if rows is None else rows
        if self.indices is None:
            return np.asarray(self.scores[rows], dtype=np.float32)
        scores, indices = np.asarray(self.scores[rows], np.float32), np.asarray(self.indices[rows])
        out = np.zeros((len(scores), self.num_classes), np.float32)
        np.put_along_axis(out, indices.astype(np.int64), scores, axis=1)
        return out

    @cached_property
    def index(self) -> dict[str, int]:
        """Video id -> row, built once per stored split."""
        return {vid: i for i, vid in enumerate(self.ids)}

    def missing(self, video_ids: Sequence[str]) -> list[str]:
        return [v for v in video_ids if v not in self.index]

    def row_of(self, video_ids: Sequence[str]) -> np.ndarray:
        """The row of each id; a StoreError names the first missing ones."""
        missing = self.missing(video_ids)
        if missing:
            raise StoreError(f"{self.folder}: {len(missing)} video id(s) not stored, e.g. {missing[:3]}")
        return np.fromiter((self.index[v] for v in video_ids), np.int64, len(video_ids))


def read_predictions(folder: str | Path) -> StoredPredictions:
    folder = Path(folder)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        ids = np.array((folder / "ids.txt").read_text(encoding="utf-8").splitlines())
        n, c, k = meta["rows"], meta["num_classes"], meta["k"]
        width = c if meta["format"] == "dense" else k
        scores = np.memmap(folder / "scores.f16", np.float16, "r", shape=(n, width)) if n else np.zeros((0, width),
                                                                                                        np.float16)
        indices = None
        if meta["format"] == "topk":
            indices = (np.memmap(folder / "indices.i32", np.int32, "r", shape=(n, k)) if n
                       else np.zeros((0, k), np.int32))
    except (OSError, KeyError, ValueError) as exc:
        raise StoreError(f"{folder}: not a readable prediction store ({exc})") from None
    if len(ids) != n:
        raise StoreError(f"{folder}: ids.txt has {len(ids)} ids for {n} rows")
    return StoredPredictions(folder, ids, c, k, scores, indices)


def common_classes(stored: Sequence[StoredPredictions], names: Sequence[str]) -> int:
    """The number of classes all the runs share; a StoreError lists each run's otherwise."""
    classes = {s.num_classes for s in stored}
    if len(classes) != 1:
        raise StoreError(f"the runs disagree on the number of classes: "
                         f"{', '.join(f'{n}: {s.num_classes}' for n, s in zip(names, stored, strict=True))}")
    return classes.pop()


def join(stored: Sequence[StoredPredictions], names: Sequence[str] | None = None,
         video_ids: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Align several runs' predictions by video id: (ids [N], float32 [N, M, C]). ``video_ids`` picks the rows
    (default: the first run's, in its order); every run must hold every one of them and share C."""
    names = list(names) if names is not None else [str(s.folder) for s in stored]
    if not stored:
        raise StoreError("nothing to join")
    classes = common_classes(stored, names)
    ids = np.asarray(video_ids) if video_ids is not None else stored[0].ids
    if video_ids is None:
        for name, s in zip(names[1:], stored[1:], strict=True):
            if s.rows != len(ids) or set(s.ids) != set(ids):
                extra = sorted(set(s.ids) ^ set(ids))[:3]
                raise StoreError(f"{name} and {names[0]} hold different videos (e.g. {extra})")
    out = np.empty((len(ids), len(stored), classes), np.float32)
    for m, (name, s) in enumerate(zip(names, stored, strict=True)):
        try:
            out[:, m] = s.dense(s.row_of(list(ids)))
        except StoreError as exc:
            raise StoreError(f"{name}: {exc}") from None
    return ids, out


class PredictionLookup:
    """Several runs' stored predictions on one split, read by video id while training or predicting:
    ``lookup(batch["video_ids"])`` -> float32 [B, M, C], M = the runs in the order given (a distillation
    teacher: M = 1; a cascade's streams)."""

    def __init__(self, stored: Sequence[StoredPredictions], names: Sequence[str] | None = None):
        if not stored:
            raise StoreError("a prediction lookup needs at least one stored split")
        self.stored = list(stored)
        self.names = list(names) if names is not None else [str(s.folder) for s in stored]
        self.num_classes = common_classes(self.stored, self.names)

    def __call__(self, video_ids: Sequence[str]) -> np.ndarray:
        out = np.empty((len(video_ids), len(self.stored), self.num_classes), np.float32)
        for m, (name, s) in enumerate(zip(self.names, self.stored, strict=True)):
            missing = s.missing(video_ids)
            if missing:
                raise StoreError(f"{name} has no prediction for {len(missing)} video(s) of this batch, e.g. "
                                 f"{missing[:3]} ({s.folder})")
            out[:, m] = s.dense(s.row_of(video_ids))
        return out
