"""Whole-file verification (``y8m data check``) and array dumps (``y8m data dump``)."""

from __future__ import annotations

import glob as globlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from y8m_models.data.dataset import (
    MAX_FRAMES,
    Skipped,
    YT8MDataset,
    detect_level,
    read_record,
    to_device,
)
from y8m_models.data.errors import Y8MDataError
from y8m_models.data.layout import find_layout
from y8m_models.data.records import MalformedRecord, record_level
from y8m_models.data.tfrecord import TFRecordFile


def expand_globs(patterns: Iterable[str]) -> list[Path]:
    """Files matched by each pattern (a plain path counts as a pattern), sorted, without repeats. ValueError
    for a pattern that matches no file, or only folders (a dataset folder: its files are named with a glob)."""
    files: dict[Path, None] = {}
    for pattern in patterns:
        matched = sorted(globlib.glob(pattern)) or ([pattern] if Path(pattern).is_file() else [])
        found = [Path(m) for m in matched if Path(m).is_file()]
        if not found and any(Path(m).is_dir() for m in matched):
            raise ValueError(f"{pattern!r} is a folder, not TFRecord files: name them, e.g. "
                             f"'{Path(pattern) / 'frame' / '*.tfrecord'}'")
        if not found:
            raise ValueError(f"no file matches {pattern!r}")
        files.update((m, None) for m in found)
    return list(files)


@dataclass
class FileReport:
    path: str
    level: str | None = None
    records: int = 0
    frames: int = 0  # frame level: frames in all records (before truncation)
    damage: list[Skipped] = field(default_factory=list)


@dataclass
class CheckReport:
    files: list[FileReport]
    num_classes: int | None

    @property
    def damaged(self) -> list[Skipped]:
        return [d for f in self.files for d in f.damage]

    def to_dict(self) -> dict:
        return {
            "files": len(self.files),
            "records": sum(f.records for f in self.files),
            "frame_files": sum(f.level == "frame" for f in self.files),
            "video_files": sum(f.level == "video" for f in self.files),
            "frames": sum(f.frames for f in self.files),
            "num_classes": self.num_classes,
            "damaged": [str(d) for d in self.damaged],
            "ok": not self.damaged,
        }


def check_file(path: Path, num_classes: int | None) -> FileReport:
    """Read and verify every record of one file, collecting all damage instead of stopping at the first.
    The file's level is that of its first intact record; a record of the other level is damage."""
    report = FileReport(str(path))
    try:
        file = TFRecordFile(path, keep_open=True)
        layout = find_layout(Path(path).parent)  # the dataset's features.json, else YouTube-8M's features
    except Y8MDataError as exc:
        report.damage.append(Skipped.from_error(exc))
        return report
    for i in range(len(file)):
        try:
            payload = file.payload(i)
            try:
                level = record_level(payload)
            except MalformedRecord as exc:
                raise Y8MDataError(path, str(exc), i, file.offset(i)) from None
            if report.level is not None and level != report.level:
                raise Y8MDataError(path, f"a {level}-level record in a {report.level}-level file", i, file.offset(i))
            record = read_record(file, i, level, layout.spec(level), num_classes, payload)
        except Y8MDataError as exc:
            report.damage.append(Skipped.from_error(exc))
            continue
        report.level = level
        report.records += 1
        if level == "frame":
            report.frames += len(record.features[0])
    if file.index.damage:
        report.damage.append(Skipped.from_error(file.index.damage.error(path)))
    file.close()
    return report


def check_files(files: Sequence[Path], num_classes: int | None) -> CheckReport:
    return CheckReport([check_file(p, num_classes) for p in files], num_classes)


def dump_arrays(files: Sequence[Path], num_classes: int, max_frames: int = MAX_FRAMES,
                batch_size: int = 64) -> dict[str, np.ndarray]:
    """Every record as the loader feeds models: ids, uint8 labels [N, C], num_frames [N] (0 at video
    level, which has no frames) and float32 features ([N, max_frames, D] dequantized and zero-padded,
    or [N, D] at video level)."""
    levels = {detect_level(p) for p in files}
    if len(levels) != 1:
        raise ValueError("the files mix frame-level and video-level records; dump one level at a time")
    level = levels.pop()
    dataset = YT8MDataset(files, level, num_classes, max_frames=max_frames, batch_size=batch_size)
    n, dim = dataset.num_records, dataset.spec.dim
    out = {"ids": np.empty(n, dtype=object), "labels": np.zeros((n, num_classes), np.uint8),
           "num_frames": np.zeros(n, np.int64),
           "features": np.zeros((n, max_frames, dim) if level == "frame" else (n, dim), np.float32)}
    row = 0
    for batch in dataset:
        batch = to_device(batch)
        rows = slice(row, row + len(batch["video_ids"]))
        out["ids"][rows] = batch["video_ids"]
        out["labels"][rows] = batch["labels"].numpy().astype(np.uint8)
        out["features"][rows] = batch["features"].numpy()
        if level == "frame":
            out["num_frames"][rows] = batch["num_frames"].numpy()
        row = rows.stop
    out["ids"] = out["ids"].astype(str)
    return out
