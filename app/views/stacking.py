"""Stacking: a stacking run's learned weights: the members x classes heatmap of class-wise weights
(classes ordered by frequency in train1, filter and zoom), each member's average weight, and for attention
weighted stacking the mixture per video and the weights it gives."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import data
from app.components import figures

st.title("Stacking weights")
runs = data.runs_with("stacking_weights")
if not runs:
    st.info("No stacking run yet: launch an ensemble such as #75 (class-wise stacking of four models).")
    st.stop()
run = st.selectbox("Stacking run", runs, format_func=lambda r: r["label"], key="stacking_run")
weights = data.load_npz(next(iter(run["files"].values())))
members = [str(m) for m in weights["members"]]
class_weights_MC = weights["class_weights"]
names = data.class_names(run["dataset"])
if len(names) != class_weights_MC.shape[1]:  # a vocabulary of another size: class indices instead
    names = [str(c) for c in range(class_weights_MC.shape[1])]
order = data.class_order(run["dataset"], class_weights_MC.shape[1])
left, right = st.columns([3, 1])
query = left.text_input("Only classes whose name contains", key="stacking_filter")
top = right.number_input("Classes shown", min_value=10, max_value=2000, value=200, step=50, key="stacking_top")
if query:
    order = np.array([c for c in order if query.lower() in names[c].lower()], dtype=np.int64)
st.plotly_chart(figures.stacking_heatmap(class_weights_MC, members, names, order, int(top)),
                key="stacking_heatmap")
st.plotly_chart(figures.member_weights(class_weights_MC, members), key="stacking_members")
if "alpha" in weights:
    videos = [str(v) for v in weights["videos"]]
    alpha_NK = weights["alpha"][:len(videos)]
    st.plotly_chart(figures.mixture(alpha_NK, videos), key="stacking_mixture")
    if "video_weights" in weights and len(videos):
        video = st.selectbox("Video", range(len(videos)), format_func=lambda i: videos[i], key="stacking_video")
        st.plotly_chart(figures.stacking_heatmap(weights["video_weights"][video], members, names, order, int(top)),
                        key="stacking_video_heatmap")
