"""The five splits of the data (paper Table 1), each a glob over file names.

=========  ==========================  =============================================
split       default glob (paper)        used for
=========  ==========================  =============================================
train1     ``train??.tfrecord``        single-model training
validate1  ``validate[a]?.tfrecord``   checkpoint selection of single models
train2     ``validate[^a0-9]?.tfrecord`` training of stacking models
validate2  ``validate[0-9]?.tfrecord`` stacking early stopping; all paper GAPs
test       ``test??.tfrecord``         submission
=========  ==========================  =============================================

Globs are written as in the paper (``[^...]`` negates) and matched against file names in a level
directory (``DIR/frame`` or ``DIR/video``, or DIR itself); a ``.gz`` ending is ignored when matching, so
gzip-compressed copies split the same way. The 2018 release names its files ``train0000.tfrecord``: give
that dataset its own globs (e.g. ``train*.tfrecord``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from pathlib import Path

from y8m_models.data.records import Level

SPLITS = ("train1", "validate1", "train2", "validate2", "test")

PAPER_GLOBS: dict[str, str] = {
    "train1": "train??.tfrecord",
    "validate1": "validate[a]?.tfrecord",
    "train2": "validate[^a0-9]?.tfrecord",
    "validate2": "validate[0-9]?.tfrecord",
    "test": "test??.tfrecord",
}


def _matcher(glob: str) -> re.Pattern[str]:
    # The paper writes negated classes as [^...]; Python's fnmatch spells that [!...].
    return re.compile(fnmatch.translate(glob.replace("[^", "[!")))


def level_dir(root: str | Path, level: Level) -> Path:
    """``root/<level>`` when it exists (the release layout), else ``root`` itself."""
    root = Path(root)
    sub = root / level
    return sub if sub.is_dir() else root


def in_split(name: str, glob: str) -> bool:
    """Does a file name belong to the split with this glob (``.gz`` ignored)?"""
    base = name[:-3] if name.endswith(".gz") else name
    return _matcher(glob).fullmatch(base) is not None


def files_of_split(root: str | Path, level: Level, split: str, globs: Mapping[str, str] | None = None) -> list[Path]:
    """The sorted files of one split; raises ValueError naming the split, glob and directory if none match."""
    globs = {**PAPER_GLOBS, **(globs or {})}
    if split not in globs:
        raise ValueError(f"unknown split {split!r}; splits are {', '.join(globs)}")
    directory = level_dir(root, level)
    if not directory.is_dir():
        raise ValueError(f"data directory {directory} does not exist")
    files = sorted(p for p in directory.iterdir() if p.is_file() and in_split(p.name, globs[split]))
    if not files:
        raise ValueError(f"split '{split}' has no files: nothing in {directory} matches {globs[split]!r}")
    return files


def split_files(root: str | Path, level: Level, globs: Mapping[str, str] | None = None) -> dict[str, list[Path]]:
    """Every split's files (splits without files map to an empty list)."""
    out: dict[str, list[Path]] = {}
    for split in {**PAPER_GLOBS, **(globs or {})}:
        try:
            out[split] = files_of_split(root, level, split, globs)
        except ValueError:
            if not level_dir(root, level).is_dir():
                raise
            out[split] = []
    return out
