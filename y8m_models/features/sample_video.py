"""Sample videos written with PyAV, for tests, benchmarks and a first try: coloured shapes moving over a
background that changes scene every few seconds, with a tone whose pitch follows the scene. Deterministic
from the arguments."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from y8m_models.features.video import SAMPLE_RATE


def _picture(t: float, width: int, height: int, scene: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    hue = (scene * 0.37) % 1.0
    image = np.empty((height, width, 3), np.float32)
    image[..., 0] = 60 + 120 * hue + 40 * yy / height
    image[..., 1] = 80 + 100 * (1 - hue)
    image[..., 2] = 140 - 60 * hue + 40 * xx / width
    for k in range(3):  # three discs on their own orbits
        cx = width * (0.5 + 0.35 * np.cos(t * (0.7 + 0.3 * k) + k))
        cy = height * (0.5 + 0.35 * np.sin(t * (0.5 + 0.2 * k) + 2 * k))
        r = min(width, height) * (0.08 + 0.03 * k)
        image[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = ((255, 40, 40), (40, 220, 60), (250, 230, 50))[k]
    return image.clip(0, 255).astype(np.uint8)


def write_video(path: Path, seconds: float, *, fps: int = 10, width: int = 96, height: int = 64,
                audio: bool = True, scene_seconds: float = 4.0, codec: str = "mpeg4") -> Path:
    """An ``.mp4`` (or any container PyAV knows by the suffix) of ``seconds`` seconds."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    frames = max(1, int(round(seconds * fps)))
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if audio else None
        for n in range(frames):
            t = n / fps
            frame = av.VideoFrame.from_ndarray(_picture(t, width, height, int(t // scene_seconds)), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            samples = int(seconds * SAMPLE_RATE)
            t = np.arange(samples) / SAMPLE_RATE
            pitch = 220.0 * (1 + (t // scene_seconds) % 4)
            wave = (0.3 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)
            step = 1024
            for start in range(0, samples, step):
                chunk = wave[start:start + step][None, :]
                frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                frame.sample_rate = SAMPLE_RATE
                frame.pts = start
                frame.time_base = Fraction(1, SAMPLE_RATE)
                container.mux(sound.encode(frame))
            container.mux(sound.encode())
    return path
