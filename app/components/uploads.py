"""Videos uploaded on the "Try a video" page, kept on this machine: the size limit of one upload, the names its
files are stored under, and writing them into an extraction's folder.

A stored name is the uploaded one reduced to a plain file name (no folder, nothing that could leave the extraction's
folder, ASCII letters, digits, "_" and "-" before a known video suffix), made unique within the upload: its stem
is the video's id in the extracted dataset (``y8m_models.features.video.video_id``), so two files must not share
one. The limit is for all files of one upload together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from y8m_models.features.video import VIDEO_SUFFIXES

LIMIT_VARIABLE = "Y8M_UPLOAD_MB"
DEFAULT_LIMIT_MB = 200
MB = 1024 * 1024  # Streamlit's megabyte (server.maxUploadSize)
MAX_STEM = 80  # characters kept of a name's stem
MAX_FILES = 20  # videos in one upload
UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class UploadError(ValueError):
    """An upload that is not stored; the message names the file, the limit or the setting."""


def limit_mb(environ: Mapping[str, str]) -> int:
    """The upload limit in MB: ``Y8M_UPLOAD_MB`` (default 200), a positive whole number."""
    text = (environ.get(LIMIT_VARIABLE) or "").strip()
    if not text:
        return DEFAULT_LIMIT_MB
    if not text.isdigit() or int(text) < 1:
        raise UploadError(f"{LIMIT_VARIABLE}={text!r}: expected a positive whole number of megabytes (default "
                          f"{DEFAULT_LIMIT_MB})")
    return int(text)


def safe_name(name: str) -> str:
    """``name`` as a plain file name: its last path part, the stem's runs of other characters than ASCII letters,
    digits, "_" and "-" as one "_" (trimmed; empty: "video"; at most ``MAX_STEM`` characters), the suffix in
    lower case. ``UploadError`` unless the suffix is a video's (``VIDEO_SUFFIXES``)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = base.rpartition(".")
    suffix = f".{extension.lower()}" if dot else ""
    if suffix not in VIDEO_SUFFIXES:
        raise UploadError(f"{name}: not a video file name (expected one ending in {', '.join(VIDEO_SUFFIXES)})")
    stem = UNSAFE.sub("_", stem).strip("_-")[:MAX_STEM] or "video"
    return stem + suffix


def stored_names(uploads: Sequence[tuple[str, int]], limit: int) -> list[str]:
    """The names the uploaded files (name, bytes) are stored under, checked: at least one file, all of them
    together within ``limit`` MB, each a video's name (``safe_name``); a stem taken by an earlier file gets
    "-2", "-3", ... ``UploadError`` names the file at fault."""
    if not uploads:
        raise UploadError("no video chosen: choose one or more video files first")
    if len(uploads) > MAX_FILES:
        raise UploadError(f"{len(uploads)} videos in one upload: at most {MAX_FILES}")
    total = 0
    for name, size in uploads:
        total += size
        if total > limit * MB:
            within = f"{name} ({size / MB:.1f} MB)" if len(uploads) == 1 else \
                f"{name} ({size / MB:.1f} MB) brings the upload to {total / MB:.1f} MB, which"
            raise UploadError(f"{within} is over the limit of {limit} MB for one upload ({LIMIT_VARIABLE}): "
                              "upload fewer or shorter videos")
    taken: set[str] = set()
    names = []
    for name, _ in uploads:
        stem, suffix = _split(safe_name(name))
        unique = next(s for s in (stem, *(f"{stem}-{k}" for k in range(2, len(uploads) + 2)))
                      if s.lower() not in taken)
        taken.add(unique.lower())
        names.append(unique + suffix)
    return names


def _split(name: str) -> tuple[str, str]:
    stem, _, extension = name.rpartition(".")
    return stem, f".{extension}"


def save_uploads(uploads: Sequence[tuple[str, bytes | memoryview]], folder: Path, limit: int) -> list[Path]:
    """Write the uploaded files (name, content) into ``folder`` (created) under their ``stored_names``; the paths,
    in order. Checked before anything is written (``UploadError``); an existing file is never replaced."""
    names = stored_names([(name, len(content)) for name, content in uploads], limit)
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    paths = []
    for name, (_, content) in zip(names, uploads, strict=True):
        path = root / name
        if path.parent != root:  # safe_name leaves no separator; kept as the rule this module exists for
            raise UploadError(f"{name}: would be written outside {root}")
        with open(path, "xb") as out:
            out.write(content)
        paths.append(path)
    return paths
