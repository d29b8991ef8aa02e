"""PCA with whitening and 8-bit codes against a hand computation of the official extractors' formulas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from y8m_models.data.records import quantize
from y8m_models.features.pca import EPSILON, Pca, PcaError, from_covariance, load_official, load_vggish


def _official(folder: Path, rng: np.random.Generator, d: int = 6, k: int = 4) -> tuple[np.ndarray, ...]:
    """Files as yt8m_pca.tgz holds them: mean [D, 1], eigenvals [K, 1], eigenvecs [K, D]."""
    folder.mkdir()
    mean, values = rng.normal(size=(d, 1)), rng.uniform(0.5, 2.0, (k, 1))
    vectors = np.linalg.qr(rng.normal(size=(d, d)))[0][:k]
    np.save(folder / "mean.npy", mean)
    np.save(folder / "eigenvals.npy", values)
    np.save(folder / "eigenvecs.npy", vectors)
    return mean, values, vectors


def test_the_official_frame_pca_by_hand(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    mean, values, vectors = _official(tmp_path / "pca", rng)
    pca = load_official(tmp_path / "pca", width=3)
    x = rng.normal(size=(5, 6))
    for n in range(5):  # feature_extractor.py, one frame at a time
        expected = [(x[n] - mean[:, 0]) @ vectors[j] / np.sqrt(values[j, 0] + 1e-4) for j in range(3)]
        assert pca.apply(x)[n] == pytest.approx(expected, rel=1e-5)
    # The 8-bit codes: clip to [-2, 2], (x + 2) * 255 / 4, rounded to the nearest.
    y = np.array([[-3.0, -2.0, 0.0, 0.01, 1.99, 2.5]])
    assert quantize(y).tolist() == [[0, 0, 128, 128, 254, 255]]  # 127.5 -> 128; 0.01 -> 128.14 -> 128


def test_vggish_pca_parameters_and_the_whitening_inside(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    matrix, means = rng.normal(size=(4, 4)), rng.normal(size=4)
    np.savez(tmp_path / "vggish_pca_params.npz", pca_eigen_vectors=matrix, pca_means=means)
    pca = load_vggish(tmp_path / "vggish_pca_params.npz")
    x = rng.normal(size=(3, 4))
    assert pca.apply(x) == pytest.approx((matrix @ (x.T - means[:, None])).T, rel=1e-5)
    # Saved in the official frame layout, it gives the same features back.
    pca.save(tmp_path / "saved")
    again = load_official(tmp_path / "saved", width=4)
    assert again.apply(x) == pytest.approx(pca.apply(x) / np.sqrt(1 - EPSILON + EPSILON), rel=1e-5)


def test_a_fitted_pca_whitens_the_frames_it_was_fitted_on() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4000, 5)) @ rng.normal(size=(5, 5)) + 3.0
    covariance = np.cov(x, rowvar=False)
    pca = from_covariance(x.mean(0), covariance, 3, "test")
    y = pca.apply(x).astype(np.float64)
    assert y.mean(0) == pytest.approx(np.zeros(3), abs=1e-5)
    assert np.cov(y, rowvar=False) == pytest.approx(np.eye(3), abs=1e-3)
    assert list(pca.values_K) == sorted(pca.values_K, reverse=True)


def test_bad_pca_files_are_named(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    _official(tmp_path / "pca", rng)
    with pytest.raises(PcaError, match=r"eigenvecs\.npy: expected \[>= 5, 6\]"):
        load_official(tmp_path / "pca", width=5)
    (tmp_path / "pca" / "mean.npy").unlink()
    with pytest.raises(PcaError, match=r"mean\.npy: missing"):
        load_official(tmp_path / "pca", width=2)
    np.savez(tmp_path / "other.npz", something=np.zeros(3))
    with pytest.raises(PcaError, match="expected pca_eigen_vectors and pca_means; it holds something"):
        load_vggish(tmp_path / "other.npz")
    pca = Pca(np.zeros(4), np.eye(4), None, "mine")
    with pytest.raises(PcaError, match="mine: is for 4-d features; the network gives 3"):
        pca.apply(np.zeros((1, 3)))
