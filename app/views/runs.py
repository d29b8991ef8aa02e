"""Runs: the table (filters by status, configuration, dataset, tags, text and configuration values; archived runs
on demand; sorting) and the parallel coordinates of its runs; for the selected run its progress, live loss and GAP
curves, scores, events and cancel, its tags and note, archiving, deleting, and downloads (the submission CSV, its
predictions on a split, the exported model); several selected runs are compared (overlaid curves, configuration
diff, their parallel coordinates)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from app import data
from app.components import figures, run_views
from db.models import ACTIVE, STATUSES
from worker.curation import MAX_NOTE, CurationError, ValueFilter, archive_runs, delete_runs, set_note, tag_runs
from y8m_models.sizes import human

MAX_AXES = 8  # configuration values on the parallel coordinates before the user picks which (labels overlap)
EXPORT_DTYPES = ("int8", "fp16", "fp32")
CSV, ZIP = "top-20 CSV", "zip of the store"

st.title("Runs")
if "runs_done" in st.session_state:  # what the last change did, said once the page is drawn again
    st.success(st.session_state.pop("runs_done"))
datasets = {d["name"]: d["id"] for d in data.datasets()}
left, middle, right, last = st.columns(4)
status = left.multiselect("Status", STATUSES, key="runs_status")
number = middle.number_input("Configuration #", min_value=0, max_value=len(data.configurations()), value=0,
                             key="runs_number")
dataset = right.selectbox("Dataset", ["all", *datasets], key="runs_dataset")
sort = last.selectbox("Sort by", [*data.SORTS, "validate2 GAP"], key="runs_sort")
left, middle, right = st.columns([2, 2, 1])
tags = left.multiselect("Tags (runs with all of them)", data.run_tags(), key="runs_tags")
search = middle.text_input("Search (configuration, variant, note, tags)", key="runs_search")
show_archived = right.toggle("Show archived", key="runs_archived")
lines = st.text_area("Value filters: `key OP value`, one a line (OP: < <= > >= = !=)", key="runs_where", height=68,
                     placeholder="model.training.learning_rate<0.001")
where = []
for n, line in enumerate(lines.splitlines(), 1):
    if line.strip():
        try:
            ValueFilter.parse(line)
        except CurationError as exc:
            st.error(f"Value filter line {n} is not applied: {exc}")
        else:
            where.append(line.strip())
table = data.runs_table(tuple(status), int(number) or None, datasets.get(dataset), sort, tags=tuple(tags),
                        search=search.strip(), where=tuple(where), archived=None if show_archived else False)
# A new key after a run is archived or deleted: the selection (row positions) would point at other runs.
event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="multi-row",
                     key=f"runs_table_{st.session_state.get('runs_table_generation', 0)}",
                     column_order=[c for c in table.columns if show_archived or c != "archived"],
                     column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1),
                                    "tags": st.column_config.ListColumn("tags"),
                                    "validate2 GAP": st.column_config.NumberColumn(format="%.4f"),
                                    "validate1 GAP": st.column_config.NumberColumn(format="%.4f")})
chosen = [int(table.iloc[i]["id"]) for i in (event.selection.rows if event else []) if i < len(table)]
asked = st.query_params.get("run")
if not chosen and asked and asked.isdigit():
    chosen = [int(asked)]


def _parallel(run_ids: list[int], what: str, expanded: bool) -> None:
    """The parallel coordinates of these runs: one axis per configuration value that differs between them."""
    with st.expander(f"Parallel coordinates of {what}", expanded=expanded):
        if len(run_ids) < 2:
            st.caption("Parallel coordinates need two runs or more.")
            return
        runs = data.run_values(tuple(run_ids))
        keys = run_views.differing_keys(runs)
        if len(keys) > MAX_AXES:
            keys = st.multiselect(f"Values shown ({len(keys)} differ)", keys, default=keys[:MAX_AXES],
                                  key="runs_parallel_keys")
        st.plotly_chart(run_views.parallel_coordinates(runs, keys), key="runs_parallel")


def _done(message: str, keep: int | None = None) -> None:
    """After a change: the loaders read again, the table's selection cleared, the page drawn again with ``keep``
    (or no run) selected, and ``message`` said at its top."""
    for loader in (data.run, data.runs_table, data.run_tags, data.run_values):
        loader.clear()
    st.session_state["runs_table_generation"] = st.session_state.get("runs_table_generation", 0) + 1
    st.session_state["runs_done"] = message
    if keep is None:
        st.query_params.pop("run", None)
    else:
        st.query_params["run"] = str(keep)
    st.rerun()


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
    _tags_and_note(info)
    _archive_and_delete(info)
    _downloads(info)


def _tags_and_note(info: dict[str, Any]) -> None:
    run_id = info["id"]
    left, right = st.columns(2)
    chosen = left.multiselect("Tags (a-z 0-9 _ . : -; type a new one)", sorted({*data.run_tags(), *info["tags"]}),
                              default=info["tags"], accept_new_options=True, key=f"runs_run_tags_{run_id}")
    if left.button("Save tags", key=f"runs_save_tags_{run_id}"):
        add, remove = [t for t in chosen if t not in info["tags"]], [t for t in info["tags"] if t not in chosen]
        try:
            now = tag_runs([run_id], add, remove)[run_id]
        except CurationError as exc:
            left.error(str(exc))
        else:
            _done(f"Run {run_id}: tags {', '.join(now) or 'none'}", keep=run_id)
    note = right.text_area("Note", value=info["note"], max_chars=MAX_NOTE, key=f"runs_note_{run_id}")
    if right.button("Save note", key=f"runs_save_note_{run_id}"):
        try:
            set_note(run_id, note.strip())
        except CurationError as exc:
            right.error(str(exc))
        else:
            _done(f"Run {run_id}: note saved" if note.strip() else f"Run {run_id}: note removed", keep=run_id)


def _archive_and_delete(info: dict[str, Any]) -> None:
    """Archive or unarchive; delete after showing what would go (``delete_runs(dry_run=True)``) and a confirmation."""
    run_id, archived, active = info["id"], info["archived"], info["status"] in ACTIVE
    if archived:
        st.caption("Archived: hidden from the table and the leaderboard unless “Show archived”; kept whole.")
    left, right = st.columns(2)
    if left.button(f"Unarchive run {run_id}" if archived else f"Archive run {run_id}", key=f"runs_archive_{run_id}",
                   disabled=active and not archived, help="finished runs only" if active else None):
        try:
            archive_runs([run_id], not archived)
        except CurationError as exc:
            left.error(str(exc))
        else:
            _done(f"Run {run_id} unarchived" if archived else
                  f"Run {run_id} archived: hidden from the table unless “Show archived”", keep=run_id)
    plan_key = f"runs_delete_plan_{run_id}"
    if right.button(f"Delete run {run_id}…", key=f"runs_delete_{run_id}"):
        try:
            st.session_state[plan_key] = delete_runs([run_id], dry_run=True)
        except CurationError as exc:  # read by another run, or not finished: nothing is removed
            st.session_state.pop(plan_key, None)
            right.error(str(exc))
    plan = st.session_state.get(plan_key)
    if plan is None:
        return
    right.warning(f"Deleting removes run {', '.join(map(str, plan.runs))} (its scores, metrics, events) and "
                  f"{len(plan.folders)} folder(s), {human(plan.bytes)}: {', '.join(plan.folders) or 'none'}. "
                  "This cannot be undone.")
    yes, no = right.columns(2)
    if yes.button(f"Confirm: delete run {run_id}", type="primary", key=f"runs_delete_confirm_{run_id}"):
        del st.session_state[plan_key]
        try:
            gone = delete_runs(plan.runs)
        except CurationError as exc:  # something changed since: a new reader, say
            right.error(str(exc))
        else:
            _done(f"Deleted run {', '.join(map(str, gone.runs))} and {len(gone.folders)} folder(s), "
                  f"{human(gone.bytes)}")
    if no.button("Keep it", key=f"runs_delete_keep_{run_id}"):
        del st.session_state[plan_key]
        st.rerun()


def _over_limit(what: str, size: int, instead: str) -> bool:
    if size <= data.DOWNLOAD_LIMIT:
        return False
    st.warning(f"{what} is {human(size)}, over the dashboard's download limit of {human(data.DOWNLOAD_LIMIT)}: "
               f"{instead}")
    return True


def _downloads(info: dict[str, Any]) -> None:
    """The submission CSV (where the run folder holds one), the predictions on a split (zip or top-20 CSV, made
    when the button is pressed) and the exported model (``y8m export`` in a process of its own)."""
    run_id, folder = info["id"], Path(info["dir"])
    st.markdown("**Downloads**")
    submission = folder / "submission.csv"
    if submission.is_file() and not _over_limit("submission.csv", submission.stat().st_size,
                                                f"it is in {folder}"):
        st.download_button(f"Submission CSV ({human(submission.stat().st_size)})", submission.read_bytes,
                           file_name=f"run-{run_id}-submission.csv", mime="text/csv", on_click="ignore",
                           key=f"runs_submission_{run_id}")
    stores = {s["split"]: s for s in data.prediction_stores(str(folder))}
    if stores:
        left, middle, right = st.columns(3)
        split = left.selectbox("Predictions on", list(stores), key=f"runs_predictions_split_{run_id}")
        form = middle.radio("as", [CSV, ZIP], horizontal=True, key=f"runs_predictions_form_{run_id}")
        store = stores[split]
        if store["error"]:
            st.error(store["error"])
        elif not _over_limit(f"The {split} predictions as a {form}", store["csv_bytes" if form == CSV else "bytes"],
                             f"copy {store['folder']}, or `y8m predict {folder} --split {split} --submission FILE`"):
            making = data.predictions_csv if form == CSV else data.predictions_zip
            right.download_button(f"{split} predictions ({store['rows']} videos), {form}",
                                  lambda: making(store["folder"]), on_click="ignore",
                                  file_name=f"run-{run_id}-{split}" + (".csv" if form == CSV else ".zip"),
                                  mime="text/csv" if form == CSV else "application/zip",
                                  key=f"runs_predictions_{run_id}")
    _export(info)


def _export(info: dict[str, Any]) -> None:
    run_id = info["id"]
    if info["kind"] != "train":
        st.caption(f"Exporting the model: training runs only (`y8m export`); run {run_id} is a {info['kind']} run.")
        return
    left, right = st.columns([1, 3])
    dtype = left.selectbox("Export the model as", EXPORT_DTYPES, key=f"runs_export_dtype_{run_id}")
    if left.button("Export", key=f"runs_export_{run_id}"):
        with st.spinner(f"y8m export {info['dir']} --dtype {dtype}"):
            content, said = data.export_model(info["dir"], dtype)
        st.session_state["runs_exported"] = (run_id, dtype, content, said)  # one at a time: it may be large
    done = st.session_state.get("runs_exported")
    if done is None or done[0] != run_id:
        return
    _, dtype, content, said = done
    if content is None:
        right.error(f"`y8m export` of run {run_id} as {dtype} failed:\n\n```\n{said}\n```")
        return
    right.caption(said)
    right.download_button(f"Model, {dtype} ({human(len(content))})", content, file_name=f"run-{run_id}-{dtype}.pt",
                          mime="application/octet-stream", on_click="ignore", key=f"runs_export_download_{run_id}")


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
    flat = {r: run_views.flatten({"configuration": info["config"], "options": info["options"], "seed": info["seed"]})
            for r, info in configs.items()}
    keys = sorted({k for f in flat.values() for k in f})
    differing = [{"key": k, **{f"run {r}": json.dumps(flat[r].get(k)) for r in run_ids}} for k in keys
                 if len({json.dumps(flat[r].get(k)) for r in run_ids}) > 1]
    st.caption("Configuration differences")
    st.dataframe(differing, hide_index=True)


if len(chosen) > 1:
    _parallel(chosen, f"the {len(chosen)} selected runs", expanded=True)
else:
    _parallel([int(i) for i in table["id"]], f"the {len(table)} runs in the table", expanded=False)
if len(chosen) == 1:
    _detail(chosen[0])
elif len(chosen) > 1:
    _compare(chosen)
else:
    st.caption("Select a run in the table for its progress, curves, tags, note and downloads; several to compare "
               "them.")
