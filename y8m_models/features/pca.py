"""PCA with whitening, then YouTube-8M's 8-bit codes, as the official extractors apply them.

Frames (``feature_extractor.py``): ``(x - mean) @ eigenvecs[:k].T / sqrt(eigenvals[:k] + 1e-4)``, from the files of
``yt8m_pca.tgz``: ``mean.npy`` [2048, 1], ``eigenvals.npy`` [>= k, 1], ``eigenvecs.npy`` [>= k, 2048] (a row per
component, largest first), k = 1024. Audio (VGGish's postprocessor): ``pca_eigen_vectors @ (x - pca_means)``,
the whitening already inside the matrix, from ``vggish_pca_params.npz`` (or torchvggish's ``.pth``).
Then both: clip to [-2, 2], ``round((x + 2) * 255 / 4)`` (``records.quantize``, as ``extract_tfrecords_main``;
Google's VGGish postprocessor truncates to uint8 instead, torchvggish's rounds: here both streams round).

Without the official files, the same transform is fitted on the user's own frames (their mean and covariance's
eigenvectors) and stored with the dataset in the official layout, so later videos are extracted with it
(``--pca DATASET``): features of two PCAs are not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from y8m_models import atomic
from y8m_models.data.errors import Y8MDataError

EPSILON = 1e-4  # the official whitening's
FILES = ("mean.npy", "eigenvals.npy", "eigenvecs.npy")


class PcaError(Y8MDataError):
    """PCA files that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Pca:
    mean_D: np.ndarray  # float64 [D]
    vectors_KD: np.ndarray  # float64 [K, D], a component per row
    values_K: np.ndarray | None  # eigenvalues to whiten by; None: the vectors are whitened already (VGGish's)
    source: str  # where it came from, for extract.json

    def __post_init__(self) -> None:
        # One memory layout whichever way it was made (fitted, or read back): the same BLAS path, the same
        # rounding. A component of a value near 0 lands at the codes' midpoint (127.5), where the last bit decides.
        for name in ("mean_D", "vectors_KD", "values_K"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), np.float64))

    @property
    def width(self) -> int:
        return self.vectors_KD.shape[0]

    @property
    def input_width(self) -> int:
        return self.vectors_KD.shape[1]

    def apply(self, x_ND: np.ndarray) -> np.ndarray:
        """float32 [N, K] (before clipping and codes)."""
        if x_ND.shape[1] != self.input_width:
            raise PcaError(self.source, f"is for {self.input_width}-d features; the network gives {x_ND.shape[1]}")
        y = (np.asarray(x_ND, np.float64) - self.mean_D) @ self.vectors_KD.T
        if self.values_K is not None:
            y /= np.sqrt(self.values_K + EPSILON)
        return y.astype(np.float32)

    def save(self, folder: Path) -> Path:
        """The official layout (whitening folded into the vectors for VGGish's: eigenvalues of 1 - 1e-4)."""
        folder.mkdir(parents=True, exist_ok=True)
        values = self.values_K if self.values_K is not None else np.full(self.width, 1.0 - EPSILON)
        for name, array in zip(FILES, (self.mean_D[:, None], values[:, None], self.vectors_KD), strict=True):
            atomic.save_npy(folder / name, array.astype(np.float64))  # as applied: later videos get the same
        return folder


def load_official(folder: Path, width: int) -> Pca:
    """``mean.npy``, ``eigenvals.npy``, ``eigenvecs.npy`` of ``folder``: the first ``width`` components."""
    arrays = []
    for name in FILES:
        path = folder / name
        if not path.is_file():
            raise PcaError(path, f"missing: a PCA folder holds {', '.join(FILES)} (YouTube-8M's yt8m_pca.tgz from "
                                 "http://data.yt8m.org/yt8m_pca.tgz, or a dataset y8m extracted)")
        try:
            arrays.append(np.load(path, allow_pickle=False).astype(np.float64))
        except (OSError, ValueError) as exc:
            raise PcaError(path, f"not a numpy array ({type(exc).__name__}: {exc})") from None
    mean, values, vectors = arrays
    if mean.ndim != 2 or mean.shape[1] != 1:
        raise PcaError(folder / "mean.npy", f"expected [D, 1], not {list(mean.shape)}")
    if vectors.ndim != 2 or vectors.shape[1] != mean.shape[0] or vectors.shape[0] < width:
        raise PcaError(folder / "eigenvecs.npy", f"expected [>= {width}, {mean.shape[0]}] (a component per row), "
                                                 f"not {list(vectors.shape)}")
    if values.ndim != 2 or values.shape[0] < width or (values[:width] < 0).any():
        raise PcaError(folder / "eigenvals.npy", f"expected [>= {width}, 1] of values >= 0, not {list(values.shape)}")
    return Pca(mean[:, 0], vectors[:width], values[:width, 0], str(folder))


def load_vggish(path: Path) -> Pca:
    """VGGish's PCA parameters: ``pca_eigen_vectors`` [128, 128] and ``pca_means`` [128] in an ``.npz`` (Google's
    release) or a ``.pth`` (torchvggish's)."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as loaded:
                params = {k: loaded[k] for k in loaded.files}
        else:
            import torch

            params = {k: np.asarray(v) for k, v in torch.load(path, map_location="cpu", weights_only=True).items()}
    except FileNotFoundError:
        raise PcaError(path, "does not exist") from None
    except Exception as exc:  # numpy's and torch's own errors for a file that is not theirs
        raise PcaError(path, f"not VGGish PCA parameters ({type(exc).__name__}: {exc})") from None
    if "pca_eigen_vectors" not in params or "pca_means" not in params:
        raise PcaError(path, f"expected pca_eigen_vectors and pca_means; it holds {', '.join(params) or 'nothing'}")
    vectors, mean = params["pca_eigen_vectors"].astype(np.float64), params["pca_means"].astype(np.float64).ravel()
    if vectors.ndim != 2 or vectors.shape[1] != mean.size:
        raise PcaError(path, f"pca_eigen_vectors {list(vectors.shape)} does not fit pca_means [{mean.size}]")
    return Pca(mean, vectors, None, str(path))


def from_covariance(mean_D: np.ndarray, covariance_DD: np.ndarray, width: int, source: str) -> Pca:
    """The ``width`` leading eigenvectors of ``covariance_DD`` (frames' mean ``mean_D``), largest first."""
    if width > len(mean_D):
        raise PcaError(source, f"{width} components of {len(mean_D)}-d features: at most {len(mean_D)}")
    values, vectors = np.linalg.eigh(covariance_DD)
    order = np.argsort(values)[::-1][:width]
    vectors = vectors[:, order].T
    # A component's sign is arbitrary; fixed so that its largest entry is positive (the same frames, the same PCA).
    vectors *= np.sign(vectors[np.arange(width), np.abs(vectors).argmax(1)])[:, None]
    return Pca(np.asarray(mean_D, np.float64), vectors, np.maximum(values[order], 0.0), source)
