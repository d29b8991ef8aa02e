"""Attention: a run with attention weights (#23-#27 and the models built on them; beyond the paper, NeXtVLAD's
group attention and WILLOW's soft cluster assignments, #81-#86, as each group's share per frame) and one of the
videos its worker kept: per attention group the 4 lowest- and 4 highest-weighted frames (the paper's Fig. 5), the
weights over time, the share of attention on the ground-truth uninformative frames (synthetic data), the
video's labels and the run's top predictions. Frames: the synthetic generator's thumbnails, those ``y8m data
extract`` kept of a user's videos (``DATASET/frames/<video_id>/<second>.jpg``), a frames folder
(``Y8M_FRAMES_DIR/<video_id>/<second>.jpg``) for YouTube-8M's data, else a strip drawn from the frame features."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from app import data
from app.components import figures, frames
from app.components.text import plain

GALLERY_GROUPS = 8  # at most this many groups' rows of frames

st.title("Attention frame gallery")
runs = data.runs_with("attention")
if not runs:
    st.info("No run with attention weights yet: train one of #23-#27 (Launch), its worker keeps the "
            "attention of 20 validate2 videos.")
    st.stop()
run = st.selectbox("Run", runs, format_func=lambda r: r["label"], key="attention_run")
split = st.selectbox("Split", sorted(run["files"]), key="attention_split")
dump = data.load_npz(run["files"][split])
videos = sorted(k.split("/", 1)[1] for k in dump if k.startswith("weights/"))
video = st.selectbox("Video", videos, key="attention_video")
weights_TK = dump[f"weights/{video}"]
weights_KT = np.atleast_2d(weights_TK.T if weights_TK.ndim == 2 else weights_TK)
T = weights_KT.shape[1]
truth = data.uninformative(run["dataset"]).get(video)
flags_T = truth[:T] if truth is not None else None

names = data.class_names(run["dataset"])
labels = [names[i] if i < len(names) else str(i) for i in dump.get(f"labels/{video}", np.array([], int))]
top = data.top_predictions(run["dir"], split, video)
left, right = st.columns(2)
left.markdown("**Labels:** " + (", ".join(map(plain, labels)) or "none"))
right.markdown("**Top predictions:** " + ", ".join(f"{plain(names[c]) if c < len(names) else c} {p:.2f}"
                                                   for c, p in top))
if flags_T is not None:
    share = figures.uninformative_share(weights_KT, flags_T)
    st.metric("Attention on uninformative frames (ground truth)", f"{np.nanmean(share):.1%}",
              help=f"{flags_T.mean():.0%} of this video's frames are uninformative (dark or title cards); "
                   "per group: " + ", ".join(f"{s:.1%}" for s in share))
shown = list(range(weights_KT.shape[0]))
if len(shown) > GALLERY_GROUPS:  # WILLOW's NetVLAD has 256 clusters at the paper's sizes
    shown = figures.focused_groups(weights_KT, GALLERY_GROUPS, T)
    st.caption(f"The frames: the {GALLERY_GROUPS} most focused of its {weights_KT.shape[0]} groups (highest single "
               f"weight), groups {', '.join(str(k + 1) for k in shown)}.")
st.plotly_chart(figures.attention_over_time(weights_KT, flags_T, T), key="attention_over_time")

frames_dir = Path(os.environ["Y8M_FRAMES_DIR"]) if os.environ.get("Y8M_FRAMES_DIR") else None
sketch = dump.get(f"sketch/{video}")


def _picture(frame: int) -> bytes | np.ndarray | None:
    image = data.thumbnail(run["dataset"], video, frame) or frames.frame_image(frames_dir, video, frame)
    if image is None and sketch is not None:
        return frames.feature_strip(sketch.astype(np.float32)[max(0, frame - 2):frame + 3], height=64)
    return image


for k, (lowest, highest) in enumerate(figures.extreme_frames(weights_KT, 4, T)):
    if k not in shown:
        continue
    st.markdown(f"**Group {k + 1}**: lowest weights (left), highest (right)")
    columns = st.columns(8)
    for column, frame in zip(columns, [*lowest, *highest], strict=False):
        picture = _picture(frame)
        caption = f"{frame} s, {weights_KT[k, frame]:.3f}" + (" ✗" if flags_T is not None and flags_T[frame] else "")
        if picture is None:
            column.caption(caption)
        else:
            column.image(picture, caption=caption, width="stretch")
if flags_T is not None:
    st.caption("✗: a ground-truth uninformative frame (the synthetic generator's dark frames and title cards).")
