"""What the Runs page draws of several runs: their parallel coordinates, one axis per value that differs between
them, then their validate1 and validate2 GAP, each run a line coloured by its validate2 GAP.

Pure: plain dicts in (``app.data.run_values``: a run's ``id``, its ``values`` -- the frozen configuration's ``model``
and ``ensemble``, its configuration's name, preset and seed, nested as stored -- and its ``validate1 GAP`` and
``validate2 GAP``, None where it has none), a ``go.Figure`` out; no runs give a figure that says "no data yet", as
``figures`` does.

A value's axis: numbers on a linear axis, or a log10 one (ticked with the values) where they are all positive and
span two decades or more; anything else (text, choices, booleans, lists) as categories. A run without the value (a
key another architecture has, a GAP not measured) sits on a "none" tick below the others; a run without a validate2
GAP takes the lowest colour.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from app.components.figures import NO_DATA

GAPS = ("validate1 GAP", "validate2 GAP")
COLOUR = "validate2 GAP"
LOG_DECADES = 2  # numbers spanning this many powers of ten (all positive) go on a log10 axis
NONE = "none"  # the tick of a run without the value
INT_TICKS = 8  # whole numbers with at most this many values are ticked at each of them
TICK_CHARS = 28  # a category's label is cut here (an ensemble's members as JSON are long; axes stand close)


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys (``model.training.learning_rate``), as ``--set`` and ``--where`` name them;
    lists, None and numbers are values."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _same(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def differing_keys(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The dotted keys of the runs' values that are not the same in all of them (a key some runs lack counts): those
    fewer runs lack first (runs of different architectures share few keys; a stack has no ``model``), then in the
    order the values have them."""
    flat = [flatten(r["values"]) for r in runs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    differ = [k for k in keys if len({_same(f.get(k)) for f in flat}) > 1]
    return sorted(differ, key=lambda k: sum(f.get(k) is None for f in flat))


def short_labels(keys: Sequence[str]) -> dict[str, str]:
    """Each key by its shortest dotted ending that no other key ends with (``learning_rate``; ``loss.temperature``
    beside ``distillation.temperature``)."""
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            ending = ".".join(parts[-n:])
            if n == len(parts) or not any(k != key and (k == ending or k.endswith("." + ending)) for k in keys):
                out[key] = ending
                break
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any) -> str:
    text = NONE if value is None else value if isinstance(value, str) else _same(value)
    return text if len(text) <= TICK_CHARS else text[: TICK_CHARS - 1] + "…"


def categorical_axis(label: str, values: Sequence[Any]) -> dict[str, Any]:
    """An axis of categories, sorted, "none" first: each run at its category's index."""
    texts = [_text(v) for v in values]
    order = sorted(set(texts), key=lambda t: (t != NONE, t))
    return {"label": label, "values": [order.index(t) for t in texts], "tickvals": list(range(len(order))),
            "ticktext": order, "range": [0, max(len(order) - 1, 1)]}


def numeric_axis(label: str, values: Sequence[float | None], log: bool | None = None) -> dict[str, Any]:
    """An axis of numbers (None: the "none" tick below them), on log10 where ``log`` says so (None: where they are
    positive and span ``LOG_DECADES`` powers of ten); ticked with the values either way."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return categorical_axis(label, values)
    low, high = min(present), max(present)
    if log is None:
        log = low > 0 and math.log10(high / low) >= LOG_DECADES
    place = math.log10 if log else float
    lo, hi = place(low), place(high)
    if log:
        ticks = [float(p) for p in range(math.ceil(lo), math.floor(hi) + 1)]
        ticks = ticks if len(ticks) >= 2 else sorted({lo, *ticks, hi})
    elif all(v.is_integer() for v in present) and len(set(present)) <= INT_TICKS:  # seeds, stages, widths
        ticks = sorted(set(present))
    else:
        ticks = [lo + (hi - lo) * i / 4 for i in range(5)] if hi > lo else [lo]
    text = [f"{10 ** t if log else t:.4g}" for t in ticks]
    span = (hi - lo) or abs(hi) or 1.0
    bottom, top = (lo, hi) if hi > lo else (lo - span / 2, hi + span / 2)
    none_at = bottom - span * 0.15
    if len(present) < len(values):
        ticks, text, bottom = [none_at, *ticks], [NONE, *text], none_at
    return {"label": f"{label} (log)" if log else label, "tickvals": ticks, "ticktext": text,
            "range": [bottom, top], "values": [none_at if v is None else place(v) for v in values]}


def value_axis(label: str, values: Sequence[Any]) -> dict[str, Any]:
    """Numbers (and None) on a numeric axis, anything else on a categorical one."""
    present = [v for v in values if v is not None]
    if present and all(_is_number(v) for v in present):
        return numeric_axis(label, values)
    return categorical_axis(label, values)


def parallel_coordinates(runs: Sequence[Mapping[str, Any]], keys: Sequence[str] | None = None) -> go.Figure:
    """The runs as lines across a "run" axis, one axis per key (default: ``differing_keys``; named by
    ``short_labels``), then validate1 and validate2 GAP; coloured by validate2 GAP."""
    title = f"Parallel coordinates of {len(runs)} run{'s' if len(runs) != 1 else ''}"
    if not runs:
        fig = go.Figure()
        fig.update_layout(title={"text": f"{title}: {NO_DATA}"})
        return fig
    differ = differing_keys(runs)
    keys = differ if keys is None else list(keys)
    flat = [flatten(r["values"]) for r in runs]
    labels = short_labels(keys)
    ids = [r["id"] for r in runs]
    run_axis = {"label": "run", "values": ids, "range": [min(ids), max(max(ids), min(ids) + 1)]}
    if len(ids) <= 25:
        run_axis |= {"tickvals": ids, "ticktext": [str(i) for i in ids]}
    gaps = [numeric_axis(gap, [r.get(gap) for r in runs], log=False) for gap in GAPS]  # the colour's scale
    dims = [run_axis, *(value_axis(labels[k], [f.get(k) for f in flat]) for k in keys), *gaps]
    scored = [r[COLOUR] for r in runs if r.get(COLOUR) is not None]
    line: dict[str, Any] = {"color": gaps[GAPS.index(COLOUR)]["values"], "colorscale": "Viridis"}
    if scored:
        line |= {"cmin": min(scored), "cmax": max(scored) if max(scored) > min(scored) else min(scored) + 1e-6,
                 "showscale": True, "colorbar": {"title": {"text": COLOUR}}}
    fig = go.Figure(go.Parcoords(dimensions=dims, line=line))
    said = (f"{len(differ)} value{'s' if len(differ) != 1 else ''} differ" if differ else "no value differs") + (
        f", {len(keys)} shown" if len(keys) != len(differ) else "")
    fig.update_layout(title={"text": f"{title}: {said}"}, margin={"l": 80, "r": 80})
    return fig
