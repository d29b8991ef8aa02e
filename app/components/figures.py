"""Plotly figures for the dashboard: training curves, the leaderboard of the 80 configurations, the paper's
road-map (Table 12), attention weights over a video's frames (Fig. 5) and the stacking weights (Eq. 9-11).

Every builder is pure (data in, ``go.Figure`` out), gives its figure a title and axis titles, and turns empty
input into an empty figure that says "no data yet" instead of raising.

Shapes: K attention groups (or attention-stacking components), T frames (one per second), M stacking members,
C classes, N videos.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from y8m_models.paper import demo

NO_DATA = "no data yet"

# The paper's Table 12 (private leaderboard GAP, blind test set): (row, GAP, the configuration whose GAP is
# "ours" for that row, or None where no single configuration matches the row).
# #77 = class-wise stacking of #1-#27; #79 = attention weighted stacking of #1-#74.
ROADMAP: tuple[tuple[str, float, int | None], ...] = (
    ("27 single models", 0.8425, 77),
    ("+ 11 bagging & boosting models", 0.8435, None),
    ("+ 8 distillation models", 0.8437, None),
    ("+ 11 cascade models", 0.8451, None),
    ("+ 17 more cascade models", 0.8453, None),
    ("Attention weighted stacking", 0.8458, 79),
)


def _figure(title: str, x_title: str, y_title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title={"text": title}, xaxis_title=x_title, yaxis_title=y_title)
    return fig


def _empty(title: str, x_title: str, y_title: str) -> go.Figure:
    fig = _figure(title, x_title, y_title)
    fig.add_annotation(text=NO_DATA, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 16})
    return fig


def _is_gap(metric: str) -> bool:
    return metric.rsplit("/", 1)[-1].lower() == "gap"


def _points(points: Sequence[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) sorted by step, finite values only."""
    pts = sorted((int(s), float(v)) for s, v in points if v is not None and np.isfinite(v))
    return np.array([s for s, _ in pts], dtype=np.int64), np.array([v for _, v in pts], dtype=np.float64)


def _lines(traces: Mapping[str, Sequence[tuple[int, float]]], title: str, y_title: str,
           gap_axis: bool) -> go.Figure:
    """One line per named series; GAP series get markers and a [0, 1] y range."""
    fig = _figure(title, "step", y_title)
    for name, points in traces.items():
        steps, values = _points(points)
        if steps.size:
            fig.add_trace(go.Scatter(x=steps, y=values, name=name, mode="lines+markers" if gap_axis else "lines"))
    if not fig.data:
        return _empty(title, "step", y_title)
    if gap_axis:
        fig.update_yaxes(range=[0, 1])
    return fig


def curves(series: dict[str, list[tuple[int, float]]], names: Sequence[str], title: str) -> go.Figure:
    """Lines of the metric series ``names`` (each a list of (step, value)) against the step. When every named
    series is a GAP (``validate1/gap``, ``validate2/gap``), markers+lines and a y range of [0, 1]."""
    gap_axis = bool(names) and all(_is_gap(n) for n in names)
    y_title = names[0] if len(names) == 1 else ("GAP" if gap_axis else "value")
    return _lines({n: series.get(n, []) for n in names}, title, y_title, gap_axis)


def compare(runs: dict[str, list[tuple[int, float]]], metric: str) -> go.Figure:
    """One line of ``metric`` per run label, overlaid (runs: label -> list of (step, value))."""
    return _lines(runs, f"{metric} by run", metric, _is_gap(metric))


