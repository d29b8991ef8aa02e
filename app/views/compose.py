"""Compose: an ensemble of configurations, saved variants and finished runs, by a method (mean, linear,
class-wise or attention weighted stacking; bagging or boosting of one model; distillation of a student from a
teacher ensemble; a cascade of a model on ensembles' predictions; the #80 merge of two), with the method's
parameters. The plan (runs new and reused) is shown before anything is saved; "Save and submit" keeps it as a
named variant of the paper's configuration of that method (``configs.variants.compose``) and queues it, through
the same pipeline and run store as the numbered configurations. Errors appear under their field."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import data
from app.components.plan import plan_table
from y8m_models.configs import ConfigError
from y8m_models.configs.variants import METHODS, STACKERS, compose
from y8m_models.options import OptionsError, RunOptions

st.title("Compose an ensemble")
datasets = data.datasets()
if not datasets:
    st.info("No dataset yet: generate or register one on the Datasets page.")
    st.stop()
top = st.columns(3)
name = top[0].text_input("Name (e.g. my-stack)", key="compose_name")
slots: dict[str, Any] = {"name": top[0].empty()}
method = top[1].selectbox("Method", METHODS, key="compose_method")
dataset = top[2].selectbox("Dataset", datasets, format_func=lambda d: d["name"], key="compose_dataset")

# What a member may be: one of the 80, a saved variant, or a finished run on this dataset (its predictions reused).
choices = {f"#{c['number']} {c['slug']}": str(c["number"]) for c in data.configurations()}
choices |= {f"#{v['number']} · {v['name']} (variant)": v["name"] for v in data.variants()}
finished = {}
for r in data.runs_table(("succeeded",), dataset_id=dataset["id"]).to_dict("records"):
    if r["kind"] in ("train", "stack", "merge") and pd.notna(r["validate2 GAP"]):  # a run without scores: not one
        number = f"#{int(r['#'])} " if pd.notna(r["#"]) else ""  # a member of a bag has none
        finished[f"run {r['id']}: {number}{r['configuration']} (validate2 {r['validate2 GAP']:.4f})"] = f"run:{r['id']}"
trained = {**choices}  # what a bagged, boosted, distilled or cascaded model may be: it is trained
members: list[str] = []
extra: dict[str, Any] = {}
changes: dict[str, Any] = {}
if method in STACKERS or method == "merge":
    picked = st.multiselect("Members (configurations, variants, finished runs)", [*finished, *choices],
                            key="compose_members", help="merge: exactly two ensembles")
    members = [{**finished, **choices}[p] for p in picked]
    if method == "attention":
        left, right = st.columns(2)
        changes["ensemble.combiner.attentions"] = int(left.number_input("Attentions (K)", value=16, step=1,
                                                                        key="compose_attentions"))
        changes["ensemble.combiner.rank"] = int(right.number_input("Rank (D)", value=3, step=1, key="compose_rank"))
elif method in ("bagging", "boosting"):
    model = st.selectbox("Model", list(trained), key="compose_model")
    members = [trained[model]]
    left, mid, right = st.columns(3)
    extra["count"] = int(left.number_input("Members trained", value=8, step=1, key="compose_count"))
    if method == "boosting":
        extra["rule"] = mid.selectbox("Weights above the threshold", ["clip", "discard", "none"], key="compose_rule")
        extra["threshold"] = float(right.number_input("Threshold", value=5.0, step=0.5, key="compose_threshold"))
elif method == "distillation":
    left, right = st.columns(2)
    student = left.selectbox("Student (trained)", list(trained), key="compose_student")
    teacher = right.selectbox("Teacher (an ensemble)", list(choices), key="compose_teacher")
    members, extra["teacher"] = [trained[student]], choices[teacher]
    extra["weight"] = float(left.number_input("Teacher's share of the loss", value=0.5, step=0.1,
                                              key="compose_weight"))
else:  # cascade
    left, right = st.columns(2)
    model = left.selectbox("Model (trained)", list(trained), key="compose_model")
    streams = right.multiselect("On the predictions of", list(choices), key="compose_streams")
    members = [trained[model], *(choices[s] for s in streams)]
slots["members"] = st.empty()
low = st.columns(3)
seed = low[0].number_input("Seed", min_value=0, value=RunOptions().seed, step=1, key="compose_seed")
max_steps = low[1].number_input("Max steps per training run (0: the configurations' epochs)", min_value=0, value=200,
                                step=50, key="compose_max_steps")
note = low[2].text_input("Note", key="compose_note")
slots["form"] = st.empty()

from worker.runs import SubmitError, preview, submit  # noqa: E402  (after the widgets: a fast first paint)
from worker.variants import VariantError, get_variant, save_variant  # noqa: E402

errors: dict[str, str] = {}
plan: list[dict[str, Any]] = []
base = None
try:
    base, composed = compose(method, members, find_variant=get_variant, changes=changes, **extra)
    options = RunOptions.of(seed=int(seed), max_steps=int(max_steps) or None)
    # the plan of the base with the composition's values: what saving and submitting it will run
    plan = preview(str(base), dataset["name"], options.model_copy(update={"overrides": composed}))
except (ConfigError, SubmitError, OptionsError) as exc:
    errors["members"] = str(exc)
if not name:
    errors["name"] = "give the ensemble a name (it is saved as a variant, and rerun by it)"
for field, message in errors.items():
    slots[field].error(message, icon="⚠️")
if plan:
    heading, rows = plan_table(plan)
    st.subheader(heading)
    st.dataframe(rows, hide_index=True, key="compose_plan")
if st.button("Save and submit", type="primary", disabled=bool(errors), key="compose_submit"):
    try:
        variant = save_variant(name, str(base), composed, note=note, created_by="dashboard")
        result = submit(variant.name, dataset["name"], options)
    except VariantError as exc:
        slots["name" if "name" in str(exc) or "exists" in str(exc) else "form"].error(str(exc), icon="⚠️")
    except SubmitError as exc:
        slots["form"].error(str(exc), icon="⚠️")
    else:
        data.variants.clear()
        run_id = result.targets[variant.name]
        st.session_state["runs_selected"] = run_id
        st.switch_page("views/runs.py", query_params={"run": str(run_id)})
