"""What the Sweeps page draws of a sweep, from ``worker.sweeps.show_sweep``'s dict (``info``): the trials table,
the sweeps table, and four plotly figures (the optimisation history, parallel coordinates, parameter importance,
each trial's validate1 GAP by step). Pure: data in, rows or a ``go.Figure`` out; an empty input gives a figure
that says "no data yet" instead of raising, as ``figures`` does.

Our own figures rather than ``optuna.visualization``'s: a choice of the space may be any JSON value (Optuna holds
it as JSON text), a log range reads better on log10 axes labelled as such, and a pruned trial shows where it was
stopped; the importances are Optuna's (``app.data.sweep_importances``), drawn here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from app.components.figures import NO_DATA
from y8m_models.configs.space import values_text

OBJECTIVE = "validate1 GAP"  # what a trial's value is (worker.sweeps.OBJECTIVE's GAP)


def _figure(title: str, x_title: str, y_title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title={"text": title}, xaxis_title=x_title, yaxis_title=y_title)
    return fig


def _empty(title: str, x_title: str = "", y_title: str = "") -> go.Figure:
    fig = _figure(title, x_title, y_title)
    fig.add_annotation(text=NO_DATA, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 16})
    return fig


def last_gap(trial: Mapping[str, Any]) -> float | None:
    """A trial's latest validate1 GAP (its run's last evaluation), or None before its first."""
    return trial["intermediate"][-1][1] if trial["intermediate"] else None


def config_text(sweep: Mapping[str, Any]) -> str:
    """The configuration a sweep varies: ``#1 chaining_video_relabel``, or ``#25 · k16 (variant of multi_...)``."""
    if sweep["config"] in (str(sweep["number"]), sweep["slug"]):
        return f"#{sweep['number']} {sweep['slug']}"
    return f"#{sweep['number']} · {sweep['config']} (variant of {sweep['slug']})"


# ------------------------------------------------------------------------------------------------- tables

def sweep_rows(sweeps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``list_sweeps``'s rows as the sweeps table: id, name, status, configuration, dataset, trials done of the
    budget, the best value and its trial."""
    rows = []
    for sw in sweeps:
        done = sw["done"]
        best = sw["best"]
        rows.append({"id": sw["id"], "name": sw["name"], "status": sw["status"], "configuration": config_text(sw),
                     "dataset": sw["dataset"], "trials": f"{done}/{sw['n_trials']}",
                     f"best {OBJECTIVE}": best["value"] if best else None,
                     "best trial": best["trial"] if best else None})
    return rows


def trial_rows(info: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per trial: its number, state, drawn values (a column per varied key), value (the run's validate1 GAP
    at its selected checkpoint), latest validate1 GAP, validate2 GAP, step/steps (where it was pruned, for a pruned
    one), its run as a ``/runs?run=ID`` link, and why it was pruned or failed."""
    rows = []
    for t in info["trials"]:
        step = t["step"] if t["state"] == "pruned" and t["step"] is not None else t["run_step"]
        steps = f"{step if step is not None else '-'}/{t['run_steps'] or '?'}" if t["run"] is not None else ""
        rows.append({"trial": t["number"], "state": t["state"], **{k: t["params"].get(k) for k in info["space"]},
                     "value": t["value"], f"latest {OBJECTIVE}": last_gap(t),
                     "validate2 GAP": t["gap"].get("validate2"), "step": steps,
                     "run": f"/runs?run={t['run']}" if t["run"] is not None else None,
                     "run status": t["run_status"] or "",
                     "message": t["message"] if t["state"] in ("pruned", "failed", "stopped") else ""})
    return rows


def best_text(info: Mapping[str, Any]) -> str | None:
    """The best trial as markdown with its run linked, or None before a trial is complete."""
    best = info["best"]
    if best is None:
        return None
    return (f"**Best: trial {best['trial']}**, [run {best['run']}](/runs?run={best['run']}), {OBJECTIVE} "
            f"{best['value']:.4f}: {values_text(best['params'])}")


# ------------------------------------------------------------------------------------------------ figures

def history(info: Mapping[str, Any]) -> go.Figure:
    """Each complete trial's value by trial number, the best so far as a step line, and each pruned trial at its
    last validate1 GAP (a cross): the optimisation history."""
    title = "Optimisation history"
    complete = [t for t in info["trials"] if t["state"] == "complete" and t["value"] is not None]
    pruned = [t for t in info["trials"] if t["state"] == "pruned" and last_gap(t) is not None]
    if not complete and not pruned:
        return _empty(title, "trial", OBJECTIVE)
    fig = _figure(title, "trial", OBJECTIVE)
    if complete:
        fig.add_trace(go.Scatter(x=[t["number"] for t in complete], y=[t["value"] for t in complete],
                                 mode="markers", name="complete",
                                 hovertext=[values_text(t["params"]) for t in complete]))
        best, running = [], -math.inf
        for t in complete:
            running = max(running, t["value"])
            best.append(running)
        fig.add_trace(go.Scatter(x=[t["number"] for t in complete], y=best, mode="lines", name="best so far",
                                 line={"shape": "hv"}))
    if pruned:
        fig.add_trace(go.Scatter(x=[t["number"] for t in pruned], y=[last_gap(t) for t in pruned], mode="markers",
                                 name="pruned (last GAP)", marker={"symbol": "x", "size": 9},
                                 hovertext=[values_text(t["params"]) for t in pruned]))
    fig.update_xaxes(dtick=1 if len(info["trials"]) <= 20 else None)
    return fig


def _short(key: str, keys: Sequence[str]) -> str:
    """A key's last part (``learning_rate``) where no other varied key ends the same; else the whole key."""
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in keys) == 1 else key


