"""Rank agreement between the paper's GAPs and ours, for the Leaderboard page.

GAPs on synthetic data are not comparable to the paper's (real YouTube-8M) in absolute terms; only the
order of the configurations is: each side's ranks (1 = highest GAP, ties share the average rank) and
Kendall's tau-b between the two orders (Kendall 1945, "The treatment of ties in ranking problems"):

    tau_b = (P - Q) / sqrt((n0 - n1) (n0 - n2))

P concordant pairs, Q discordant pairs, n0 = n (n - 1) / 2 pairs, n1 / n2 the pairs tied on x / on y.

Shapes: N configurations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

NEEDED = 2  # Kendall's tau compares pairs: fewer configurations than this leave nothing to compare


def _finite_N(values: Sequence[float], name: str) -> np.ndarray:
    v_N = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.isfinite(v_N).all():
        raise ValueError(f"{name}: expected finite numbers, got {v_N[~np.isfinite(v_N)][:5].tolist()}")
    return v_N


def descending_ranks(values: Sequence[float]) -> np.ndarray:
    """float [N]: each value's rank, 1 = highest; tied values share the average of the ranks they span
    (0.9, 0.8, 0.8, 0.7 -> 1, 2.5, 2.5, 4)."""
    v_N = _finite_N(values, "values")
    higher_N = (v_N[None, :] > v_N[:, None]).sum(axis=1)
    tied_N = (v_N[None, :] == v_N[:, None]).sum(axis=1)  # counts the value itself
    return 1.0 + higher_N + (tied_N - 1) / 2.0


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b between two pairings of N items, in [-1, 1] (1: same order, -1: reversed); ties count
    as neither concordant nor discordant and shrink the denominator. None where it is undefined: fewer than 2
    items, or every pair tied on one side."""
    x_N, y_N = _finite_N(x, "x"), _finite_N(y, "y")
    if x_N.size != y_N.size:
        raise ValueError(f"x, y: expected the same number of items, got {x_N.size} and {y_N.size}")
    upper_NN = np.triu(np.ones((x_N.size, x_N.size), dtype=bool), k=1)  # each pair i < j once
    sx_NN = np.sign(x_N[None, :] - x_N[:, None])[upper_NN]
    sy_NN = np.sign(y_N[None, :] - y_N[:, None])[upper_NN]
    untied_x, untied_y = np.count_nonzero(sx_NN), np.count_nonzero(sy_NN)  # n0 - n1, n0 - n2
    if untied_x == 0 or untied_y == 0:
        return None
    return float((sx_NN * sy_NN).sum() / np.sqrt(float(untied_x) * float(untied_y)))


def paired_ranks(gaps: Mapping[int, tuple[float | None, float | None]]) -> dict[int, tuple[float, float]]:
    """configuration number -> (paper rank, our rank), for the configurations of ``gaps`` (number -> (paper
    GAP, our GAP), either None where missing) that have both; each ranked among those only."""
    both = {n: (p, o) for n, (p, o) in gaps.items() if p is not None and o is not None}
    paper_N = descending_ranks([p for p, _ in both.values()])
    ours_N = descending_ranks([o for _, o in both.values()])
    return {n: (float(p), float(o)) for n, p, o in zip(both, paper_N, ours_N, strict=True)}


def tau_metric(tau: float | None, n: int) -> tuple[str, str]:
    """(label, value) of the page's rank agreement metric, for tau over n configurations."""
    label = f"Rank agreement with the paper: Kendall's tau-b over n = {n} configuration{'' if n == 1 else 's'}"
    if n < NEEDED:
        return label, f"cannot be computed yet (needs {NEEDED})"
    if tau is None:
        return label, "undefined (all tied on one side)"
    return label, f"{tau:.3f}"
