"""Kaggle submission CSV: exact text, round trip, streaming, and errors that name the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from y8m_models.metrics import evaluate, top_k_indices
from y8m_models.submission import (
    SubmissionFormatError,
    read_submission,
    submission_to_dense,
    write_submission,
)

SMALL = np.array([[0.1, 0.5, 0.25, 0.0], [0.3, 0.7, 0.7, 0.0]], np.float32)


def test_exact_text_with_g_format(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    write_submission(path, ["vidA", "vidB"], SMALL, top_k=3)
    # Sorted by score descending; the 0.7 tie in vidB lists class 1 before class 2. float32 0.7 prints 0.7.
    assert path.read_text() == "VideoId,LabelConfidencePairs\nvidA,1 0.5 2 0.25 0 0.1\nvidB,1 0.7 2 0.7 0 0.3\n"


def test_f_format_as_monkeytyping(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    write_submission(path, ["vidA", "vidB"], SMALL, top_k=2, float_format="%f")
    assert path.read_text().splitlines()[1:] == ["vidA,1 0.500000 2 0.250000", "vidB,1 0.700000 2 0.700000"]


def test_round_trip_and_streaming(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    preds = rng.random((50, 30), dtype=np.float32)
    ids = [f"v{i:03d}" for i in range(50)]
    write_submission(tmp_path / "a.csv", ids, preds)
    write_submission(tmp_path / "b.csv", ids, preds, batch_size=7)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    sub = read_submission(tmp_path / "a.csv")
    assert sub.video_ids == ids
    assert sub.classes.dtype == np.int64 and sub.scores.dtype == np.float64
    expected = top_k_indices(preds, 20)
    assert np.array_equal(sub.classes, expected)
    # %g keeps 6 significant digits: relative error <= 5e-6.
    np.testing.assert_allclose(sub.scores, np.take_along_axis(preds, expected, 1), rtol=5e-6)
    dense = submission_to_dense(sub, 30)
    assert dense.dtype == np.float32 and dense.shape == (50, 30)
    assert np.count_nonzero(dense, axis=1).tolist() == [20] * 50


def test_g_rounding_creates_ties_that_the_evaluator_reports(tmp_path: Path) -> None:
    preds = np.array([[0.1234561, 0.0, 0.0], [0.1234564, 0.0, 0.0]])
    write_submission(tmp_path / "s.csv", ["a", "b"], preds, top_k=1)
    dense = submission_to_dense(read_submission(tmp_path / "s.csv", top_k=1), 3)
    labels = np.array([[0, 0, 0], [1, 0, 0]])
    assert evaluate(preds, labels, top_k=1).to_dict()["ties"]["tied_pairs"] == 0
    r = evaluate(dense, labels, top_k=1)
    # Both print as 0.123456: the raw ranking (b first) is lost; GAP ranges over [1/2, 1].
    assert (r.tied_pairs, r.gap_worst, r.gap_best, r.gap) == (2, 0.5, 1.0, 0.75)


def test_read_with_top_k_none_takes_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("VideoId,LabelConfidencePairs\r\nx,4 0.5 1 0.25\r\ny,0 1 2 0\r\n")
    sub = read_submission(path, top_k=None)
    assert sub.classes.tolist() == [[4, 1], [0, 2]] and sub.scores.tolist() == [[0.5, 0.25], [1.0, 0.0]]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("VideoId,Labels\na,1 0.5\n", r"line 1: header"),
        ("VideoId,LabelConfidencePairs\na,1 0.5\nb,1 0.5 2 0.25\n", r"line 3: 2 label/score pairs; expected 1"),
        ("VideoId,LabelConfidencePairs\na,1 0.5 2\n", r"line 2: 3 tokens"),
        ("VideoId,LabelConfidencePairs\na,1 0.5\nb,1 zero\n", r"line 3: pair 1: score 'zero'"),
        ("VideoId,LabelConfidencePairs\na,1 nan\n", r"line 2: pair 1: score 'nan'"),
        ("VideoId,LabelConfidencePairs\na,-1 0.5\n", r"line 2: pair 1: label '-1'"),
        ("VideoId,LabelConfidencePairs\na,1 0.5\nb,2 0.5\na,3 0.5\n", r"line 4: video id 'a' repeats line 2"),
        ("VideoId,LabelConfidencePairs\na,1 0.5\n\n", r"line 3: no ','"),
        ("VideoId,LabelConfidencePairs\n,1 0.5\n", r"line 2: empty video id"),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(SubmissionFormatError, match=r"bad\.csv: " + where):
        read_submission(path, top_k=1)


def test_label_repeated_within_a_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("VideoId,LabelConfidencePairs\na,1 0.5 1 0.25\n")
    with pytest.raises(SubmissionFormatError, match=r"line 2: a label appears twice"):
        read_submission(path, top_k=2)


def test_dense_rejects_labels_outside_the_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("VideoId,LabelConfidencePairs\na,1 0.5\nb,9 0.5\n")
    with pytest.raises(ValueError, match=r"line 3, video 'b'\) has label 9; num_classes=5"):
        submission_to_dense(read_submission(path, top_k=1), 5)


def test_write_refuses_what_it_could_not_read_back(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    with pytest.raises(ValueError, match=r"video_ids\[1\] = 'a' repeats video_ids\[0\]"):
        write_submission(path, ["a", "a"], SMALL, top_k=2)
    with pytest.raises(ValueError, match="video_ids has 1 ids but predictions has 2 rows"):
        write_submission(path, ["a"], SMALL, top_k=2)
    with pytest.raises(ValueError, match=r"video_ids\[0\] = 'a,b'"):
        write_submission(path, ["a,b", "c"], SMALL, top_k=2)
    with pytest.raises(ValueError, match=r"top_k must be an integer in 1\.\.4"):
        write_submission(path, ["a", "b"], SMALL, top_k=20)
    with pytest.raises(ValueError, match="float_format"):
        write_submission(path, ["a", "b"], SMALL, top_k=2, float_format="%d")
    with_nan = SMALL.copy()
    with_nan[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"predictions\[1, 2\] is NaN"):
        write_submission(path, ["a", "b"], with_nan, top_k=2, batch_size=1)
    assert not path.exists() and list(tmp_path.iterdir()) == []  # no partial file left behind
