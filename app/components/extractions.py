"""What the "Try a video" page says of an extraction while a worker has it: a fraction done and a line of text, from the
state its worker writes (``y8m_models.features.extraction.read_state``: ``state`` queued, extracting, predicting,
succeeded or failed; while extracting, ``video``, ``index`` of ``videos``, ``frames`` taken and ``stage``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.components.text import plain

ACTIVE = ("queued", "extracting", "predicting")  # a worker has it, or will
STALLED_SECONDS = 600  # an extraction its worker has said nothing of for this long may have lost its worker


def progress(state: Mapping[str, Any]) -> tuple[float, str]:
    """(fraction done in [0, 1], Markdown line) of an extraction in one of the ``ACTIVE`` states; the videos done count,
    not their frames (a video's length is not known before it is decoded)."""
    if state["state"] == "queued":
        return 0.0, "Queued: waiting for a worker"
    if state["state"] == "predicting":
        return 1.0, "Predicting with the run"
    if state["state"] != "extracting":
        raise ValueError(f"state {state['state']!r}: expected one of {', '.join(ACTIVE)}")
    stage = state.get("stage", "")
    if stage in ("pca", "write"):  # every video decoded: their features are written as a dataset
        return 1.0, f"Writing the features ({stage})"
    count = max(1, int(state.get("videos", 1)))
    index = min(max(0, int(state.get("index", 0))), count - 1)
    if stage in ("done", "cached"):
        return (index + 1) / count, f"Extracted {plain(state.get('video', ''))}: video {index + 1} of {count}"
    frames = max(0, int(state.get("frames", 0)))
    return index / count, (f"Extracting {plain(state.get('video', ''))}: video {index + 1} of {count}, "
                           f"{frames} frames ({stage or 'starting'})")


def stalled(state: Mapping[str, Any], now: float) -> bool:
    """A worker took it (extracting, predicting) and has written nothing for ``STALLED_SECONDS``: it may have been
    killed (a queued one waits for a worker, however long)."""
    return state["state"] in ("extracting", "predicting") and now - float(state.get("updated", now)) > STALLED_SECONDS
