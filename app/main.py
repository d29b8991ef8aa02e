"""The dashboard's entry: ``streamlit run app/main.py`` (``make run`` starts it beside a worker).

An optional password for shared deployments: ``Y8M_APP_PASSWORD``; the app binds 127.0.0.1 unless
``app/serve.py`` is told otherwise, and shows nothing but an error when it is reachable beyond this machine
without a password (``app/exposure.py``)."""

from __future__ import annotations

import hmac
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ first, not the project
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.exposure import WRONG_PASSWORD_SECONDS, exposure_problem  # noqa: E402
from worker.runs import count_parameters_apart  # noqa: E402

count_parameters_apart()  # this process never loads torch: a submission's parameters are counted in a helper

# Not "pages/": a folder of that name beside the entry script puts Streamlit in its legacy multipage mode, which
# runs those files directly (skipping this script and its password) until a session opens "/".
VIEWS = Path(__file__).resolve().parent / "views"


@st.cache_resource
def _guessing() -> threading.Lock:
    """One lock for every session: wrong passwords are answered one at a time, each after a pause."""
    return threading.Lock()


def _allowed() -> bool:
    password = os.environ.get("Y8M_APP_PASSWORD")
    if not password or st.session_state.get("auth_ok"):
        return True
    given = st.text_input("Password", type="password", key="auth_password")
    if given and hmac.compare_digest(given.encode(), password.encode()):
        st.session_state["auth_ok"] = True
        st.rerun()
    if given:
        with _guessing():
            time.sleep(WRONG_PASSWORD_SECONDS)
        st.error("Wrong password")
    return False


st.set_page_config(page_title="y8m", layout="wide")
problem = exposure_problem(str(st.get_option("server.address") or "127.0.0.1"), os.environ)
if problem:
    st.error(f"The dashboard does not run open: {problem}")
    st.stop()
allowed = _allowed()
# Built either way, so that a link such as /runs?run=5 still leads there once the password is given.
# The default page is served at "/" only; the same form under a hidden page answers a bookmarked /launch
# (Streamlit keys pages by URL path, so one script may back both).
page = st.navigation([
    st.Page(VIEWS / "launch.py", title="Launch", url_path="start", default=True),
    st.Page(VIEWS / "launch.py", title="Launch", url_path="launch", visibility="hidden"),
    st.Page(VIEWS / "compose.py", title="Compose", url_path="compose"),
    st.Page(VIEWS / "runs.py", title="Runs", url_path="runs"),
    st.Page(VIEWS / "sweeps.py", title="Sweeps", url_path="sweeps"),
    st.Page(VIEWS / "leaderboard.py", title="Leaderboard", url_path="leaderboard"),
    st.Page(VIEWS / "paper.py", title="Paper", url_path="paper"),
    st.Page(VIEWS / "attention.py", title="Attention", url_path="attention"),
    st.Page(VIEWS / "try_video.py", title="Try a video", url_path="try"),
    st.Page(VIEWS / "stacking.py", title="Stacking", url_path="stacking"),
    st.Page(VIEWS / "datasets.py", title="Datasets", url_path="datasets"),
], position="sidebar" if allowed else "hidden")
if allowed:
    page.run()
