"""Try a video: upload one or a few videos, pick a trained run, and a worker extracts them as that run's dataset was
extracted (the same networks and PCA: ``y8m data extract``) and predicts on them (``worker.extract``). The page then
shows each video's top 20 labels with their scores and, for a model with attention, its own frames with the lowest
and highest weights per group (the paper's Fig. 5) and the weights over time.

Uploads are kept on this machine, in the extraction's folder (``$Y8M_HOME/extractions/<name>/uploads/``), at most
``Y8M_UPLOAD_MB`` (200) MB per upload. Extractions are read back from their folders: any of them can be opened
again (``?extraction=<folder name>``)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import data
from app.components import extractions, figures, uploads
from app.components.text import plain
from y8m_models.features.video import VIDEO_SUFFIXES

GALLERY_GROUPS = 8  # at most this many groups' rows of frames, as on the Attention page
UPLOADS_DIR = "uploads"

st.title("Try a video")
st.caption("Your videos are extracted as the chosen run's dataset was (its networks and PCA) by a worker, then the "
           "run predicts their labels. They stay on this machine, in the extraction's folder under "
           "$Y8M_HOME/extractions.")
runs = data.tryable_runs()
try:
    limit = uploads.limit_mb(os.environ)
except uploads.UploadError as exc:
    st.error(str(exc))
    st.stop()


def _submit(files: list, run: dict, queue: str) -> str | None:
    """The uploads stored in a new extraction folder, sent to ``queue``; the extraction's name, or None (said
    why)."""
    from worker.extract import new_extraction_dir, submit
    from worker.runs import SubmitError
    from y8m_models.features.options import ExtractOptions

    folder = new_extraction_dir(data.settings())
    try:  # nothing is written of an upload refused
        videos = uploads.save_uploads([(f.name, f.getbuffer()) for f in files], folder / UPLOADS_DIR, limit)
        # with a run, the options give the device only: the networks and PCA are its dataset's
        submit(videos, ExtractOptions(), folder=folder, run_id=run["id"], queue=queue, settings=data.settings())
    except (uploads.UploadError, SubmitError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        st.error(str(exc))
        return None
    return folder.name


if not runs:
    st.info("No run can try a video yet: it takes a succeeded training run on a dataset made from videos. Extract "
            "labelled videos with `y8m data extract VIDEOS $Y8M_HOME/datasets/NAME --labels labels.csv` (a CSV "
            "`video_id,labels`, labels separated by `;`), then train a model on it: `y8m runs submit --config 25 "
            "--data NAME` or the Launch page (register the folder on the Datasets page first).")
else:
    with st.form("try_form"):
        files = st.file_uploader("Videos", type=list(VIDEO_SUFFIXES), accept_multiple_files=True, key="try_videos",
                                 max_upload_size=limit, help=f"At most {limit} MB in all ({uploads.LIMIT_VARIABLE})")
        run = st.selectbox("Trained run", runs, format_func=lambda r: r["label"], key="try_run",
                           help="Succeeded training runs on datasets made by y8m data extract.")
        queue = st.radio("Queue", ["cpu", "gpu"], horizontal=True, key="try_queue")
        if st.form_submit_button("Extract and predict", key="try_submit"):
            name = _submit(files or [], run, queue)
            if name:
                data.try_extractions.clear()
                st.session_state["try_extraction"] = name
    st.caption("Single models only: stacks (ensembles) and cascades cannot predict on new videos yet.")
    if any(r["random_weights"] for r in runs):
        st.caption("Runs whose dataset was extracted with random network weights (`--random-weights`) test the "
                   "pipeline only: their predictions mean nothing.")

listed = {j["name"]: j for j in data.try_extractions()}
if not listed:
    st.stop()
run_labels = {r["dir"]: r["label"] for r in runs}
asked = st.query_params.get("extraction")
if "try_extraction" not in st.session_state and asked in listed:
    st.session_state["try_extraction"] = asked
if st.session_state.get("try_extraction") not in listed:
    st.session_state.pop("try_extraction", None)
st.subheader("Extractions")
# no state in the labels: the browser keeps showing a chosen option's first label while the extraction moves on
chosen = st.selectbox("Extraction", list(listed), key="try_extraction", format_func=lambda n: (
    f"{n}: {', '.join(listed[n]['videos'])} with "
    f"{run_labels.get(listed[n]['run_dir'], 'the run in ' + listed[n]['run_dir'])}"))
st.query_params["extraction"] = chosen
picked = listed[chosen]


@st.fragment(run_every=2)
def _progress(folder: str, drawn_as: str, queue: str) -> None:
    """Polls the extraction; the whole page is drawn again once its state changes (to show its result or error)."""
    state = data.extraction_state(folder)
    if state["state"] != drawn_as:
        st.rerun(scope="app")
    done, line = extractions.progress(state)
    if state["state"] == "queued":
        st.info(f"{line} on the {queue} queue (`make run` starts one here; `y8m worker --queues {queue}` elsewhere).")
    else:
        st.progress(done, text=line)


def _gallery(folder: str, state: dict, video: str, frames_taken: int) -> None:
    """The video's attention: weights over time, then per group its lowest- and highest-weighted frames."""
    weights_TK = data.load_npz(str(Path(folder) / state["attention"])).get(f"weights/{video}")
    if weights_TK is None:
        st.caption("The run kept no attention weights for this video.")
        return
    weights_KT = np.atleast_2d(weights_TK.T if weights_TK.ndim == 2 else weights_TK)
    T = min(weights_KT.shape[1], frames_taken)
    shown = list(range(weights_KT.shape[0]))
    if len(shown) > GALLERY_GROUPS:
        shown = figures.focused_groups(weights_KT, GALLERY_GROUPS, T)
        st.caption(f"The frames: the {GALLERY_GROUPS} most focused of its {weights_KT.shape[0]} groups (highest "
                   f"single weight), groups {', '.join(str(k + 1) for k in shown)}.")
    st.plotly_chart(figures.attention_over_time(weights_KT, None, T), key="try_attention_over_time")
    per_side = max(1, min(4, T // 2))  # a short video's lowest and highest frames are not the same ones twice
    for k, (lowest, highest) in enumerate(figures.extreme_frames(weights_KT, per_side, T)):
        if k not in shown:
            continue
        st.markdown(f"**Group {k + 1}**: lowest weights (left), highest (right)")
        for column, frame in zip(st.columns(8), [*lowest, *highest], strict=False):
            picture = data.extraction_frame(state["dataset"], video, frame)
            caption = f"{frame} s, {weights_KT[k, frame]:.3f}"
            if picture is None:
                column.caption(caption)
            else:
                column.image(picture, caption=caption, width="stretch")


def _send_again(folder: str, why: str) -> None:
    """A button that sends the extraction again: it goes on at the next video its cache does not hold."""
    from worker.extract import resend

    if st.button("Send again", key="try_resend", help=why):
        resend(Path(folder), data.settings())
        st.toast("Sent again")


state = data.extraction_state(picked["folder"])
if state["state"] in extractions.ACTIVE:
    _progress(picked["folder"], state["state"], picked["queue"])
    if extractions.stalled(state, time.time()):
        st.warning(f"No word from its worker for over {extractions.STALLED_SECONDS // 60} minutes: it may have "
                   "stopped.")
        _send_again(picked["folder"], "Only if no worker has it any more: two would work on it at once.")
elif state["state"] == "failed":
    st.error(f"The extraction failed: {plain(state.get('error') or 'no reason given')}")
    _send_again(picked["folder"], "After fixing what failed: the videos extracted already are not done again.")
else:
    st.markdown(f"**{plain(state['run']['name'])}** on {len(state['videos'])} video(s)")
    video = st.selectbox("Video", list(state["videos"]), key=f"try_video_{chosen}")
    made = state["videos"][video]
    st.caption(f"{made['frames']} frames (one per second)" + ("" if made["audio"] else ", no audio: silence"))
    st.dataframe(pd.DataFrame([{"rank": i + 1, "label": t["name"], "class": t["class"], "score": t["score"]}
                               for i, t in enumerate(made.get("top", []))],
                              columns=["rank", "label", "class", "score"]),
                 hide_index=True, key="try_top", column_config={"score": st.column_config.NumberColumn(format="%.4f")})
    if state.get("attention"):
        _gallery(picked["folder"], state, video, made["frames"])
    else:
        st.caption("This model has no attention weights to show over the frames (those with attention: #23-#27, "
                   "the models built on them, #81-#86).")
