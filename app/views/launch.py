"""Launch: a configuration (grouped by paper section, with its paper GAP), preset, dataset, seed and
overrides checked by the same schema as the CLI; an ensemble lists the runs it needs and which already
exist. Errors appear beside their field and nothing is queued; a submission opens the run's page."""

from __future__ import annotations

import streamlit as st

from app import data
from y8m_models.configs.presets import PRESETS as MODEL_PRESETS
from y8m_models.options import OptionsError, RunOptions
from y8m_models.overrides import parse_overrides

st.title("Launch a run")
configs = data.configurations()
datasets = data.datasets()
if not datasets:
    st.info("No dataset yet: generate or register one on the Datasets page.")
    st.stop()

sections = sorted({c["section"] for c in configs})
section = st.selectbox("Paper section", ["all", *sections], key="launch_section")
shown = [c for c in configs if section == "all" or c["section"] == section]


def _label(c: dict) -> str:
    gap = f", paper GAP {c['paper_gap']:.4f}" if c["paper_gap"] else ""
    return f"#{c['number']} {c['slug']} ({c['level']}{gap})"


# Each field has a slot under it for its error (filled once the whole form is checked below).
config = st.selectbox("Configuration", shown, format_func=_label, key="launch_config")
slots = {"config": st.empty()}
st.caption(config["title"])
left, right = st.columns(2)
DEFAULTS, PRESETS = RunOptions(), list(reversed(MODEL_PRESETS))  # the defaults of every way in; smallest first
preset = left.selectbox("Preset", PRESETS, index=PRESETS.index(DEFAULTS.preset), key="launch_preset")
dataset = right.selectbox("Dataset", datasets, format_func=lambda d: f"{d['name']} ({d['classes']} classes)",
                          key="launch_dataset")
slots["dataset"] = right.empty()
seed = left.number_input("Seed", min_value=0, value=DEFAULTS.seed, step=1, key="launch_seed")
slots["seed"] = left.empty()
max_steps = right.number_input("Max steps per training run (0: the configuration's epochs)", min_value=0,
                               value=200, step=50, key="launch_max_steps")
slots["max_steps"] = right.empty()
overrides_text = st.text_area("Overrides, one key=value per line (e.g. model.training.learning_rate=0.002)",
                              key="launch_overrides")
slots["overrides"] = st.empty()
slots["form"] = st.empty()


def _overrides(text: str) -> tuple[dict, str | None]:
    try:
        return parse_overrides(text.splitlines()), None
    except ValueError as exc:
        return {}, str(exc)


def _field(message: str) -> str:
    """Which field an error belongs to (the API's messages name the option)."""
    for option, name in (("--max-steps", "max_steps"), ("--seed", "seed"), ("--data", "dataset"),
                         ("--config", "config")):
        if message.startswith(option):
            return name
    return "overrides" if "override" in message or "=" in message or "model." in message else "form"


overrides, parse_error = _overrides(overrides_text)
from worker.runs import SubmitError, preview, submit  # noqa: E402  (after the widgets: a fast first paint)

errors: dict[str, str] = {"overrides": parse_error} if parse_error else {}
try:
    options = RunOptions.of(preset=preset, seed=int(seed), max_steps=int(max_steps) or None, overrides=overrides)
except OptionsError as exc:
    errors[_field(str(exc))] = str(exc)
plan = []
if not errors:
    try:
        plan = preview(str(config["number"]), dataset["name"], options)
    except SubmitError as exc:
        errors[_field(str(exc))] = str(exc)
for name, message in errors.items():
    slots[name].error(message, icon="⚠️")
if plan:
    new = sum(row["reuse"] is None for row in plan)
    st.subheader(f"{len(plan)} run(s): {new} new, {len(plan) - new} reused")
    st.dataframe([{"run": row["job"], "kind": row["kind"], "#": row["number"],
                   "inputs": ", ".join(row["inputs"]),
                   "reuses": f"run {row['reuse']} ({row['reuse_status']})" if row["reuse"] else "new"}
                  for row in plan], hide_index=True, key="launch_plan")
if st.button("Submit", type="primary", disabled=bool(errors), key="launch_submit"):
    try:
        result = submit(str(config["number"]), dataset["name"], options)
    except SubmitError as exc:
        st.error(str(exc))
    else:
        target = result.targets[config["number"]]
        st.session_state["runs_selected"] = target
        st.success(f"Run {target} queued ({len(result.created)} created, {len(result.reused)} reused)")
        st.switch_page("views/runs.py", query_params={"run": str(target)})