def leaderboard_scatter(rows: Sequence[dict]) -> go.Figure:
    """Our GAP (y) against the paper's (x) for the configurations that have both, one trace per section, hover
    "#N slug", and a dashed y = x line over the shown range. rows: ``number``, ``slug``, ``section``,
    ``paper_gap`` (float | None), ``our_gap`` (float | None)."""
    shown = [r for r in rows if r.get("paper_gap") is not None and r.get("our_gap") is not None]
    title = f"Our GAP against the paper's ({len(shown)} of {len(rows)} configurations)"
    if not shown:
        return _empty(title, "paper GAP", "our GAP")
    fig = _figure(title, "paper GAP", "our GAP")
    values = np.array([[r["paper_gap"], r["our_gap"]] for r in shown], dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    pad = 0.02 * (hi - lo) if hi > lo else 0.005
    fig.add_trace(go.Scatter(x=[lo - pad, hi + pad], y=[lo - pad, hi + pad], mode="lines", name="y = x",
                             line={"dash": "dash", "color": "grey"}, hoverinfo="skip"))
    for section in dict.fromkeys(str(r["section"]) for r in shown):  # first-seen order
        these = [r for r in shown if str(r["section"]) == section]
        fig.add_trace(go.Scatter(
            x=[r["paper_gap"] for r in these], y=[r["our_gap"] for r in these], mode="markers", name=section,
            hovertext=[f"#{r['number']} {r['slug']}" for r in these],
            hovertemplate="%{hovertext}<br>paper %{x:.4f}<br>ours %{y:.4f}<extra>%{fullData.name}</extra>"))
    return fig


def roadmap_rows(our_gaps: Mapping[int, float]) -> list[dict]:
    """``ROADMAP`` as the rows ``roadmap`` takes, with ``ours`` = our GAP of the row's configuration number
    (from ``our_gaps``: number -> GAP) where there is one."""
    return [{"label": label, "paper": paper, "ours": our_gaps.get(number) if number is not None else None}
            for label, paper, number in ROADMAP]


def roadmap(rows: Sequence[dict]) -> go.Figure:
    """The paper's Table 12 as markers+line in row order (``label``, ``paper``: private LB GAP), with our values
    (``ours``, float | None; validate2 GAP) as a second trace where present."""
    title = "Road-map of the ensemble (paper Table 12)"
    if not rows:
        return _empty(title, "ensemble", "GAP")
    fig = _figure(title, "ensemble", "GAP")
    labels = [str(r["label"]) for r in rows]
    fig.add_trace(go.Scatter(x=labels, y=[r["paper"] for r in rows], mode="lines+markers",
                             name="paper (private LB)"))
    ours = [r for r in rows if r.get("ours") is not None]
    if ours:
        fig.add_trace(go.Scatter(x=[str(r["label"]) for r in ours], y=[r["ours"] for r in ours],
                                 mode="markers", marker={"symbol": "diamond", "size": 11}, name="ours (validate2)"))
    fig.update_xaxes(categoryorder="array", categoryarray=labels)
    return fig


# ---------------------------------------------------------------------------------------------- attention


def _weights_KT(weights_KT: np.ndarray, num_frames: int | None = None) -> np.ndarray:
    w_KT = np.asarray(weights_KT, dtype=np.float64)
    if w_KT.ndim != 2:
        raise ValueError(f"weights_KT: expected [K groups, T frames], got shape {w_KT.shape}")
    if num_frames is not None:
        if num_frames < 0:
            raise ValueError(f"num_frames: expected >= 0, got {num_frames}")
        w_KT = w_KT[:, :num_frames]
    return w_KT


def _uninformative_T(uninformative_T: np.ndarray, T: int) -> np.ndarray:
    """The flags of the first T frames (a longer vector, e.g. the synthetic data's 360, is cut to T)."""
    u_T = np.asarray(uninformative_T, dtype=bool).reshape(-1)
    if u_T.size < T:
        raise ValueError(f"uninformative_T: {u_T.size} flags for {T} frames of attention weights")
    return u_T[:T]


def uninformative_share(weights_KT: np.ndarray, uninformative_T: np.ndarray) -> np.ndarray:
    """[K] per group, the share of its attention on uninformative frames (``y8m_models.paper.demo``'s), the flags
    (bool [>= T]) cut to the T frames."""
    w_KT = _weights_KT(weights_KT)
    return demo.uninformative_share(w_KT, _uninformative_T(uninformative_T, w_KT.shape[1]))


def _runs(flags_T: np.ndarray) -> list[tuple[int, int]]:
    """[(first, last)] frame of each run of consecutive True flags."""
    edges = np.diff(np.concatenate([[0], flags_T.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist(), strict=True))


def attention_over_time(weights_KT: np.ndarray, uninformative_T: np.ndarray | None = None,
                        num_frames: int | None = None) -> go.Figure:
    """The attention weight of each frame (x = frame = second), one line per group ("group 1".."group K").
    With ``uninformative_T`` (bool [>= T]) those frames are shaded and the title says the share of the
    attention on them (mean over groups; per group in the legend). Only the first ``num_frames`` are shown."""
    w_KT = _weights_KT(weights_KT, num_frames)
    title = "Attention weight per frame"
    if w_KT.size == 0:
        return _empty(title, "frame (second)", "attention weight")
    shares_K = None
    if uninformative_T is not None:
        u_T = _uninformative_T(uninformative_T, w_KT.shape[1])
        shares_K = uninformative_share(w_KT, u_T)
        if np.isfinite(shares_K).any():
            title += f": {np.nanmean(shares_K):.1%} on uninformative frames (shaded)"
    fig = _figure(title, "frame (second)", "attention weight")
    frames_T = np.arange(w_KT.shape[1])
    for k, w_T in enumerate(w_KT):
        name = f"group {k + 1}"
        if shares_K is not None and np.isfinite(shares_K[k]):
            name += f" ({shares_K[k]:.0%} uninformative)"
        fig.add_trace(go.Scatter(x=frames_T, y=w_T, mode="lines", name=name))
    if uninformative_T is not None:
        for i, (first, last) in enumerate(_runs(u_T)):
            fig.add_vrect(x0=first - 0.5, x1=last + 0.5, fillcolor="grey", opacity=0.25, line_width=0,
                          layer="below", name="uninformative", showlegend=i == 0)
    return fig


def focused_groups(weights_KT: np.ndarray, n: int, num_frames: int | None = None) -> list[int]:
    """The ``n`` groups (of K) whose highest weight over the first ``num_frames`` frames is largest, in group
    order: the gallery's rows where a model has more groups than a page can show (WILLOW's 256 clusters)."""
    if n < 1:
        raise ValueError(f"n: expected >= 1 groups, got {n}")
    w_KT = _weights_KT(weights_KT, num_frames)
    peaks_K = w_KT.max(axis=1) if w_KT.shape[1] else np.zeros(w_KT.shape[0])
    return sorted(np.argsort(-peaks_K, kind="stable")[:n].tolist())


def extreme_frames(weights_KT: np.ndarray, k: int = 4,
                   num_frames: int | None = None) -> list[tuple[list[int], list[int]]]:
    """Per group (K entries): (the k lowest-weighted frame indices, lowest first; the k highest, highest first),
    among the first ``num_frames`` frames, as in the paper's Fig. 5. Ties go to the earlier frame; a video
    shorter than k frames gives all of its frames on each side."""
    if k < 1:
        raise ValueError(f"k: expected >= 1 frames per side, got {k}")
    w_KT = _weights_KT(weights_KT, num_frames)
    out = []
    for w_T in w_KT:
        low = np.argsort(w_T, kind="stable")[:k]
        high = np.argsort(-w_T, kind="stable")[:k]
        out.append((low.tolist(), high.tolist()))
    return out


# ----------------------------------------------------------------------------------------------- stacking


def _weights_MC(weights_MC: np.ndarray, members: Sequence[str]) -> np.ndarray:
    w_MC = np.asarray(weights_MC, dtype=np.float64)
    if w_MC.ndim != 2:
        raise ValueError(f"weights_MC: expected [M members, C classes], got shape {w_MC.shape}")
    if len(members) != w_MC.shape[0]:
        raise ValueError(f"members: {len(members)} names for {w_MC.shape[0]} rows of weights_MC")
    if len(set(members)) != len(members):
        raise ValueError(f"members: names repeat ({list(members)}); each row needs its own name")
    return w_MC


def _columns(order: np.ndarray | None, C: int, max_classes: int) -> np.ndarray:
    """The class indices of the heatmap's columns: ``order`` (or 0..C-1), cut to ``max_classes``."""
    if max_classes < 1:
        raise ValueError(f"max_classes: expected >= 1, got {max_classes}")
    cols = np.arange(C) if order is None else np.asarray(order).reshape(-1)
    if cols.size and not np.issubdtype(cols.dtype, np.integer):
        raise ValueError(f"order: expected class indices (integers), got dtype {cols.dtype}")
    if cols.size and (cols.min() < 0 or cols.max() >= C or np.unique(cols).size != cols.size):
        raise ValueError(f"order: expected distinct class indices in [0, {C}), got {cols[:10].tolist()}...")
    return cols[:max_classes].astype(np.int64)


def stacking_heatmap(weights_MC: np.ndarray, members: Sequence[str], class_names: Sequence[str],
                     order: np.ndarray | None = None, max_classes: int = 400) -> go.Figure:
    """Members (rows, first on top) x classes (columns) heatmap of the class-wise stacking weights [M, C].
    ``order`` (class indices, e.g. by frequency) picks and orders the columns; at most ``max_classes`` of them
    (the title says so when cut). Columns are labelled by class index; hover shows member, class name, weight."""
    w_MC = _weights_MC(weights_MC, members)
    M, C = w_MC.shape
    if len(class_names) != C:
        raise ValueError(f"class_names: {len(class_names)} names for {C} columns of weights_MC")
    cols = _columns(order, C, max_classes)
    listed = C if order is None else np.asarray(order).size
    title = "Class-wise stacking weights"
    if len(cols) < listed:
        title += f" (first {len(cols)} of {listed} classes)"
    if M == 0 or cols.size == 0:
        return _empty(title, "class", "member")
    fig = _figure(title, "class", "member")
    names_MX = np.broadcast_to(np.array([str(class_names[c]) for c in cols], dtype=object), (M, cols.size))
    fig.add_trace(go.Heatmap(z=w_MC[:, cols], x=[str(c) for c in cols], y=list(members), customdata=names_MX,
                             colorscale="Viridis", zmin=0.0, colorbar={"title": {"text": "weight"}},
                             hovertemplate="%{y}<br>class %{x}: %{customdata}<br>weight %{z:.3f}<extra></extra>"))
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def member_weights(weights_MC: np.ndarray, members: Sequence[str]) -> go.Figure:
    """Bar of each member's class-wise weight averaged over the C classes, with the uniform 1/M dotted."""
    w_MC = _weights_MC(weights_MC, members)
    title = "Average stacking weight per member"
    if w_MC.size == 0:
        return _empty(title, "member", "mean weight over classes")
    fig = _figure(title, "member", "mean weight over classes")
    fig.add_trace(go.Bar(x=list(members), y=w_MC.mean(axis=1), name="mean weight"))
    fig.add_hline(y=1.0 / w_MC.shape[0], line_dash="dot", line_color="grey", annotation_text="uniform 1/M")
    return fig


def mixture(alpha_NK: np.ndarray, videos: Sequence[str]) -> go.Figure:
    """Attention-weighted stacking's mixture alpha [N, K] (rows sum to 1): one stacked bar per video, one
    segment per component ("component 1".."component K")."""
    a_NK = np.asarray(alpha_NK, dtype=np.float64)
    if a_NK.ndim != 2:
        raise ValueError(f"alpha_NK: expected [N videos, K components], got shape {a_NK.shape}")
    if len(videos) != a_NK.shape[0]:
        raise ValueError(f"videos: {len(videos)} ids for {a_NK.shape[0]} rows of alpha_NK")
    title = "Attention-weighted stacking: mixture per video"
    if a_NK.size == 0:
        return _empty(title, "video", "mixture weight")
    fig = _figure(title, "video", "mixture weight")
    for k, a_N in enumerate(a_NK.T):
        fig.add_trace(go.Bar(x=list(videos), y=a_N, name=f"component {k + 1}"))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1])
    return fig
