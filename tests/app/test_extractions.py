"""What the "Try a video" page says of an extraction a worker has (``app.components.extractions.progress``), from
the states ``y8m_models.features.extraction`` writes."""

from __future__ import annotations

import pytest

from app.components.extractions import STALLED_SECONDS, progress, stalled


@pytest.mark.parametrize("state, expected", [
    ({"state": "queued"}, (0.0, "Queued: waiting for a worker")),
    ({"state": "extracting", "video": "b", "index": 1, "videos": 4, "frames": 33, "stage": "decode"},
     (0.25, "Extracting b: video 2 of 4, 33 frames (decode)")),
    ({"state": "extracting", "video": "my_clip", "index": 0, "videos": 1, "frames": -1, "stage": "done"},
     (1.0, r"Extracted my\_clip: video 1 of 1")),  # the id as Markdown shows it
    ({"state": "extracting", "video": "", "index": 3, "videos": 3, "frames": 0, "stage": "pca"},
     (1.0, "Writing the features (pca)")),
    ({"state": "extracting"}, (0.0, "Extracting : video 1 of 1, 0 frames (starting)")),
    ({"state": "predicting", "run": "/runs/5"}, (1.0, "Predicting with the run")),
])
def test_progress_counts_the_videos_done(state: dict, expected: tuple[float, str]) -> None:
    assert progress(state) == expected


@pytest.mark.parametrize("finished", ["succeeded", "failed"])
def test_a_finished_extraction_has_no_progress(finished: str) -> None:
    with pytest.raises(ValueError, match=f"state '{finished}': expected one of queued, extracting, predicting"):
        progress({"state": finished})


def test_an_extraction_its_worker_stopped_writing_about_is_stalled() -> None:
    now = 1_000_000.0
    assert stalled({"state": "extracting", "updated": now - STALLED_SECONDS - 1}, now)
    assert not stalled({"state": "extracting", "updated": now - 5}, now)
    assert not stalled({"state": "queued"}, now)  # waiting for a worker, however long
    assert not stalled({"state": "predicting", "updated": now - 60}, now)
