"""Pictures of a video's frames for the attention gallery: a strip drawn from the frame features (real data
ships no thumbnails) and the bytes of user-supplied frame images.

Shapes: T frames (one per second), D features per frame, H x W x 3 uint8 images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLUMN_PX = 4  # each frame's column is this many pixels wide
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def feature_strip(features_TD: np.ndarray, height: int = 48) -> np.ndarray:
    """uint8 [height, T * COLUMN_PX, 3]: one column per frame, coloured by the frame's D features split into
    three equal chunks (red, green, blue), each chunk averaged, then each channel stretched to 0..255 over the
    video (a channel constant over the video is mid-grey). Pass only the video's real frames, not its padding.
    Deterministic; T = 0 gives a [height, 0, 3] image."""
    x_TD = np.asarray(features_TD, dtype=np.float64)
    if x_TD.ndim != 2:
        raise ValueError(f"features_TD: expected [T frames, D features], got shape {x_TD.shape}")
    if height < 1:
        raise ValueError(f"height: expected >= 1 pixel, got {height}")
    T, D = x_TD.shape
    if T == 0:
        return np.zeros((height, 0, 3), np.uint8)
    if D == 0:
        raise ValueError("features_TD: frames have no features (D = 0)")
    # with D < 3 the chunks repeat the features instead of coming out empty
    chunks = np.array_split(np.arange(D), 3) if D >= 3 else [np.array([c % D]) for c in range(3)]
    rgb_T3 = np.stack([x_TD[:, idx].mean(axis=1) for idx in chunks], axis=1)
    lo_3, hi_3 = rgb_T3.min(axis=0), rgb_T3.max(axis=0)
    span_3 = hi_3 - lo_3
    scaled_T3 = np.where(span_3 > 0, (rgb_T3 - lo_3) / np.where(span_3 > 0, span_3, 1.0), 0.5)
    column_T3 = np.rint(scaled_T3 * 255.0).astype(np.uint8)
    row_W3 = np.repeat(column_T3, COLUMN_PX, axis=0)  # [T * COLUMN_PX, 3]
    return np.ascontiguousarray(np.broadcast_to(row_W3, (height, *row_W3.shape)))


def frame_image(frames_dir: Path | None, video_id: str, second: int) -> bytes | None:
    """The bytes of ``frames_dir/<video_id>/<second>.jpg`` (or .jpeg, .png) when such a file exists, else None
    (also when ``frames_dir`` is None). A ``video_id`` that could leave ``frames_dir`` (a path separator, "..",
    or empty) is refused with ValueError."""
    if not video_id or "/" in video_id or "\\" in video_id or ".." in video_id:
        raise ValueError(f"video_id {video_id!r}: must be a plain name, without '/', '\\' or '..'")
    if second < 0:
        raise ValueError(f"second: expected >= 0, got {second} (video {video_id!r})")
    if frames_dir is None:
        return None
    for suffix in FRAME_SUFFIXES:
        path = Path(frames_dir) / video_id / f"{int(second)}{suffix}"
        if path.is_file():
            return path.read_bytes()
    return None
