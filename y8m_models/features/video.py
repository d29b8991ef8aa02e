"""Decoding a video file with PyAV as YouTube-8M's extractor sampled it: one frame per second (the first frame,
then the first whose time is at least one second after the last taken: the rule of the official
``frame_iterator``, whose OpenCV positions can land it one frame later), at most ``max_frames`` of them (the first
360 s, as the YouTube-8M paper; the loader reads the first 300), and the audio track as 16 kHz mono floats for
VGGish. Times are counted from the video stream's start, and the audio is aligned to it.

A file that cannot be opened or decoded, or holds no video stream, is ``VideoError`` naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from y8m_models.data.errors import Y8MDataError

SAMPLE_RATE = 16000  # VGGish's input rate
MAX_FRAMES = 360  # YouTube-8M: the first 360 seconds at 1 frame per second
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts")


class VideoError(Y8MDataError):
    """A video file that cannot be read; the message names it."""


def _open(path: Path):
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(path, f"not a video PyAV can open ({type(exc).__name__}: {exc})") from None


def sampled_frames(path: Path, max_frames: int = MAX_FRAMES) -> Iterator[tuple[float, object]]:
    """(time in seconds, av.VideoFrame) of the frames taken at 1 per second, in order."""
    import av

    with _open(path) as container:
        if not container.streams.video:
            raise VideoError(path, "holds no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        origin, last, taken = _start(stream), None, 0
        try:
            for index, frame in enumerate(container.decode(stream)):
                t = float(frame.time) - origin if frame.time is not None else index / rate
                if last is None or t >= last + 1.0:
                    yield t, frame
                    last, taken = t, taken + 1
                    if taken >= max_frames:
                        return
        except av.FFmpegError as exc:
            raise VideoError(path, f"cannot be decoded after {taken} frames ({type(exc).__name__}: {exc})") from None


def _start(stream: object) -> float:
    """Where a stream starts in the file's timeline, in seconds (0 where the file does not say)."""
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def audio_track(path: Path, seconds: float) -> np.ndarray | None:
    """The first ``seconds`` of the first audio stream from the video stream's start (zeros where the audio starts
    later), float32 mono at 16 kHz; ``None`` without an audio stream."""
    import av

    wanted = int(np.ceil(seconds * SAMPLE_RATE))
    with _open(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        origin = _start(container.streams.video[0]) if container.streams.video else 0.0
        lead = int(round((_start(stream) - origin) * SAMPLE_RATE))  # > 0: audio starts after the video
        wanted -= max(lead, 0)
        wanted += max(-lead, 0)  # < 0: the audio before the video's first frame is dropped
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks, have = [], 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    have += chunks[-1].size
                if have >= wanted:
                    break
            else:
                for out in resampler.resample(None):  # what the resampler still holds
                    chunks.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            raise VideoError(path, f"its audio cannot be decoded ({type(exc).__name__}: {exc})") from None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    samples = samples[:max(wanted, 0)]
    return np.concatenate([np.zeros(lead, np.float32), samples]) if lead > 0 else samples[-lead:]


def check_video(path: Path) -> None:
    """``VideoError`` unless ``path`` opens and holds a video stream (before hours of extraction, not after)."""
    with _open(path) as container:
        if not container.streams.video:
            raise VideoError(path, "holds no video stream")


def video_files(paths: list[Path]) -> list[Path]:
    """The video files named, or found (by suffix) in the folders named, in order; ``VideoError`` for a name that
    is neither, or a folder without any."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise VideoError(path, f"holds no video files ({', '.join(VIDEO_SUFFIXES)})")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise VideoError(path, "does not exist")
    return out


def video_id(path: Path) -> str:
    """A video's id in the dataset: its file name without the suffix."""
    return path.stem
