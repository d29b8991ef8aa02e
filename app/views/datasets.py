"""Datasets: the registered ones with their splits and record counts; generate a synthetic one; register a
directory of real YouTube-8M files (inside the configured data roots)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import streamlit as st

from app import data
from worker.local import Y8M
from y8m_models.data.errors import Y8MDataError
from y8m_models.data.layout import find_layout
from y8m_models.data.synthetic import PRESETS as SYNTHETIC_PRESETS

st.title("Datasets")


def _features(path: str) -> str:
    """The frame-level features its records carry (its features.json, else YouTube-8M's), or what is wrong."""
    try:
        return find_layout(path).describe("frame")
    except Y8MDataError as exc:
        return f"unreadable: {exc.reason}"


rows = [{"name": d["name"], "classes": d["classes"], "features": _features(d["path"]), "synthetic": d["synthetic"],
         "path": d["path"], **{f"{level} {split}": counts["records"] for level, parts in d["splits"].items()
                                for split, counts in parts.items()}} for d in data.datasets()]
st.dataframe(rows, hide_index=True, key="datasets_table")
roots = data.settings().data_roots

with st.form("datasets_generate"):
    st.subheader("Generate a synthetic dataset")
    name = st.text_input("Name", value="synthetic", key="datasets_name")
    preset = st.selectbox("Preset", list(SYNTHETIC_PRESETS), index=list(SYNTHETIC_PRESETS).index("paper"),
                          key="datasets_preset", help="paper: the dataset `y8m paper` and the demo are meant for")
    seed = st.number_input("Seed", min_value=0, value=0, key="datasets_seed")
    if st.form_submit_button("Generate"):
        target = roots[0] / name
        if not name or "/" in name or name.startswith(".") or target.exists():
            st.error(f"Name: {name!r} must be a new folder name under {roots[0]}")
        else:
            with st.spinner(f"writing {target} ..."):  # tiny: seconds; paper: ~20 s; demo: ~30 s
                done = subprocess.run([Y8M, "data", "synth", str(target), "--preset", preset, "--seed", str(int(seed))],
                                      capture_output=True, text=True)
            if done.returncode:
                st.error(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "generation failed")
            else:
                from worker.runs import SubmitError, register_dataset

                try:
                    found = register_dataset(target, name=name)
                except SubmitError as exc:
                    st.error(str(exc))
                else:
                    data.datasets.clear()
                    st.success(f"{found.name}: generated and registered")

with st.form("datasets_register"):
    st.subheader("Register a directory of YouTube-8M files")
    st.caption(f"It must hold frame/ or video/ with the Table 1 files and lie under {', '.join(map(str, roots))}.")
    path = st.text_input("Directory", key="datasets_path")
    label = st.text_input("Name (default: the folder's)", key="datasets_label")
    if st.form_submit_button("Register") and path:
        from worker.runs import SubmitError, register_dataset

        try:
            found = register_dataset(Path(path), name=label or None)
        except SubmitError as exc:
            st.error(str(exc))
        else:
            data.datasets.clear()
            st.success(f"registered {found.name} ({found.num_classes} classes)")
