"""Which features a dataset's records carry: their names and widths at each level, in model-input order.

A dataset says it in ``features.json``, in the dataset directory (or a level directory, ``frame/`` or ``video/``)::

    {"frame": [{"name": "clip", "size": 512}], "video": [{"name": "mean_clip", "size": 512}]}

A dataset without one is YouTube-8M's: frame-level ``rgb`` 1024 + ``audio`` 128 (8-bit codes), video-level
``mean_rgb`` 1024 + ``mean_audio`` 128 (float32). Frame-level features are 8-bit codes dequantized as the official
reader whatever their names. The reader finds the layout beside the files it reads; a run records the layout it
trained on (``run.json``), and a model refuses data of another layout, naming both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from y8m_models.data.errors import Y8MDataError
from y8m_models.data.records import FRAME_SPEC, VIDEO_SPEC, FeatureSpec, Level

LAYOUT_FILE = "features.json"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class FeatureLayout:
    frame: FeatureSpec
    video: FeatureSpec

    def spec(self, level: Level) -> FeatureSpec:
        return self.frame if level == "frame" else self.video

    def describe(self, level: Level) -> str:
        """``rgb 1024 + audio 128``."""
        spec = self.spec(level)
        return " + ".join(f"{name} {size}" for name, size in zip(spec.names, spec.sizes, strict=True))

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {spec.level: [{"name": n, "size": s} for n, s in zip(spec.names, spec.sizes, strict=True)]
                for spec in (self.frame, self.video)}

    @classmethod
    def from_json(cls, data: Any, where: str) -> FeatureLayout:
        """The layout of ``features.json``'s content; ``Y8MDataError`` naming ``where`` and the field otherwise."""
        if not isinstance(data, dict) or set(data) != {"frame", "video"}:
            raise Y8MDataError(where, 'expected {"frame": [...], "video": [...]}, each a list of {"name": ..., '
                                      '"size": ...}')
        specs = {}
        for level in ("frame", "video"):
            entries = data[level]
            if not isinstance(entries, list) or not entries:
                raise Y8MDataError(where, f"{level}: expected a non-empty list of {{\"name\": ..., \"size\": ...}}")
            names, sizes = [], []
            for k, entry in enumerate(entries):
                field = f"{level}[{k}]"
                if not isinstance(entry, dict) or set(entry) != {"name", "size"}:
                    raise Y8MDataError(where, f"{field}: expected {{\"name\": ..., \"size\": ...}}, not {entry!r}")
                name, size = entry["name"], entry["size"]
                if not isinstance(name, str) or not name or set(name) - _NAME_CHARS:
                    raise Y8MDataError(where, f"{field}.name: {name!r} is not a feature name (lower-case letters, "
                                              "digits, _)")
                if name in names or name in ("id", "video_id", "labels"):
                    raise Y8MDataError(where, f"{field}.name: {name!r} is " + (
                        "named twice" if name in names else "a record key of its own (id, video_id, labels)"))
                if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 65536:
                    raise Y8MDataError(where, f"{field}.size: {size!r} is not a width from 1 to 65536")
                names.append(name)
                sizes.append(size)
            specs[level] = FeatureSpec(level, tuple(names), tuple(sizes))
        return cls(specs["frame"], specs["video"])


YOUTUBE_8M = FeatureLayout(FRAME_SPEC, VIDEO_SPEC)


def layout_file(directory: str | Path) -> Path | None:
    """``features.json`` of the dataset at ``directory``: in a level directory (``frame``, ``video``) or the
    dataset directory above it; from a dataset directory, in it or in one of its level directories. Never above
    the dataset (a data root holds many)."""
    directory = Path(directory)
    if directory.name in ("frame", "video"):
        candidates = (directory, directory.parent)
    else:
        candidates = (directory, directory / "frame", directory / "video")
    return next((c / LAYOUT_FILE for c in candidates if (c / LAYOUT_FILE).is_file()), None)


def find_layout(directory: str | Path) -> FeatureLayout:
    """The layout of the dataset at ``directory`` (or of a level directory in it): its ``features.json``, or
    YouTube-8M's where it has none."""
    found = layout_file(directory)
    if found is None:
        return YOUTUBE_8M
    try:
        data = json.loads(found.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Y8MDataError(found, f"not a feature layout ({type(exc).__name__}: {exc})") from None
    return FeatureLayout.from_json(data, str(found))


def layout_of_files(files: Sequence[str | Path]) -> FeatureLayout:
    """The layout beside record files: one for all of them (files of two datasets with different layouts
    cannot be read as one)."""
    folders = sorted({Path(f).parent for f in files})
    layouts = {folder: find_layout(folder) for folder in folders}
    first = layouts[folders[0]]
    for folder, layout in layouts.items():
        if layout != first:
            raise Y8MDataError(folder, f"its features ({layout.describe('frame')}) are not those of "
                                       f"{folders[0]} ({first.describe('frame')}): read one dataset at a time")
    return first


def write_layout(directory: str | Path, layout: FeatureLayout) -> Path:
    """``features.json`` in the dataset directory."""
    from y8m_models import atomic

    path = Path(directory) / LAYOUT_FILE
    atomic.write_text(path, json.dumps(layout.to_json(), indent=1) + "\n")
    return path


def check_same(trained: FeatureLayout, data: FeatureLayout, level: Level, what: str, where: str | Path) -> None:
    """A model trained on ``trained`` features refuses ``data`` of another layout, naming both."""
    if trained.spec(level) != data.spec(level):
        raise Y8MDataError(where, f"{what} was trained on {level}-level features {trained.describe(level)}; this "
                                  f"data has {data.describe(level)}")
