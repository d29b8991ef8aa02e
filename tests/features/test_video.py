"""Decoding as YouTube-8M's extractor sampled videos: 1 frame per second from the first, capped; the audio track
at 16 kHz mono; unreadable files named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from y8m_models.features.sample_video import write_video
from y8m_models.features.video import (
    SAMPLE_RATE,
    VideoError,
    audio_track,
    check_video,
    sampled_frames,
    video_files,
)


def test_one_frame_per_second_from_the_first(videos: Path) -> None:
    assert [t for t, _ in sampled_frames(videos / "long.mp4")] == [0, 1, 2, 3, 4, 5]
    assert [t for t, _ in sampled_frames(videos / "mute.mp4")] == [0, 1, 2]
    assert [t for t, _ in sampled_frames(videos / "blip.mp4")] == [0]  # shorter than a second: its first frame
    assert [t for t, _ in sampled_frames(videos / "long.mp4", max_frames=2)] == [0, 1]


def test_frames_at_a_rate_that_does_not_divide_a_second(tmp_path: Path) -> None:
    # 7 frames per second: times 0, 1/7, ...; taken: the first at or after each second past the last taken.
    write_video(tmp_path / "seven.mp4", 3.0, fps=7, audio=False)
    times = [t for t, _ in sampled_frames(tmp_path / "seven.mp4")]
    assert times == pytest.approx([0, 1, 2], abs=1e-6)


def test_the_audio_track_at_16_khz_mono(videos: Path) -> None:
    track = audio_track(videos / "long.mp4", 2.0)
    assert track.dtype == np.float32 and track.shape == (2 * SAMPLE_RATE,)
    assert 0.2 < float(np.abs(track[SAMPLE_RATE // 2:]).max()) <= 0.35  # the tone of amplitude 0.3
    assert audio_track(videos / "mute.mp4", 2.0) is None
    whole = audio_track(videos / "blip.mp4", 10.0)
    assert 0.4 * SAMPLE_RATE <= whole.size <= 0.6 * SAMPLE_RATE  # as long as the track, not the asked 10 s


def test_unreadable_files_are_named(videos: Path, corrupt: Path, tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"broken\.mp4: not a video PyAV can open"):
        check_video(corrupt)
    with pytest.raises(VideoError, match=r"broken\.mp4: not a video"):
        list(sampled_frames(corrupt))
    with pytest.raises(VideoError, match="nothing.mp4: does not exist"):
        video_files([tmp_path / "nothing.mp4"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="empty: holds no video files"):
        video_files([tmp_path / "empty"])
    assert [p.name for p in video_files([videos])] == ["blip.mp4", "long.mp4", "mute.mp4"]
