"""Pictures of synthetic frames, regenerated from synthetic.json alone (the records are never read).

A frame of a synthetic video is drawn from its plan (``synthetic_world.plan_video``): the shot's scene as a
tinted background, every rgb motif active at that frame as a coloured shape (one colour, shape and place
per motif, its size growing with the motif's amplitude) and the active audio motifs as bars in a strip at
the bottom. Filler frames look like what they stand for: dark frames are almost black, title cards are a
fixed navy card with white "text" bars. The attention page shows these next to the attention weights.
"""

from __future__ import annotations

import colorsys
import struct
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from y8m_models.data.synthetic import SynthConfig, load_config, video_index
from y8m_models.data.synthetic_world import (
    FILLER_DARK,
    FILLER_TITLE,
    STREAM_AUDIO,
    STREAM_RGB,
    VideoPlan,
    World,
    plan_video,
)

_GOLDEN = 0.6180339887


def _colour(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), np.float32) * 255.0


def _shape_mask(motif: int, amp: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Where motif ``motif`` sits in the picture: a circle, square or triangle at a place of its own."""
    cx, cy = 0.2 + (motif * 0.377) % 0.6, 0.15 + (motif * 0.719) % 0.55
    r = 0.07 + 0.06 * min(float(amp), 1.5)
    kind = motif % 3
    if kind == 0:
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if kind == 1:
        return (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    return (yy >= cy - r) & (yy <= cy + r) & (np.abs(xx - cx) <= (yy - cy + r) / 2)


def _title_card(size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    img = np.empty((size, size, 3), np.float32)
    img[:] = (22, 28, 70)
    border = (xx < 0.06) | (xx > 0.94) | (yy < 0.06) | (yy > 0.94)
    img[border] = (200, 170, 60)
    for top, left, right in ((0.34, 0.18, 0.82), (0.48, 0.28, 0.72), (0.6, 0.36, 0.64)):
        img[(yy >= top) & (yy < top + 0.07) & (xx >= left) & (xx <= right)] = 235
    return img


def draw_frame(world: World, plan: VideoPlan, frame: int, size: int = 64) -> np.ndarray:
    """uint8 [size, size, 3] picture of ``frame`` of a planned video."""
    if not 0 <= frame < plan.num_frames:
        raise IndexError(f"frame {frame} out of range: video {plan.index} has {plan.num_frames} frames")
    if size < 8:
        raise ValueError(f"thumbnail size must be at least 8 pixels (got {size})")
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    # Texture that changes from frame to frame, from the (seed, video, frame) alone.
    grain = np.random.default_rng([world.seed, 6, plan.index, frame]).integers(0, 9, (size, size, 1))
    kind = int(plan.filler[frame])
    if kind == FILLER_DARK:
        return (np.full((size, size, 3), 6.0, np.float32) + grain).astype(np.uint8)
    if kind == FILLER_TITLE:
        return _title_card(size, yy, xx).astype(np.uint8)

    scene = int(plan.shots[np.searchsorted(plan.shots[:, 1], frame, side="right"), 2])
    top, bottom = _colour(scene * _GOLDEN, 0.3, 0.75), _colour(scene * _GOLDEN + 0.05, 0.35, 0.45)
    img = top + (bottom - top) * yy[..., None]
    strip = yy > 0.86  # audio strip at the bottom
    img[strip] = 20
    active = (plan.events[:, 2] <= frame) & (frame < plan.events[:, 3])
    for (stream, motif, _, _), amp in zip(plan.events[active], plan.event_amp[active], strict=True):
        if stream == STREAM_RGB:
            img[_shape_mask(int(motif), amp, yy, xx) & ~strip] = _colour(motif * _GOLDEN + 0.1, 0.85, 0.95)
        elif stream == STREAM_AUDIO:
            left = 0.05 + (int(motif) * 0.283) % 0.85
            bar = strip & (xx >= left) & (xx < left + 0.06) & (yy > 1.0 - 0.12 * min(float(amp), 1.0))
            img[bar] = _colour(motif * _GOLDEN + 0.5, 0.7, 1.0)
    return np.clip(img + grain - 4, 0, 255).astype(np.uint8)


@lru_cache(maxsize=64)
def _plan(config: SynthConfig, index: int) -> VideoPlan:
    return plan_video(config.world(), index)


def thumbnail(dataset_dir: Path, video_id: str, frame: int, size: int = 64) -> np.ndarray:
    """uint8 [size, size, 3] picture of frame ``frame`` of video ``video_id`` of a synthetic dataset.

    Deterministic, and computed from ``dataset_dir/synthetic.json`` only (no record is read).
    """
    config = load_config(dataset_dir)
    return draw_frame(config.world(), _plan(config, video_index(config, video_id)), frame, size)


def png_bytes(image: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of ``image`` (uint8 [H, W, 3]), with zlib and struct only."""
    image = np.ascontiguousarray(image, np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {image.shape}")
    h, w, _ = image.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), image.reshape(h, w * 3)], axis=1)  # filter 0 per row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
            + chunk(b"IEND", b""))


def save_thumbnail_png(dataset_dir: Path, video_id: str, frame: int, path: Path, size: int = 64) -> Path:
    """Write ``thumbnail(...)`` as a PNG file; returns its path."""
    path = Path(path)
    path.write_bytes(png_bytes(thumbnail(dataset_dir, video_id, frame, size)))
    return path
