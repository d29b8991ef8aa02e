"""Runs: the table (filters, sorting), and for the selected run its progress, live loss and GAP curves,
scores, events and cancel; several selected runs are compared (overlaid curves, configuration diff)."""

from __future__ import annotations

import json

import streamlit as st

from app import data
from app.components import figures
from db.models import ACTIVE, STATUSES

st.title("Runs")
datasets = {d["name"]: d["id"] for d in data.datasets()}
left, middle, right, last = st.columns(4)
status = left.multiselect("Status", STATUSES, key="runs_status")
number = middle.number_input("Configuration #", min_value=0, max_value=len(data.configurations()), value=0,
                             key="runs_number")
dataset = right.selectbox("Dataset", ["all", *datasets], key="runs_dataset")
sort = last.selectbox("Sort by", [*data.SORTS, "validate2 GAP"], key="runs_sort")
table = data.runs_table(tuple(status), int(number) or None, datasets.get(dataset), sort)
event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="multi-row", key="runs_table",
                     column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1),
                                    "validate2 GAP": st.column_config.NumberColumn(format="%.4f"),
                                    "validate1 GAP": st.column_config.NumberColumn(format="%.4f")})
chosen = [int(table.iloc[i]["id"]) for i in (event.selection.rows if event else []) if i < len(table)]
asked = st.query_params.get("run")
if not chosen and asked and asked.isdigit():
    chosen = [int(asked)]


def _curves(run_id: int) -> None:
    series = data.series(run_id)
    left, right = st.columns(2)
    left.plotly_chart(figures.curves(series, ["loss"], "training loss"), key=f"runs_loss_{run_id}")
    gaps = [n for n in series if n.endswith("/gap")]
    right.plotly_chart(figures.curves(series, gaps, "GAP"), key=f"runs_gap_{run_id}")


@st.fragment(run_every=2)
def _live(run_id: int, drawn_as: str) -> None:
    """Polls: status, progress, curves; the whole page is drawn again once the run's status changes (the
    table and the Cancel button outside this fragment follow)."""
    info = data.run(run_id)
    if info["status"] != drawn_as:
        data.runs_table.clear()
        st.rerun(scope="app")
    st.subheader(f"run {run_id}: {info['status']} — #{info['number'] or '-'} {info['slug']} ({info['kind']})")
    steps = info["steps"] or 0
    st.progress(min(1.0, info["step"] / steps) if steps else (1.0 if info["status"] == "succeeded" else 0.0),
                text=f"step {info['step']}/{steps or '?'}"
                     + (f", loss {info['loss']:.4f}" if info["loss"] is not None else "")
                     + (f", {info['examples_per_second']:.1f} examples/s" if info["examples_per_second"] else ""))
    if info["error"]:
        (st.error if info["status"] == "failed" else st.warning)(info["error"])
    if info["scores"]:
        st.dataframe([{"split": k, **v} for k, v in info["scores"].items()], hide_index=True)
    _curves(run_id)


def _detail(run_id: int) -> None:
    try:
        info = data.run(run_id)
    except Exception as exc:  # an id typed into the address bar that is not there
        st.error(str(exc))
        return
    if info["status"] in ACTIVE and st.button(f"Cancel run {run_id}", key=f"runs_cancel_{run_id}"):
        from worker.runs import SubmitError, cancel

        try:
            result = cancel(run_id)
        except SubmitError as exc:  # it finished meanwhile
            st.toast(str(exc))
        else:
            st.toast(f"cancelled {result['cancelled']}, stopping {result['stopping']}")
        data.run.clear()
        data.runs_table.clear()
        info = data.run(run_id)
    _live(run_id, info["status"])
    with st.expander("events, inputs, artifacts, options"):
        st.dataframe(info["events"], hide_index=True)
        st.write({"inputs": info["inputs"], "options": info["options"], "folder": info["dir"]})
        st.dataframe(info["artifacts"], hide_index=True)


def _compare(run_ids: list[int]) -> None:
    st.subheader(f"Compare runs {', '.join(map(str, run_ids))}")
    all_series = {r: data.series(r) for r in run_ids}
    names = sorted({n for s in all_series.values() for n in s})
    if not names:
        st.info("None of these runs has logged a metric yet.")
        return
    metric = st.selectbox("Metric", names, key="runs_compare_metric")
    st.plotly_chart(figures.compare({f"run {r}": s.get(metric, []) for r, s in all_series.items()}, metric),
                    key="runs_compare_chart")
    configs = {r: data.run(r) for r in run_ids}
    flat = {r: _flatten({"configuration": info["config"], "options": info["options"], "seed": info["seed"]})
            for r, info in configs.items()}
    keys = sorted({k for f in flat.values() for k in f})
    differing = [{"key": k, **{f"run {r}": json.dumps(flat[r].get(k)) for r in run_ids}} for k in keys
                 if len({json.dumps(flat[r].get(k)) for r in run_ids}) > 1]
    st.caption("Configuration differences")
    st.dataframe(differing, hide_index=True)


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): value}


if len(chosen) == 1:
    _detail(chosen[0])
elif len(chosen) > 1:
    _compare(chosen)
else:
    st.caption("Select a run in the table for its progress and curves; several to compare them.")
