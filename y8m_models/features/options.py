"""How videos are extracted (``ExtractOptions``), what a progress callback is told (``Progress``), and where an
extracted dataset keeps its record, PCA and thumbnails: importable without torch, for the extractions' folders
(``features.extraction``, ``worker.extract``) and the dashboard's "Try a video" page."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from y8m_models.data.errors import Y8MDataError
from y8m_models.features.video import MAX_FRAMES

EXTRACT_FILE = "extract.json"
PCA_DIR = "pca"
FRAMES_DIR = "frames"
RGB_WIDTH = 1024


class ExtractError(Y8MDataError):
    """Videos, options or a cache that cannot become a dataset; the message names which."""


@dataclass(frozen=True)
class ExtractOptions:
    image_network: str = "inception_v3"
    weights: str | None = None  # the image network's file; None: the library's cache
    audio: bool = True
    audio_weights: str | None = None  # VGGish's; None: the torch hub cache
    pca: str | None = None  # official PCA files (or a dataset extracted before); None: fitted
    rgb_width: int = RGB_WIDTH
    max_frames: int = MAX_FRAMES
    thumbnail: int = 160  # thumbnails' width in pixels; 0: none
    random_weights: bool = False  # testing only: networks with random weights
    device: str = "cpu"

    def cached(self) -> dict:
        """What the per-video cache depends on (a cache made otherwise is refused)."""
        return {k: v for k, v in asdict(self).items() if k not in ("pca", "rgb_width", "device")}

    @classmethod
    def like(cls, dataset: Path, **changes: object) -> ExtractOptions:
        """The options ``dataset`` was extracted with, its PCA included."""
        path = dataset / EXTRACT_FILE
        try:
            made = json.loads(path.read_text(encoding="utf-8"))["options"]
        except FileNotFoundError:
            raise ExtractError(path, "missing: the dataset was not made by y8m data extract, so videos cannot be "
                                     "extracted as it was") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ExtractError(path, f"not an extraction record ({type(exc).__name__}: {exc})") from None
        known = {k: made[k] for k in cls.__dataclass_fields__ if k in made}
        return replace(cls(**known), pca=str(dataset / PCA_DIR), **changes)


@dataclass
class Progress:
    """What a progress callback is told: video ``index`` (from 0) of ``videos``, its id, frames done so far."""

    index: int
    videos: int
    video: str
    frames: int
    stage: str  # "decode", "audio", "done" (frames -1), "cached", "pca", "write"
