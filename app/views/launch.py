"""Launch: a configuration (grouped by paper section, with its paper GAP) or a saved variant of one, preset,
dataset, seed; a single model's parameters as a form generated from the schema (``components.params``: each
field with its bounds, the paper's value, the code's where it differs and the preset's, changed ones marked,
the parameter count as values change), saved as a variant; free-text overrides for power users. Everything is
checked by the same schema as the CLI: errors appear under their field and nothing is queued; an ensemble
lists the runs it needs and which already exist; a submission opens the run's page."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from app import data
from app.components import params
from app.components.plan import plan_table
from y8m_models.configs import get_config
from y8m_models.configs.presets import PRESETS as MODEL_PRESETS
from y8m_models.configs.variants import same
from y8m_models.options import OptionsError, RunOptions
from y8m_models.overrides import parse_overrides

st.title("Launch a run")
if "launch_saved" in st.session_state:  # "Save as variant" below, one run before
    st.success(f"Saved {st.session_state.pop('launch_saved')}: selected below, and in the configuration list under "
               "its base")
configs = data.configurations()
datasets = data.datasets()
if not datasets:
    st.info("No dataset yet: generate or register one on the Datasets page.")
    st.stop()

sections = sorted({c["section"] for c in configs})
section = st.selectbox("Paper section", ["all", *sections], key="launch_section")
saved = data.variants()
choices = []  # the numbered configurations, each followed by its saved variants
for c in configs:
    if section == "all" or c["section"] == section:
        choices += [c, *({**c, "variant": v} for v in saved if v["number"] == c["number"])]
just_saved = st.session_state.pop("launch_select", None)  # "Save as variant", one run before: select it
if just_saved:
    st.session_state["launch_config"] = next((c for c in choices if (c.get("variant") or {}).get("name") ==
                                              just_saved), st.session_state.get("launch_config"))


def _label(c: dict) -> str:
    if c.get("variant"):
        return f"#{c['number']} · {c['variant']['name']} (variant of {c['slug']})"
    gap = f", paper GAP {c['paper_gap']:.4f}" if c["paper_gap"] else ""
    return f"#{c['number']} {c['slug']} ({c['level']}{gap})"


# Each field has a slot under it for its error (filled once the whole form is checked below).
config = st.selectbox("Configuration", choices, format_func=_label, key="launch_config")
variant = config.get("variant")
slots = {"config": st.empty()}
st.caption(config["title"] + (f" — variant {variant['name']}: {variant['note']}" if variant and variant["note"]
                              else ""))
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

# ------------------------------------------------------------------------------------------- the parameters

base = get_config(config["number"])
form = params.fields(base) if base.model is not None else []
prefix = f"launch_param_{config['number']}_{variant['name'] if variant else ''}_"
# A variant's form starts at its values; those the form does not show (an ensemble's, a list item's) go with it.
start = params.values_of(base, form, variant["overrides"]) if variant else {}
shown = [f.path for f in form]
unshown = {p: v for p, v in (variant["overrides"] if variant else {}).items()
           if not any(p == path or p.startswith(path + ".") for path in shown)}


def _step(value: float) -> float:
    return 10.0 ** math.floor(math.log10(abs(value))) / 10 if value else 0.01


def _widget(f: params.Field, where: Any) -> Any:
    """The field's widget in ``where``; its value (None for an optional field left off)."""
    key, initial = prefix + f.path, start.get(f.path, f.paper)
    if f.optional and not where.toggle(f"{f.name}: set", value=initial is not None, key=key + "_on"):
        return None
    if f.kind == "choice":
        return where.selectbox(f.name, f.choices, index=f.choices.index(initial), key=key)
    if f.kind == "bool":
        return where.toggle(f.name, value=bool(initial), key=key)
    if f.kind in ("int", "float"):
        number = initial if initial is not None else int(f.low or 1)
        if f.kind == "int":
            return int(where.number_input(f.name, value=int(number), step=1, key=key))
        return float(where.number_input(f.name, value=float(number), step=_step(float(number)), format="%g", key=key))
    items = list(initial) if initial is not None else [1] * max(f.min_items, 1)
    count = len(items)
    if f.max_items != f.min_items:  # rows can be added and removed
        count = int(where.number_input(f"{f.name}: items", min_value=max(f.min_items, 1),
                                       max_value=f.max_items or 32, value=len(items), step=1, key=key + "_n"))
    cast = int if f.item == "int" else float
    row = where.columns(max(min(count, 6), 1))
    return [cast(row[i % len(row)].number_input(f"{f.name}[{i}]", value=cast(items[i] if i < len(items) else items[-1]),
                                                 step=1 if f.item == "int" else None, key=f"{key}_{i}"))
            for i in range(max(count, 0))]


