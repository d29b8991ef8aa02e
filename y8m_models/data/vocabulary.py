"""Class names and verticals from a YouTube-8M ``vocabulary.csv``.

The Kaggle file has the columns ``Index, TrainVideoCount, KnowledgeGraphId, Name, WikiUrl, Vertical1,
Vertical2, Vertical3, WikiDescription``; only ``Index`` and ``Name`` are required here. Label ids are the
``Index`` column, which the release orders by training frequency (most frequent first).

Vertical ids follow the authors' ``vertical.tsv`` (catalog section 1.3): numbered in order of first
appearance of ``Vertical1`` when scanning labels by index; a label without a vertical gets its own
"(none)" vertical, which is how the 2017 file came to have 25 vertical ids for the paper's 24 categories.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from y8m_models.limits import Limits

VOCABULARY_FILE = "vocabulary.csv"
NO_VERTICAL = "(none)"


@dataclass(frozen=True)
class Vocabulary:
    names: tuple[str, ...]  # [C]
    verticals: tuple[str, ...]  # [V] vertical names, in id order
    vertical_ids: np.ndarray  # int64 [C]: Vertical1 of each label
    train_counts: np.ndarray | None  # int64 [C] when the file has TrainVideoCount

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def vertical_matrix(self) -> np.ndarray:
        """uint8 [C, V] membership of each label in its Vertical1."""
        out = np.zeros((self.num_classes, len(self.verticals)), np.uint8)
        out[np.arange(self.num_classes), self.vertical_ids] = 1
        return out

    @classmethod
    def unnamed(cls, num_classes: int) -> Vocabulary:
        """Labels named by their ids, for data that ships without a vocabulary."""
        return cls(tuple(str(i) for i in range(num_classes)), (NO_VERTICAL,),
                   np.zeros(num_classes, np.int64), None)


def _first_gaps(present: Iterable[int], count: int = 5) -> list[int]:
    """The first ``count`` ids missing from 0..max(present), in time and memory of the ids present (an Index of
    20,000,000 in a one-row file must not build that range)."""
    gaps, expected = [], 0
    for index in sorted(present):
        gaps.extend(range(expected, min(index, expected + count - len(gaps))))
        if len(gaps) >= count:
            break
        expected = index + 1
    return gaps


def read_vocabulary(path: str | Path) -> Vocabulary:
    """Parse a vocabulary.csv; the Index column must hold every id 0..C-1 exactly once."""
    with open(path, newline="", encoding="utf-8") as f:
        return parse_vocabulary(f, Path(path))


def parse_vocabulary(lines: Iterable[str], path: str | Path) -> Vocabulary:
    """``read_vocabulary`` of a vocabulary.csv's text (``lines``: an open file or the text's lines); ``path`` names
    it in errors (an exported model keeps its dataset's vocabulary as text: ``y8m_models.export``)."""
    path = Path(path)
    reader = csv.DictReader(lines)
    missing = {"Index", "Name"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                         f"found {', '.join(reader.fieldnames or ()) or 'no header'}")
    rows: dict[int, dict[str, str]] = {}
    most = Limits.from_env().vocabulary_rows
    for line, row in enumerate(reader, start=2):
        if len(rows) == most:
            raise ValueError(f"{path}: more than {most:,} labels (the limit "
                             f"{Limits.variable('vocabulary_rows')} raises it)")
        try:
            index = int(row["Index"])
        except (TypeError, ValueError):
            raise ValueError(f"{path}: line {line}: Index {row['Index']!r} is not an integer") from None
        if index < 0 or index in rows:
            raise ValueError(f"{path}: line {line}: Index {index} is negative or repeated")
        rows[index] = row
    if not rows:
        raise ValueError(f"{path}: no labels")
    if max(rows) != len(rows) - 1:
        raise ValueError(f"{path}: Index must cover 0..{max(rows)} without gaps; missing {_first_gaps(rows)}")
    ordered = [rows[i] for i in range(len(rows))]
    verticals: dict[str, int] = {}
    vertical_ids = [verticals.setdefault((r.get("Vertical1") or "").strip() or NO_VERTICAL, len(verticals))
                    for r in ordered]
    counts = None
    if all((r.get("TrainVideoCount") or "").strip() for r in ordered):
        counts = np.array([int(r["TrainVideoCount"]) for r in ordered], np.int64)
    return Vocabulary(tuple(r["Name"] for r in ordered), tuple(verticals),
                      np.array(vertical_ids, np.int64), counts)


def find_vocabulary(data_dir: str | Path) -> Path | None:
    """``vocabulary.csv`` in the dataset directory or the one above a level directory."""
    data_dir = Path(data_dir)
    for directory in (data_dir, data_dir.parent):
        candidate = directory / VOCABULARY_FILE
        if candidate.is_file():
            return candidate
    return None


def resolve_num_classes(files: Sequence[Path], explicit: int | None) -> int | None:
    """``explicit`` if given, else the size of the vocabulary.csv beside (or above) the first file."""
    if explicit is not None:
        if explicit <= 0:
            raise ValueError(f"--num-classes must be positive, not {explicit}")
        return explicit
    vocab = find_vocabulary(files[0].parent)
    return read_vocabulary(vocab).num_classes if vocab else None
