"""The demo: three of the paper's findings that a few minutes of training on the ``paper``
synthetic dataset show, judged on the runs' artifacts.

``DEMO`` is what the demo submits (``y8m paper --demo``, the Paper page's demo button, or ``y8m runs submit
--config 23,25,75 --preset tiny``): the local-AP LSTM #23, the multi-AP LSTM #25 and #75, the class-wise
stacking of #2 (video-level Chaining), #10 (parallel LSTM), #18 (Chaining CNN) and #25. ``findings`` reads
their validate2 GAPs, #25's attention on the first validate2 videos (the worker keeps 20) with the synthetic
ground truth of which frames are uninformative, and #75's class-wise weights, and says for each finding
whether it shows:

1. **frame models above the video-level model** (paper Tables 5-7: every frame model above #2): which of the
   frame-level runs have a validate2 GAP above #2's; shown when all of ``FRAME_MODELS`` are, as in the paper,
   not shown as soon as one is not (the line gives how many are);
2. **attention avoids the uninformative frames** (paper Fig. 5): the share of #25's attention on the filler
   frames (dark frames, title cards) against their share of the frames; shown when the ratio is at most
   ``CLEARLY_LESS``;
3. **stack members carry different classes** (paper §8: class-wise weights follow the members' strengths):
   for each member, the classes where it has the largest weight; shown when at least two members are the
   heaviest on ``CARRIES`` of the classes or more.

Pure numpy: the worker (``worker.paper.demo``) and the dashboard gather the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DEMO = (23, 25, 75)
VIDEO_MODEL = 2  # video-level Chaining: the yardstick of the frame models (paper Table 5)
FRAME_MODELS = (10, 18, 23, 25)  # the frame-level models the demo trains (#75's members and #23)
ATTENTION_MODEL, STACK_MODEL = 25, 75
CLEARLY_LESS = 0.5  # attention on filler at most half the filler's share of the frames
CARRIES = 0.1  # a member "carries" classes when it is the heaviest on at least 10% of them


def uninformative_share(weights_KT: np.ndarray, uninformative_T: np.ndarray) -> np.ndarray:
    """[K] per attention group, the share of its attention on uninformative frames: the group's weights are
    normalised to sum 1 over the T frames, then summed over the frames flagged in ``uninformative_T`` (bool [T]).
    A group whose weights sum to 0 gets NaN."""
    w_KT = np.asarray(weights_KT, dtype=np.float64)
    u_T = np.asarray(uninformative_T, dtype=bool)
    if w_KT.ndim != 2 or u_T.shape != (w_KT.shape[1],):
        raise ValueError(f"weights [K, T] and flags [T] expected, got {w_KT.shape} and {u_T.shape}")
    total_K = w_KT.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total_K > 0, w_KT[:, u_T].sum(axis=1) / total_K, np.nan)


def frame_vs_video(gaps: Mapping[int, float]) -> dict[str, Any]:
    """Finding 1 from validate2 GAPs by configuration number (#2 and any of ``FRAME_MODELS``)."""
    video = gaps.get(VIDEO_MODEL)
    frame = {n: gaps[n] for n in FRAME_MODELS if n in gaps}
    above = [n for n, g in frame.items() if video is not None and g > video]
    rows = ", ".join(f"#{n} {g:.4f} ({g - video:+.4f})" for n, g in frame.items()) if video is not None else ""
    line = (f"Frame-level models above the video-level #{VIDEO_MODEL} ({video:.4f}) on validate2: "
            f"{len(above)} of {len(frame)}: {rows}" if video is not None and frame else "not measured yet")
    return {"finding": "frame models above the video-level model", "video_gap": video,
            "frame_gaps": {str(n): g for n, g in frame.items()}, "above": above,
            "shows": _all_of(len(above), len(frame), len(FRAME_MODELS)) if video is not None else None,
            "line": line}


def _all_of(passed: int, measured: int, expected: int) -> bool | None:
    """True when every one of ``expected`` passed, False as soon as a measured one did not, else None."""
    if passed < measured:
        return False
    return True if measured == expected else None


def attention_on_filler(weights: Mapping[str, np.ndarray], uninformative: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Finding 2 from an attention run's dump (``weights[video]``: [T, K] or [T] for one group, T its frames, as
    ``save_attention`` writes it) and the ground truth (``uninformative[video]``: bool [>= T]); videos without
    ground truth or without filler are left out. ``attention_share``: the mean over videos of the mean over groups of
    ``uninformative_share``; ``frame_share``: the mean over the same videos of their filler fraction."""
    attention, frames = [], []
    for video, w_TK in weights.items():
        flags = uninformative.get(video)
        if flags is None:
            continue
        w_TK = np.asarray(w_TK)
        w_KT = np.atleast_2d(w_TK.T if w_TK.ndim == 2 else w_TK)
        u_T = np.asarray(flags, dtype=bool)[: w_KT.shape[1]]
        if len(u_T) < w_KT.shape[1] or not u_T.any():
            continue
        attention.append(float(np.nanmean(uninformative_share(w_KT, u_T))))
        frames.append(float(u_T.mean()))
    if not attention:
        return {"finding": "attention avoids the uninformative frames", "videos": 0, "shows": None,
                "line": "not measured yet: no attention dump with ground-truth filler frames"}
    a, f = float(np.mean(attention)), float(np.mean(frames))
    ratio = a / f
    return {"finding": "attention avoids the uninformative frames", "videos": len(attention), "attention_share": a,
            "frame_share": f, "ratio": ratio, "shows": ratio <= CLEARLY_LESS,
            "line": f"#{ATTENTION_MODEL}'s attention on the uninformative frames: {a:.1%} of it, on {f:.1%} of the "
                    f"frames ({len(attention)} validate2 videos): ratio {ratio:.2f}"}


def carried_classes(class_weights_MC: np.ndarray, members: Sequence[str]) -> dict[str, Any]:
    """Finding 3 from a class-wise stack's weights [M, C]: for each member, on how many classes its weight is
    the largest (ties to the first member), and its mean weight."""
    w_MC = np.asarray(class_weights_MC, dtype=np.float64)
    if w_MC.ndim != 2 or w_MC.shape[0] != len(members):
        raise ValueError(f"class weights [M, C] for {len(members)} members expected, got {w_MC.shape}")
    heaviest = np.bincount(w_MC.argmax(axis=0), minlength=len(members))
    C = w_MC.shape[1]
    carrying = [m for m, n in zip(members, heaviest, strict=True) if n >= CARRIES * C]
    shares = ", ".join(f"{m} {n} ({n / C:.0%})" for m, n in zip(members, heaviest, strict=True))
    return {"finding": "stack members carry different classes", "classes": C,
            "heaviest": {m: int(n) for m, n in zip(members, heaviest, strict=True)},
            "mean_weight": {m: float(w) for m, w in zip(members, w_MC.mean(axis=1), strict=True)},
            "carrying": carrying, "shows": len(carrying) >= 2,
            "line": f"#{STACK_MODEL}'s class-wise weights: the classes where each member weighs most: {shares}"}


def findings(gaps: Mapping[int, float], attention: Mapping[str, np.ndarray] | None,
             uninformative: Mapping[str, np.ndarray],
             stack: tuple[np.ndarray, Sequence[str]] | None) -> dict[str, Any]:
    """The three findings (``frame_vs_video``, ``attention_on_filler``, ``carried_classes``; a finding whose run
    has not succeeded yet is ``shows: None``) and how many show."""
    found = [frame_vs_video(gaps),
             attention_on_filler(attention or {}, uninformative),
             carried_classes(*stack) if stack is not None else
             {"finding": "stack members carry different classes", "shows": None, "line": "not measured yet"}]
    return {"findings": found, "shown": sum(f["shows"] is True for f in found), "of": len(found)}


def to_markdown(result: Mapping[str, Any]) -> str:
    """The findings as Markdown lines: ``shows`` / ``does not show`` / ``not measured yet``, then the figures."""
    marks = {True: "**shows**", False: "**does not show**", None: "**not measured yet**"}
    lines = [f"Demo: {result['shown']} of {result['of']} findings show.", ""]
    lines += [f"- {marks[f['shows']]}: {f['finding']}. {f['line']}" for f in result["findings"]]
    return "\n".join(lines) + "\n"