def _log_ticks(low: float, high: float) -> dict[str, Any]:
    """Ticks of a log10 axis at the powers of ten between the ends (the ends themselves where fewer than two), labelled
    with the values."""
    ends = math.log10(low), math.log10(high)
    ticks = [float(p) for p in range(math.ceil(ends[0]), math.floor(ends[1]) + 1)]
    ticks = ticks if len(ticks) >= 2 else sorted({ends[0], *ticks, ends[1]})
    return {"tickvals": ticks, "ticktext": [f"{10 ** t:.3g}" for t in ticks], "range": list(ends)}


def _dimension(key: str, label: str, param: Mapping[str, Any], values: list[Any]) -> dict[str, Any]:
    """A parallel-coordinates axis of a varied key: log10 of a log range (ticked with the values), the index of a
    choice (labelled with the choices), else the value."""
    if "choices" in param:
        texts = [json.dumps(c, sort_keys=True) for c in param["choices"]]
        return {"label": label, "values": [texts.index(json.dumps(v, sort_keys=True)) for v in values],
                "tickvals": list(range(len(texts))), "ticktext": texts, "range": [0, max(len(texts) - 1, 1)]}
    if param.get("log"):
        return {"label": f"{label} (log)", "values": [math.log10(v) for v in values],
                **_log_ticks(param["low"], param["high"])}
    return {"label": label, "values": values, "range": [param["low"], param["high"]]}


def parallel(info: Mapping[str, Any]) -> go.Figure:
    """The complete trials as lines across one axis per varied key (named by its last part) and a last one of their
    value, coloured by it."""
    title = "Parallel coordinates of the complete trials"
    complete = [t for t in info["trials"] if t["state"] == "complete" and t["value"] is not None]
    if not complete:
        return _empty(title)
    values = [t["value"] for t in complete]
    keys = list(info["space"])
    dims = [_dimension(key, _short(key, keys), info["space"][key], [t["params"][key] for t in complete])
            for key in keys]
    dims.append({"label": OBJECTIVE, "values": values})
    fig = go.Figure(go.Parcoords(dimensions=dims, line={"color": values, "colorscale": "Viridis", "showscale": True,
                                                        "colorbar": {"title": {"text": OBJECTIVE}}}))
    fig.update_layout(title={"text": title}, margin={"l": 80, "r": 80})
    return fig


def importance(importances: Mapping[str, float]) -> go.Figure:
    """Each varied key's share of the variation of the value (Optuna's importances: sum 1), largest on top."""
    title = f"Parameter importance for the {OBJECTIVE}"
    if not importances:
        return _empty(title, "importance", "")
    ranked = sorted(importances.items(), key=lambda kv: kv[1])  # plotly draws the first bar at the bottom
    fig = _figure(title, "importance", "")
    fig.add_trace(go.Bar(x=[v for _, v in ranked], y=[k for k, _ in ranked], orientation="h",
                         text=[f"{v:.2f}" for _, v in ranked], name="importance"))
    fig.update_xaxes(range=[0, 1])
    return fig


def intermediate(info: Mapping[str, Any]) -> go.Figure:
    """Each trial's validate1 GAP at each evaluation of its run (the points pruning judges); pruned ones dashed."""
    title = f"{OBJECTIVE} of each trial by step"
    fig = _figure(title, "step", OBJECTIVE)
    for t in info["trials"]:
        if t["intermediate"]:
            steps, gaps = zip(*t["intermediate"], strict=True)
            fig.add_trace(go.Scatter(x=list(steps), y=list(gaps), mode="lines+markers",
                                     name=f"trial {t['number']} ({t['state']})",
                                     line={"dash": "dash" if t["state"] == "pruned" else "solid"}))
    return fig if fig.data else _empty(title, "step", OBJECTIVE)
