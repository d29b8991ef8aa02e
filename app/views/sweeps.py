"""Sweeps: a hyper-parameter search over one single model's configuration values (``worker.sweeps``), each trial an
ordinary run the workers train. A form starts one: configuration, dataset, the space as YAML, the budget of trials,
how many run at once, the pruner and sampler, the trials' run options and fixed values; errors appear under their
field and nothing is created. Then the sweeps as a table and the selected one (also ``?sweep=ID``): its trials with
their runs linked, live while it runs, the optimisation history, parallel coordinates, parameter importance and
each trial's validate1 GAP by step (``components.sweeps``), the best trial linked, Stop and Resume, and the best
trial saved as a variant, to launch here or to add to an ensemble on the Compose page."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import data
from app.components import sweeps as draw
from worker.runs import SubmitError, submit
from worker.sweeps import SweepError, SweepRequest, create_sweep, resume_sweep, save_best, stop_sweep
from y8m_models.configs.presets import PRESETS as MODEL_PRESETS
from y8m_models.configs.space import SearchSpace, SpaceError, values_text
from y8m_models.options import OptionsError, RunOptions
from y8m_models.overrides import parse_overrides
from y8m_models.study import PRUNERS, SAMPLERS, Pruning

EXAMPLE = ("model.training.learning_rate: {low: 0.0001, high: 0.01, log: true}\n"
           "model.params.mixtures: [2, 4, 8]")
# The API's messages name the command-line option; each belongs under the form's field of that option.
FIELDS = {"--config": "config", "--data": "dataset", "--trials": "trials", "--parallel": "parallel",
          "--sampler": "sampler", "--name": "name", "--preset": "preset", "--max-steps": "max_steps",
          "--eval-every": "eval_every", "--seed": "seed", "--set": "overrides"}
DEFAULTS, PRESETS = RunOptions(), list(reversed(MODEL_PRESETS))  # the defaults of every way in; smallest first


def _label(c: dict[str, Any]) -> str:
    if c.get("variant"):
        return f"#{c['number']} · {c['variant']['name']} (variant of {c['slug']})"
    gap = f", paper GAP {c['paper_gap']:.4f}" if c["paper_gap"] else ""
    return f"#{c['number']} {c['slug']} ({c['level']}{gap})"


def _choices() -> list[dict[str, Any]]:
    """The single models (a sweep judges one model's validate1 GAP), each followed by its saved variants."""
    saved = data.variants()
    return [item for c in data.configurations() if c["level"] != "ensemble"
            for item in (c, *({**c, "variant": v} for v in saved if v["number"] == c["number"]))]


def _field(message: str, space: SearchSpace | None) -> str:
    """Which field an error belongs to: the option it names, a key of the space, else the form."""
    for option, name in FIELDS.items():
        if message.startswith(option + " ") or message.startswith(option + ":"):
            return name
    keys = space.params if space else {}
    if message.startswith("search space") or any(message.startswith(k) for k in keys) or message.startswith("with "):
        return "space"
    return "form"


# ---------------------------------------------------------------------------------------------------- the form

def _pruning(where: Any) -> tuple[str, dict[str, int]]:
    """The pruner and its settings (those of the chosen kind only)."""
    kind = where.selectbox("Pruner (stops poor trials on their validate1 GAP)", PRUNERS, key="sweeps_pruner")
    settings: dict[str, int] = {}
    if kind == "median":
        settings["startup_trials"] = int(where.number_input("Trials finished before any is pruned", min_value=0,
                                                            value=5, step=1, key="sweeps_prune_startup"))
        settings["warmup_steps"] = int(where.number_input("Steps before a trial may be pruned", min_value=0, value=0,
                                                          step=1, key="sweeps_prune_warmup"))
    elif kind == "hyperband":
        settings["min_steps"] = int(where.number_input("The fewest steps a trial trains", min_value=1, value=1,
                                                       step=1, key="sweeps_prune_min_steps"))
    return kind, settings


def _widgets(datasets: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form's values by field, and an empty slot under each field for its error."""
    v: dict[str, Any] = {}
    slots: dict[str, Any] = {}
    v["config"] = st.selectbox("Configuration", _choices(), format_func=_label, key="sweeps_config")
    slots["config"] = st.empty()
    v["space"] = st.text_area("Search space (YAML: one varied configuration value a line, a range or a list of "
                              "choices)", placeholder=EXAMPLE, key="sweeps_space")
    slots["space"] = st.empty()
    left, middle, right = st.columns(3)
    v["dataset"] = left.selectbox("Dataset", datasets, format_func=lambda d: f"{d['name']} ({d['classes']} classes)",
                                  key="sweeps_dataset")
    slots["dataset"] = left.empty()
    v["trials"] = int(middle.number_input("Trials", min_value=1, value=20, step=1, key="sweeps_trials"))
    slots["trials"] = middle.empty()
    v["parallel"] = int(right.number_input("Trials at once", min_value=1, value=1, step=1, key="sweeps_parallel"))
    slots["parallel"] = right.empty()
    v["pruner"], v["prune_settings"] = _pruning(left)
    slots["pruner"] = left.empty()
    v["sampler"] = middle.selectbox("Sampler", SAMPLERS, key="sweeps_sampler")
    slots["sampler"] = middle.empty()
    v["preset"] = right.selectbox("Preset", PRESETS, index=PRESETS.index(DEFAULTS.preset), key="sweeps_preset")
    slots["preset"] = right.empty()
    v["max_steps"] = int(middle.number_input("Max steps per trial (0: the configuration's epochs)", min_value=0,
                                             value=200, step=50, key="sweeps_max_steps"))
    slots["max_steps"] = middle.empty()
    v["eval_every"] = int(right.number_input("Score validate1 every N steps (0: every half epoch)", min_value=0,
                                             value=0, step=10, key="sweeps_eval_every"))
    slots["eval_every"] = right.empty()
    v["seed"] = int(left.number_input("Seed", min_value=0, value=DEFAULTS.seed, step=1, key="sweeps_seed"))
    slots["seed"] = left.empty()
    v["overrides"] = st.text_area("Fixed values of every trial, one key=value per line (e.g. "
                                  "model.params.cells=512)", key="sweeps_overrides")
    slots["overrides"] = st.empty()
    name_col, note_col = st.columns(2)
    v["name"] = name_col.text_input("Name (default: SLUG-sweep-ID)", key="sweeps_name").strip()
    slots["name"] = name_col.empty()
    v["note"] = note_col.text_input("Note", key="sweeps_note")
    slots["form"] = st.empty()
    return v, slots


def _request(v: dict[str, Any]) -> tuple[SweepRequest | None, dict[str, str]]:
    """The sweep the form's values ask for, or the errors by field of what can be checked before the configuration
    (the space, the run options and fixed values, the pruner)."""
    errors: dict[str, str] = {}
    space = options = pruning = None
    try:
        space = SearchSpace.from_yaml(v["space"], "search space")
    except SpaceError as exc:
        errors["space"] = str(exc)
    try:
        fixed = parse_overrides(v["overrides"].splitlines())
        options = RunOptions.of(preset=v["preset"], seed=v["seed"], max_steps=v["max_steps"] or None,
                                eval_every=v["eval_every"] or None, overrides=fixed)
    except OptionsError as exc:
        errors[_field(str(exc), space)] = str(exc)
    except ValueError as exc:  # a line that is not key=value
        errors["overrides"] = f"--set: {exc}"
    try:
        pruning = Pruning(v["pruner"], **v["prune_settings"])
    except ValueError as exc:
        errors["pruner"] = f"pruner: {exc}"
    if errors:
        return None, errors
    config = v["config"]
    target = config["variant"]["name"] if config.get("variant") else str(config["number"])
    return SweepRequest(config=target, data=v["dataset"]["name"], space=space, options=options, n_trials=v["trials"],
                        parallel=v["parallel"], sampler=v["sampler"], pruning=pruning, name=v["name"] or None,
                        note=v["note"]), {}


def _form(datasets: list[dict[str, Any]]) -> None:
    """The widgets of a new sweep; on "Start the sweep", the request checked and created (its first trials
    submitted) and selected below, or each error under its field and nothing created."""
    values, slots = _widgets(datasets)
    if not st.button("Start the sweep", type="primary", key="sweeps_start"):
        return
    request, errors = _request(values)
    if request is not None:
        try:
            with st.spinner("Checking the space and submitting the first trials..."):
                sweep_id = create_sweep(request, data.settings())
        except SweepError as exc:
            errors[_field(str(exc), request.space)] = str(exc)
    for field, message in errors.items():
        slots[field].error(message, icon="⚠️")
    if errors:
        return
    data.sweeps.clear()
    st.session_state.pop("sweeps_table", None)  # its selection is by row, and the new sweep is the first row now
    st.query_params["sweep"] = str(sweep_id)
    config = values["config"]
    what = draw.config_text({"config": request.config, "number": config["number"], "slug": config["slug"]})
    slots["form"].success(f"Sweep {sweep_id} started: {request.n_trials} trials of {what}, {request.parallel} at "
                          "once")


# ------------------------------------------------------------------------------------------------ one sweep

def _about(info: dict[str, Any]) -> str:
    space = SearchSpace.of(info["space"], info["name"])
    options = RunOptions.from_stored(info["options"])
    parts = [", ".join(f"{key} {p.text()}" for key, p in space.params.items()),
             f"sampler {info['sampler']}", f"pruner {Pruning(**info['pruner']).text()}", f"preset {options.preset}",
             f"max steps {options.max_steps or 'the epochs'}", f"seed {options.seed}"]
    if options.eval_every:
        parts.append(f"validate1 every {options.eval_every} steps")
    if options.overrides:
        parts.append("fixed " + values_text(options.overrides))
    return " · ".join(parts) + (f" — {info['note']}" if info["note"] else "")


def _progress(info: dict[str, Any]) -> None:
    """The sweep's trials as they are now: progress, best trial, trials table, figures."""
    sid = info["id"]
    counts = info["trials_by_state"]
    done = info["done"]
    st.progress(min(1.0, done / info["n_trials"]), text=f"{done} of {info['n_trials']} trials done: "
                + ", ".join(f"{n} {state}" for state, n in counts.items() if n))
    best = draw.best_text(info)
    if best:
        st.markdown(best)
        run_id = info["best"]["run"]  # a page link opens it in this session (a markdown link: a new one)
        if run_id is not None:  # None: the run was deleted since
            st.page_link("views/runs.py", label=f"Open run {run_id}, the best trial's",
                         query_params={"run": str(run_id)})
    else:
        st.caption("No complete trial yet.")
    st.dataframe(draw.trial_rows(info), hide_index=True, key=f"sweeps_trials_{sid}",
                 column_config={"run": st.column_config.LinkColumn("run", display_text=r"run=(\d+)"),
                                **{k: st.column_config.NumberColumn(format="%.4f")
                                   for k in ("value", f"latest {draw.OBJECTIVE}", "validate2 GAP")}})
    left, right = st.columns(2)
    left.plotly_chart(draw.history(info), key=f"sweeps_history_{sid}")
    right.plotly_chart(draw.intermediate(info), key=f"sweeps_intermediate_{sid}")
    left.plotly_chart(draw.parallel(info), key=f"sweeps_parallel_{sid}")
    complete = tuple(t["number"] for t in info["trials"] if t["state"] == "complete")
    importances, why = data.sweep_importances(sid, complete)
    right.plotly_chart(draw.importance(importances), key=f"sweeps_importance_{sid}")
    if why:
        right.caption(why)


@st.fragment(run_every=2)
def _live(sweep_id: int, drawn_as: str) -> None:
    """Polls while the sweep runs; the whole page is drawn again once its status changes (Stop becomes Resume)."""
    info = data.sweep(sweep_id)
    if info["status"] != drawn_as:
        data.sweeps.clear()
        st.rerun(scope="app")
    _progress(info)


def _stop_or_resume(info: dict[str, Any]) -> bool:
    """Stop a running sweep, or resume another with a budget of trials; True when it changed (what changed is
    said after the rerun)."""
    sid = info["id"]
    try:
        if info["status"] == "running":
            if not st.button(f"Stop sweep {sid}", key=f"sweeps_stop_{sid}"):
                return False
            cancelled = stop_sweep(sid, data.settings())
            st.session_state["sweeps_done"] = (f"Sweep {sid} stopped; runs cancelled: "
                                               f"{', '.join(map(str, cancelled)) or 'none'}")
            return True
        left, right = st.columns([1, 3], vertical_alignment="bottom")
        budget = left.number_input("Trials in all", min_value=1, value=info["n_trials"], step=1,
                                   key=f"sweeps_budget_{sid}")
        if not right.button(f"Resume sweep {sid}", key=f"sweeps_resume_{sid}"):
            return False
        resume_sweep(sid, None if int(budget) == info["n_trials"] else int(budget), data.settings())
        st.session_state["sweeps_done"] = f"Sweep {sid} resumed: {int(budget)} trials in all"
        return True
    except SweepError as exc:
        st.error(str(exc), icon="⚠️")
        return False


def _launch(info: dict[str, Any], variant: str) -> None:
    """The saved variant submitted on the sweep's dataset with its trials' options (its values are the variant's
    now), the steps and seed as chosen."""
    sid = info["id"]
    stored = RunOptions.from_stored(info["options"])
    st.caption(f"With the trials' steps and seed the run is the best trial's own (reused, as the same values are the "
               f"same run); other steps or another seed train {variant} anew.")
    left, middle, right = st.columns(3, vertical_alignment="bottom")
    steps = left.number_input("Max steps (0: the configuration's epochs)", min_value=0,
                              value=stored.max_steps or 0, step=50, key=f"sweeps_launch_steps_{sid}")
    seed = middle.number_input("Seed", min_value=0, value=stored.seed, step=1, key=f"sweeps_launch_seed_{sid}")
    if not right.button(f"Launch {variant}", key=f"sweeps_launch_{sid}"):
        return
    options = stored.model_copy(update={"overrides": {}, "max_steps": int(steps) or None, "seed": int(seed)})
    try:
        result = submit(variant, info["dataset"], options, settings=data.settings())
    except SubmitError as exc:
        st.error(str(exc), icon="⚠️")
        return
    run_id = next(iter(result.targets.values()))
    data.runs_table.clear()
    how = "reused" if run_id in result.reused else "queued"
    st.success(f"{variant} on {info['dataset']}: [run {run_id}](/runs?run={run_id}) {how}")
    st.page_link("views/runs.py", label=f"Open run {run_id}", query_params={"run": str(run_id)})


def _save(info: dict[str, Any]) -> None:
    """The best trial's configuration saved as a variant (name -> ``save_best``), then launched."""
    sid = info["id"]
    st.markdown("**Save the best trial as a variant**, to launch it or to add it to an ensemble on the "
                "[Compose](/compose) page")
    left, right = st.columns(2)
    name = left.text_input("Variant name (e.g. k16-lr2e-3)", value=f"{info['name'][:57]}-best",
                           key=f"sweeps_variant_name_{sid}")
    slot = left.empty()
    note = right.text_input("Note", key=f"sweeps_variant_note_{sid}")
    if st.button("Save as variant", key=f"sweeps_variant_save_{sid}"):
        try:
            variant = save_best(sid, name.strip(), note, data.settings())
        except SweepError as exc:
            slot.error(str(exc), icon="⚠️")
        else:
            data.variants.clear()
            st.session_state[f"sweeps_saved_{sid}"] = variant.name
            st.success(f"Saved {variant.label}: {values_text(variant.overrides)}")
    saved = st.session_state.get(f"sweeps_saved_{sid}")
    if saved:
        _launch(info, saved)


def _detail(sweep_id: int) -> None:
    try:
        info = data.sweep(sweep_id)
    except SweepError as exc:  # an id typed into the address bar that is not there
        st.error(str(exc))
        return
    # the status in the heading: a change of it draws the whole page again (``_live``)
    st.subheader(f"sweep {sweep_id} {info['name']}: {info['status']} — {draw.config_text(info)} on "
                 f"{info['dataset']}")
    st.caption(_about(info))
    if "sweeps_done" in st.session_state:  # Stop or Resume, one run before
        st.success(st.session_state.pop("sweeps_done"))
    if _stop_or_resume(info):
        data.sweep.clear()
        data.sweeps.clear()
        st.rerun()  # the table above and the buttons follow the new status
    if info["status"] == "running":
        _live(sweep_id, info["status"])
    else:
        _progress(info)
    if info["best"]:
        _save(info)


# ------------------------------------------------------------------------------------------------- the page

st.title("Sweeps")
datasets = data.datasets()
if not datasets:
    st.info("No dataset yet: generate or register one on the Datasets page.")
    st.stop()
found = data.sweeps()
with st.expander("Start a sweep", expanded=not found):
    _form(datasets)
found = data.sweeps()
if not found:
    st.info("No sweep yet: start one above, or `y8m sweep CONFIG --data NAME --set-range key=low:high`.")
    st.stop()
event = st.dataframe(draw.sweep_rows(found), hide_index=True, on_select="rerun", selection_mode="single-row",
                     key="sweeps_table",
                     column_config={f"best {draw.OBJECTIVE}": st.column_config.NumberColumn(format="%.4f")})
picked = [found[i]["id"] for i in (event.selection.rows if event else []) if i < len(found)]
if picked:
    st.query_params["sweep"] = str(picked[0])
asked = st.query_params.get("sweep")
if asked and asked.isdigit():
    _detail(int(asked))
else:
    st.caption("Select a sweep in the table for its trials, figures and best trial.")
