"""Sample videos written once per session with PyAV: moving shapes with a tone, one without audio, one shorter
than a second, one corrupt."""

from __future__ import annotations

from pathlib import Path

import pytest

from y8m_models.features.sample_video import write_video


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "long.mp4", 5.5)
    write_video(folder / "mute.mp4", 3.0, audio=False)
    write_video(folder / "blip.mp4", 0.5)
    return folder


@pytest.fixture()
def corrupt(tmp_path: Path) -> Path:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    return path
