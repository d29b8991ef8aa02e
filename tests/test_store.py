"""The prediction store: dense and top-k round trips, atomic replacement, joins by video id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from y8m_models.store import PredictionLookup, PredictionWriter, StoreError, join, read_predictions


def _write(folder: Path, ids: list[str], scores: np.ndarray, top_k: int | None = None, batch: int = 2) -> None:
    with PredictionWriter(folder, scores.shape[1], top_k) as writer:
        for i in range(0, len(ids), batch):
            writer.add(ids[i: i + batch], scores[i: i + batch])


def test_dense_round_trip_in_float16(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((5, 7), dtype=np.float32)
    _write(tmp_path / "validate2", list("abcde"), scores)
    stored = read_predictions(tmp_path / "validate2")
    assert stored.ids.tolist() == list("abcde") and stored.k is None
    np.testing.assert_array_equal(stored.dense(), scores.astype(np.float16).astype(np.float32))
    assert isinstance(stored.scores, np.memmap)


def test_top_k_keeps_each_rows_best_classes(tmp_path: Path) -> None:
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.5], [0.8, 0.2, 0.7, 0.1]])  # a tensor is accepted too
    _write(tmp_path / "test", ["v1", "v2"], scores, top_k=2)
    stored = read_predictions(tmp_path / "test")
    assert stored.indices.tolist() == [[1, 3], [0, 2]]  # by descending score
    expected = np.array([[0, 0.9, 0, 0.5], [0.8, 0, 0.7, 0]], np.float16).astype(np.float32)
    np.testing.assert_array_equal(stored.dense(), expected)
    np.testing.assert_array_equal(stored.dense(np.array([1])), expected[1:])


def test_a_failed_write_leaves_the_old_split(tmp_path: Path) -> None:
    folder = tmp_path / "train2"
    _write(folder, ["a", "b"], np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="appears twice"), PredictionWriter(folder, 3) as writer:
        writer.add(["x", "x"], np.zeros((2, 3)))
    assert read_predictions(folder).ids.tolist() == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train2"]  # no staging left behind
    _write(folder, ["c"], np.zeros((1, 3), np.float32))  # a complete write replaces the split whole
    assert read_predictions(folder).ids.tolist() == ["c"]


def test_join_aligns_by_video_id_not_row_order(tmp_path: Path) -> None:
    a = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], np.float32)
    _write(tmp_path / "m1", ["x", "y", "z"], a)
    _write(tmp_path / "m2", ["z", "x", "y"], a[[2, 0, 1]] * 2)  # the same videos in another order
    ids, p = join([read_predictions(tmp_path / "m1"), read_predictions(tmp_path / "m2")], ["#2", "#10"])
    assert ids.tolist() == ["x", "y", "z"] and p.shape == (3, 2, 2)
    np.testing.assert_allclose(p[:, 1], 2 * p[:, 0], rtol=1e-3)


def test_join_names_the_runs_that_disagree(tmp_path: Path) -> None:
    _write(tmp_path / "m1", ["x", "y"], np.zeros((2, 2), np.float32))
    _write(tmp_path / "m2", ["x", "w"], np.zeros((2, 2), np.float32))
    _write(tmp_path / "m3", ["x", "y"], np.zeros((2, 3), np.float32))
    first, second, third = (read_predictions(tmp_path / m) for m in ("m1", "m2", "m3"))
    with pytest.raises(StoreError, match=r"#10 and #2 hold different videos"):
        join([first, second], ["#2", "#10"])
    with pytest.raises(StoreError, match=r"#18: 3"):
        join([first, third], ["#2", "#18"])
    with pytest.raises(StoreError, match=r"#10: .*not stored.*'y'"):
        join([first, second], ["#2", "#10"], video_ids=["x", "y"])
    with pytest.raises(StoreError, match="not a readable prediction store"):
        read_predictions(tmp_path / "missing")


def test_lookup_reads_each_runs_rows_by_video_id(tmp_path: Path) -> None:
    a = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], np.float32)
    _write(tmp_path / "teacher", ["x", "y", "z"], a)
    _write(tmp_path / "stream", ["z", "y", "x"], a[::-1] * 0.5, top_k=1)
    lookup = PredictionLookup([read_predictions(tmp_path / "teacher"), read_predictions(tmp_path / "stream")],
                              ["#75", "#76"])
    got = lookup(["y", "x"])
    assert got.shape == (2, 2, 2)
    np.testing.assert_allclose(got[:, 0], a[[1, 0]], rtol=1e-3)
    np.testing.assert_allclose(got[:, 1], [[0, 0.2], [0, 0.1]], rtol=1e-3)  # top 1 of each row
    with pytest.raises(StoreError, match=r"#75 has no prediction for 1 video\(s\) of this batch, e.g. \['w'\]"):
        lookup(["x", "w"])