values: dict[str, Any] = {}
field_slots: dict[str, Any] = {}
captions: dict[str, Any] = {}
if form:
    with st.expander("Parameters", expanded=bool(variant)):
        st.caption("In the paper's units; the preset scales widths and epochs. Each field: its bounds, the paper's "
                   "value, the authors' code's where it differs, and what the chosen preset runs.")
        for section_name in params.SECTIONS:
            these = [f for f in form if f.section == section_name]
            if not these:
                continue
            st.markdown(f"**{section_name}**")
            cells = st.columns(3)
            for i, f in enumerate(these):
                cell = cells[i % 3]
                values[f.path] = _widget(f, cell)
                captions[f.path], field_slots[f.path] = cell.empty(), cell.empty()
changed = params.changes(form, values)
scaled = params.at_preset(base, form, preset, changed) if form else {}
if changed and scaled == params.at_preset(base, form, preset, {}):
    st.info(f"At preset {preset} these changes are scaled away: this runs as #{config['number']} itself (and a run "
            f"of it is #{config['number']}'s).")
for f in form:
    text = [f"**changed** (paper {f.paper})" if f.path in changed else f"paper {f.paper}"]
    if f.has_code:
        text.append(f"code {f.code}")
    text.append(f"{preset} {scaled[f.path]}")
    if f.bounds():
        text.append(f.bounds())
    captions[f.path].caption(" · ".join(str(t) for t in text))

overrides_text = st.text_area("Overrides, one key=value per line (e.g. model.training.learning_rate=0.002); they "
                              "apply after the form's values", key="launch_overrides")
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


typed, parse_error = _overrides(overrides_text)
from worker.runs import SubmitError, parameter_counts, preview, submit  # noqa: E402  (after the widgets)
from y8m_models.data.errors import Y8MDataError  # noqa: E402
from y8m_models.data.layout import find_layout  # noqa: E402

errors: dict[str, str] = {"overrides": parse_error} if parse_error else {}
for path, message in params.errors(base, changed).items():
    (field_slots[path] if path else slots["form"]).error(message, icon="⚠️")
    errors[path or "form"] = message
overrides = {**unshown, **changed, **typed}
# The variant itself when nothing was changed on top of it; otherwise its base with every value (a run of the
# variant is one with exactly its values).
as_variant = bool(variant) and not typed and same(config["number"], overrides, variant["overrides"])
target = variant["name"] if as_variant else str(config["number"])
try:
    options = RunOptions.of(preset=preset, seed=int(seed), max_steps=int(max_steps) or None,
                            overrides={} if as_variant else overrides)
except OptionsError as exc:
    errors[_field(str(exc))] = str(exc)
plan = []
if not errors:
    try:
        plan = preview(target, dataset["name"], options)
    except SubmitError as exc:
        errors[_field(str(exc))] = str(exc)
for name, message in errors.items():
    if name in slots:
        slots[name].error(message, icon="⚠️")
if form and not errors:
    from y8m_models.configs import resolve

    model = resolve(base, preset, overrides=overrides).model
    try:
        count = parameter_counts([model], dataset["classes"], find_layout(dataset["path"]))[0]
    except (SubmitError, Y8MDataError) as exc:
        slots["form"].error(str(exc), icon="⚠️")
    else:
        one, two = st.columns(2)
        one.metric("Parameter count", f"{count:,}", help=f"at preset {preset}, {dataset['classes']} classes")
        two.metric("Size (float32)", f"{count * 4 / 2**20:,.1f} MiB")

if form:
    with st.expander("Save these values as a variant", expanded=False):
        name_col, who_col = st.columns(2)
        variant_name = name_col.text_input("Name (e.g. k16-lr2e-3)", key="launch_variant_name")
        slots["variant"] = name_col.empty()
        author = who_col.text_input("Saved by", key="launch_variant_author")
        note = st.text_input("Note", key="launch_variant_note")
        if st.button("Save as variant", disabled=bool(errors) or not overrides, key="launch_variant_save"):
            from worker.variants import VariantError, save_variant

            try:
                made = save_variant(variant_name, str(config["number"]), overrides, note=note,
                                    created_by=author or "dashboard")
            except VariantError as exc:
                slots["variant"].error(str(exc), icon="⚠️")
            else:
                data.variants.clear()
                st.session_state["launch_saved"], st.session_state["launch_select"] = made.label, made.name
                st.rerun()  # the configuration list now holds it, selected


if plan:
    heading, rows = plan_table(plan)
    st.subheader(heading)
    st.dataframe(rows, hide_index=True, key="launch_plan")
if st.button("Submit", type="primary", disabled=bool(errors), key="launch_submit"):
    try:
        result = submit(target, dataset["name"], options)
    except SubmitError as exc:
        st.error(str(exc))
    else:
        run_id = next(iter(result.targets.values()))
        st.session_state["runs_selected"] = run_id
        st.success(f"Run {run_id} queued ({len(result.created)} created, {len(result.reused)} reused)")
        st.switch_page("views/runs.py", query_params={"run": str(run_id)})
