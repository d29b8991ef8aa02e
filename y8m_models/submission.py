"""Kaggle submission CSV for YouTube-8M (shared/spec/yt8m_format.md, "Kaggle submission CSV").

Header ``VideoId,LabelConfidencePairs``, then one line per video::

    <video id>,<label> <score> <label> <score> ...

with exactly top_k (Kaggle: 20) pairs, sorted by score descending (ties: lower class index first, the
rule of `y8m_models.metrics.top_k_indices`). Scores print with ``%g`` as the official inference does
(6 significant digits), or with ``float_format="%f"`` as the monkeytyping code did (6 decimals).

Both formats round: distinct model scores can print equal (and tiny ones as 0), so a CSV scored back through
`submission_to_dense` can hold ties the raw predictions did not. `y8m_models.metrics.Evaluator` reports
them (``tied_pairs``, ``videos_with_cut_ties``, ``gap_best``/``gap_worst``) instead of breaking them
arbitrarily.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from y8m_models import atomic
from y8m_models.metrics import top_k_indices

HEADER = "VideoId,LabelConfidencePairs"
_READ_BLOCK = 4096  # lines parsed into Python lists before they become one numpy block


class SubmissionFormatError(ValueError):
    """A submission file that does not follow the format; the message names the file and 1-based line."""

    def __init__(self, path: str | Path, line: int, reason: str):
        self.path, self.line, self.reason = str(path), line, reason
        super().__init__(f"{self.path}: line {line}: {reason}")

    def __reduce__(self):  # picklable across processes
        return (type(self), (self.path, self.line, self.reason))


@dataclass(frozen=True)
class Submission:
    """A parsed submission: row i is the file's line i + 2 (line 1 is the header).

    video_ids: N ids; classes: [N, k] int64; scores: [N, k] float64, both in file order.
    """

    video_ids: list[str]
    classes: np.ndarray
    scores: np.ndarray


def _check_float_format(float_format: str) -> None:
    try:
        text = float_format % 0.5
    except (TypeError, ValueError) as e:
        raise ValueError(f"float_format must format one float, like '%g' or '%f'; got {float_format!r}") from e
    if not text or any(ch in text for ch in " ,\n") or float(text) != 0.5:
        raise ValueError(f"float_format {float_format!r} prints 0.5 as {text!r}; it must print one plain number")


def _check_video_ids(video_ids: Sequence[str], n_rows: int) -> None:
    if len(video_ids) != n_rows:
        raise ValueError(f"video_ids has {len(video_ids)} ids but predictions has {n_rows} rows")
    seen: dict[str, int] = {}
    for i, vid in enumerate(video_ids):
        if not isinstance(vid, str) or not vid or any(ch in vid for ch in ",\r\n"):
            raise ValueError(f"video_ids[{i}] = {vid!r}: ids must be non-empty strings without ',' or newlines")
        if vid in seen:
            raise ValueError(f"video_ids[{i}] = {vid!r} repeats video_ids[{seen[vid]}]")
        seen[vid] = i


def write_submission(
    path: str | Path,
    video_ids: Sequence[str],
    predictions: np.ndarray,
    top_k: int = 20,
    float_format: str = "%g",
    batch_size: int = 4096,
) -> None:
    """Write a submission CSV, batch_size rows at a time (predictions may be an np.memmap).

    video_ids: N ids; predictions: [N, C] scores. Each line holds the top_k classes (1 <= top_k <= C)
    sorted by score descending, ties by lower class index.
    """
    shape = np.shape(predictions)
    if len(shape) != 2:
        raise ValueError(f"predictions must be 2-D [videos, classes]; got shape {shape}")
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or not 1 <= top_k <= shape[1]:
        raise ValueError(f"top_k must be an integer in 1..{shape[1]} (the number of classes); got {top_k!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    _check_float_format(float_format)
    _check_video_ids(video_ids, shape[0])
    row_format = "%s," + " ".join([f"%d {float_format}"] * int(top_k)) + "\n"
    with atomic.replacing(path, "w", encoding="utf-8", newline="\n") as f:  # never a truncated submission
        f.write(HEADER + "\n")
        for lo in range(0, shape[0], batch_size):
            f.write(_format_rows(row_format, video_ids[lo : lo + batch_size], predictions, lo, int(top_k)))


def _format_rows(row_format: str, ids: Sequence[str], predictions: np.ndarray, lo: int, top_k: int) -> str:
    """Lines for predictions rows lo .. lo + len(ids)."""
    block = np.asarray(predictions[lo : lo + len(ids)])
    if np.issubdtype(block.dtype, np.floating) and np.isnan(block).any():
        r, c = np.argwhere(np.isnan(block))[0]
        raise ValueError(f"predictions[{lo + r}, {c}] is NaN; a submission needs a number for every class")
    idx = top_k_indices(block, top_k)
    vals = np.take_along_axis(block, idx, 1).astype(np.float64)
    return "".join(
        row_format % (vid, *itertools.chain.from_iterable(zip(c_row, v_row, strict=True)))
        for vid, c_row, v_row in zip(ids, idx.tolist(), vals.tolist(), strict=True)
    )


def _parse_pairs(path: str | Path, lineno: int, rest: str, top_k: int | None) -> tuple[list[int], list[float]]:
    tokens = rest.split()
    if len(tokens) % 2:
        raise SubmissionFormatError(path, lineno, f"{len(tokens)} tokens after the id; expected label/score pairs")
    if top_k is not None and len(tokens) != 2 * top_k:
        raise SubmissionFormatError(path, lineno, f"{len(tokens) // 2} label/score pairs; expected {top_k}")
    classes, scores = [], []
    for j in range(0, len(tokens), 2):
        label, score = tokens[j], tokens[j + 1]
        if not (label.isascii() and label.isdigit()):  # int() would also take '+3', ' 3' and non-ASCII digits
            raise SubmissionFormatError(path, lineno, f"pair {j // 2 + 1}: label {label!r} is not an integer >= 0")
        try:
            value = float(score)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise SubmissionFormatError(path, lineno, f"pair {j // 2 + 1}: score {score!r} is not a finite number")
        classes.append(int(label))
        scores.append(value)
    if len(set(classes)) != len(classes):
        raise SubmissionFormatError(path, lineno, f"a label appears twice: {classes}")
    return classes, scores


def read_submission(path: str | Path, top_k: int | None = 20) -> Submission:
    """Read and validate a submission CSV.

    top_k: the pair count every line must have; None takes the first line's count. Raises
    `SubmissionFormatError` (a ValueError) naming the file and line for a wrong header, a line without a
    comma, an empty or repeated video id, a wrong pair count, a label that is not an integer >= 0, a score
    that is not a finite number, or a label repeated within a line. Score order is not checked.
    """
    ids: list[str] = []
    seen: dict[str, int] = {}
    class_blocks: list[np.ndarray] = []
    score_blocks: list[np.ndarray] = []
    classes: list[list[int]] = []
    scores: list[list[float]] = []
    with open(path, encoding="utf-8-sig") as f:  # -sig: tolerate a BOM written by spreadsheet tools
        header = f.readline().rstrip("\r\n")
        if header != HEADER:
            raise SubmissionFormatError(path, 1, f"header must be {HEADER!r}; got {header!r}")
        for lineno, line in enumerate(f, start=2):
            vid, comma, rest = line.rstrip("\r\n").partition(",")
            if not comma:
                raise SubmissionFormatError(path, lineno, "no ',' between video id and label/score pairs")
            if not vid:
                raise SubmissionFormatError(path, lineno, "empty video id")
            if vid in seen:
                raise SubmissionFormatError(path, lineno, f"video id {vid!r} repeats line {seen[vid]}")
            row_classes, row_scores = _parse_pairs(path, lineno, rest, top_k)
            top_k = len(row_classes) if top_k is None else top_k
            seen[vid] = lineno
            ids.append(vid)
            classes.append(row_classes)
            scores.append(row_scores)
            if len(classes) == _READ_BLOCK:
                class_blocks.append(np.array(classes, np.int64))
                score_blocks.append(np.array(scores, np.float64))
                classes, scores = [], []
    width = 0 if top_k is None else top_k
    class_blocks.append(np.array(classes, np.int64).reshape(-1, width))
    score_blocks.append(np.array(scores, np.float64).reshape(-1, width))
    return Submission(ids, np.concatenate(class_blocks), np.concatenate(score_blocks))


def submission_to_dense(sub: Submission, num_classes: int) -> np.ndarray:
    """Scores as a dense [N, num_classes] float32 array, zero for classes the file does not list.

    Rounded and zero scores tie; score the result with `y8m_models.metrics.Evaluator` to see how much.
    """
    if sub.classes.size and sub.classes.max() >= num_classes:
        r, c = np.argwhere(sub.classes >= num_classes)[0]
        raise ValueError(
            f"submission row {r} (line {r + 2}, video {sub.video_ids[r]!r}) has label {sub.classes[r, c]}; "
            f"num_classes={num_classes} allows 0..{num_classes - 1}"
        )
    dense = np.zeros((len(sub.video_ids), num_classes), np.float32)
    np.put_along_axis(dense, sub.classes, sub.scores.astype(np.float32), 1)
    return dense
