"""Leaderboard: the 80 configurations (and those beyond the paper, #81 on) with the paper's GAP (validate2) and
private leaderboard score beside
our best GAP on a dataset, the paper's and our rank, the number of runs and the best run (each saved variant
in a row under its base, with its own); Kendall's tau-b
between the two orders; a scatter of paper vs ours; the paper's road-map (Table 12)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import data
from app.components import figures, ranking
from y8m_models.configs.registry import in_paper

st.title("Leaderboard of the 80 configurations and beyond")
datasets = data.datasets()
left, middle, right, last = st.columns([3, 3, 3, 2])
dataset = left.selectbox("Dataset", datasets or [None], key="leaderboard_dataset",
                         format_func=lambda d: d["name"] if d else "no dataset yet")
table = data.leaderboard(dataset["id"] if dataset else None)
sections = middle.multiselect("Section", sorted(table["section"].unique()), key="leaderboard_section")
levels = right.multiselect("Level", sorted(table["level"].unique()), key="leaderboard_level")
fits = last.toggle("fits 1 GB", key="leaderboard_fits",
                   help="Only the configurations whose best run, with every run it needs to predict, holds at most "
                        "1 GB of float32 weights (the 2018 challenge's rule; fp16 halves it: `y8m export`).")
shown = table[table["section"].isin(sections or table["section"]) & table["level"].isin(levels or table["level"])]
if fits:
    shown = shown[shown["fits 1 GB"].eq(True)]
ranked = table.dropna(subset=["paper rank", "our rank"])  # the whole dataset's, whatever the filters show
label, value = ranking.tau_metric(ranking.kendall_tau_b(ranked["paper rank"], ranked["our rank"]), len(ranked))
st.metric(label, value, help="Over the configurations with both a paper GAP and one of our validate2 GAPs on "
                             "this dataset: 1 = the same order as the paper's, -1 = the reverse.")
linked = shown.assign(**{"best run": [None if pd.isna(r) else f"/runs?run={int(r)}"
                                      for r in shown["best run"]]})
st.dataframe(linked, hide_index=True, key="leaderboard_table", height=min(35 * (len(shown) + 1), 800),
             column_config={**{k: st.column_config.NumberColumn(format="%.4f")
                               for k in ("paper GAP", "paper private LB", "our validate2 GAP", "our validate1 GAP")},
                            **{k: st.column_config.NumberColumn(format="plain") for k in ("paper rank", "our rank")},
                            "parameters": st.column_config.NumberColumn(format="localized"),
                            "MB fp32": st.column_config.NumberColumn(format="%.1f"),
                            "best run": st.column_config.LinkColumn("best run", display_text=r"run=(\d+)")})
st.caption("Our GAPs: the best succeeded run of the configuration on this dataset (validate2, the paper's "
           "split; validate1 at the selected checkpoint); the best run's link opens it on the Runs page. A variant "
           "(slug · name) is listed under its base with the runs submitted as that variant. Size: the best run's "
           "parameters at its preset with those of every run it needs to predict (a stack's members, a cascade's "
           "streams), and their float32 megabytes.")
st.caption("GAPs on synthetic data are not comparable to the paper's (real YouTube-8M) in absolute terms; only the "
           "order of the configurations is compared: ranks among those with both GAPs, 1 = highest, ties averaged.")
st.caption("Section B, beyond the paper (#81 on): later models on the same data. Their 'paper private LB' is the "
           "score their own paper published on other data (NeXtVLAD: the 2018 release, 3,862 classes); they are "
           "never ranked with the paper's 80.")


def _value(x: object) -> float | None:
    return None if pd.isna(x) else float(x)  # pandas holds a missing GAP as NaN


rows = [{"number": r["#"], "slug": r["configuration"], "section": r["section"], "paper_gap": _value(r["paper GAP"]),
         "our_gap": _value(r["our validate2 GAP"])} for r in shown.to_dict("records")
        if not r["variant"] and in_paper(r["#"])]  # the paper's GAPs against ours: the paper's 80 only
st.plotly_chart(figures.leaderboard_scatter(rows), key="leaderboard_scatter")
ours = {int(r["#"]): _value(r["our validate2 GAP"]) for r in table.to_dict("records")
        if _value(r["our validate2 GAP"]) is not None and not r["variant"]}
st.plotly_chart(figures.roadmap(figures.roadmap_rows(ours)), key="leaderboard_roadmap")
