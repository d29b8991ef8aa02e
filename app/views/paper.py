"""Paper: the paper's Tables 2-12 regenerated on a dataset (``y8m paper``), and the demo. The demo
(``y8m paper --demo``, or its button here) trains #23, #25 and #75 at the tiny preset; its three findings on the
chosen dataset are shown as its runs succeed. A paper set (one ``y8m paper`` call, or the quick set submitted
here) is picked; its progress, the summary of its comparisons,
then per table the paper's GAP beside ours with links to the runs, and each comparison the paper draws there,
reproduced or not. The tables fill in as the set's runs succeed (the part below the picker polls while any
run is on its way)."""

from __future__ import annotations

import streamlit as st

from app import data
from app.components import paper
from app.components.text import plain
from db.models import FINISHED

st.title("The paper in miniature")
st.caption("The paper's tables (arXiv:1706.05150) with our runs beside its GAPs: the same command as "
           "`y8m paper --data DIR --out DIR [--quick]`, one set per call.")

try:
    sets = data.paper_sets()
except ValueError as exc:  # a manifest that cannot be read: say which
    st.error(str(exc))
    st.stop()
names = [s["name"] for s in sets]
labels = {s["name"]: paper.set_label(s) for s in sets}
left, right = st.columns([3, 2])
chosen = left.selectbox("Paper set", names or [None], key="paper_set",
                        format_func=lambda n: labels[n] if n else "no paper set yet")


def _submit() -> None:
    """The quick set on the chosen dataset; runs in the button's callback, so the new set can be selected above
    before the picker is drawn again."""
    from worker.paper import PaperOptions, submit_set  # submitting imports torch: only once asked to
    from worker.runs import SubmitError

    dataset = st.session_state["paper_dataset"]
    try:
        manifest = submit_set(dataset, PaperOptions())
    except SubmitError as exc:
        st.session_state["paper_submit_result"] = ("error", str(exc))
        return
    data.paper_sets.clear()
    st.session_state["paper_set"] = manifest.name
    st.session_state["paper_submit_result"] = ("success", f"Paper set {manifest.name}: {len(manifest.runs)} runs "
                                                          "submitted (or reused)")


def _submit_demo() -> None:
    from worker.paper import submit_demo  # submitting imports torch: only once asked to
    from worker.runs import SubmitError

    try:
        targets = submit_demo(st.session_state["paper_dataset"])
    except SubmitError as exc:
        st.session_state["paper_submit_result"] = ("error", str(exc))
        return
    data.demo_findings.clear()
    st.session_state["paper_submit_result"] = ("success", "Demo: " + ", ".join(
        f"#{n} run {run_id}" for n, run_id in targets.items()) + " submitted (or reused)")


with right:
    datasets = [d["name"] for d in data.datasets()]
    st.selectbox("Dataset", datasets or [None], key="paper_dataset",
                 format_func=lambda d: d or "no dataset yet: register one on the Datasets page")
    st.button("Run the demo on the workers", key="paper_demo", on_click=_submit_demo, disabled=not datasets,
              help="#23 (local-AP LSTM), #25 (multi-AP LSTM) and #75 (class-wise stacking of #2, #10, #18 and #25) "
                   "at the tiny preset (`y8m paper --demo`): about 6 minutes on 2 cores for the `paper` dataset. "
                   "Its findings appear below as the runs succeed.")
    st.button("Run the quick set on the workers", key="paper_submit", on_click=_submit, disabled=not datasets,
              help="Tables 4, 5, 7, 8 and 10, one seed, preset tiny (`y8m paper --quick`), on the workers. Runs "
                   "that succeeded or are on their way with the same content are reused. The runs appear on the "
                   "Runs page, and the tables below fill in as they succeed.")
    outcome = st.session_state.pop("paper_submit_result", None)
    if outcome:
        (st.error if outcome[0] == "error" else st.success)(outcome[1])



def _demo(dataset: str) -> None:
    found = data.demo_findings(dataset)
    st.subheader(f"The demo on {plain(dataset)}: {found['shown']} of {found['of']} findings show")
    st.markdown("\n".join(f"- {line}" for line in paper.demo_lines(found)))
    st.caption("The runs' attention is in the Attention page's frame gallery (#25, #23) and the stack's weights "
               "on the Stacking page (#75).")


if st.session_state.get("paper_dataset"):
    try:
        st.fragment(_demo, run_every=10)(st.session_state["paper_dataset"])
    except ValueError as exc:  # a damaged artifact: say which
        st.error(f"The demo's findings cannot be read: {exc}")

if chosen is None:
    st.info("No paper set yet: run the quick set with the button above, or `y8m paper --quick --data DIR --out "
            "DIR` from a shell.")
    st.stop()


def _tables(report: dict, seeds: int, first_seed: int) -> None:
    for table in report["tables"]:
        st.subheader(f"Table {table['number']}: {table['title']}")
        if table["note"]:
            st.caption(f"Our version: {table['note']}")
        st.dataframe(paper.table_rows(table, report["meta"]["runs"], seeds, first_seed), hide_index=True,
                     key=f"paper_table_{table['number']}",
                     column_config={**{k: st.column_config.NumberColumn(format="%.4f")
                                       for k in ("paper GAP", "ours", "± std")},
                                    **{k: st.column_config.LinkColumn(k, display_text=r"run=(\d+)")
                                       for k in ("run", *(f"run, seed {first_seed + s}" for s in range(seeds)))}})
        st.markdown("\n".join(f"- {line}" for line in paper.comparison_lines(report["comparisons"],
                                                                               table["number"])))


def _progress(name: str, drawn_active: bool) -> None:
    statuses = data.paper_statuses(name)
    active = any(status not in FINISHED for status in statuses.values())
    if drawn_active and not active:  # the last run ended: draw the page once more, without polling
        st.rerun(scope="app")
    share, line = paper.progress(statuses)
    st.progress(share, text=line)
    report = data.paper_report(name)
    st.markdown(paper.summary_line(report["summary"]))
    st.caption(paper.CAVEAT)
    failed = {run_id: why for run_id, why in report["meta"]["not_succeeded"].items()
              if why.startswith(("failed", "cancelled"))}
    if failed:
        with st.expander(f"{len(failed)} run(s) failed or cancelled"):
            st.markdown("\n".join(f"- [run {run_id}](/runs?run={run_id}): {why}" for run_id, why in failed.items()))
    _tables(report, report["meta"]["seeds"], report["meta"].get("first_seed", 0))


on_the_way = any(status not in FINISHED for status in data.paper_statuses(chosen).values())
st.fragment(_progress, run_every=5 if on_the_way else None)(chosen, on_the_way)
