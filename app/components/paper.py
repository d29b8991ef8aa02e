"""The Paper page's pure builders: a paper set's report (``worker.paper.report``, i.e. ``y8m_models.paper.to_json``
with the set's meta) in, the lines and table rows the page shows out.

A row's runs are found by its run's name (``RunKey.name``) in ``meta["runs"]``, one run id per seed. A claim
whose ``mechanism`` is None is still shown with its verdict, but said to be no evidence either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from y8m_models.paper import RunKey
from y8m_models.paper.judge import CAVEAT, NO_MECHANISM, NOT_MEASURED

SHOWN_STATUSES = ("succeeded", "running", "queued", "failed")  # always named in the progress line, in this order
OUTCOMES = {True: "✅ reproduced", False: "❌ not reproduced", None: "⏳ " + NOT_MEASURED}
__all__ = ["CAVEAT", "comparison_line", "comparison_lines", "demo_lines", "progress", "run_name", "set_label",
           "summary_line", "table_rows"]


def set_label(paper_set: Mapping[str, Any]) -> str:
    """``demo-quick (demo, 2024-05-01T10:00:00Z): tables 4, 5, 7, 8, 10, 1 seed, tiny``."""
    seeds = paper_set["seeds"]
    return (f"{paper_set['name']} ({paper_set['dataset']}, {paper_set['created']}): tables "
            f"{', '.join(map(str, paper_set['tables']))}, {seeds} seed{'s' if seeds != 1 else ''}, "
            f"{paper_set['preset']}")


def progress(statuses: Mapping[int, str]) -> tuple[float, str]:
    """(share of the set's runs that succeeded, ``"4 of 12 runs succeeded; 2 running, 5 queued, 1 failed"``):
    the four usual statuses always, any other (waiting, interrupted, cancelled) when a run has it."""
    counts = Counter(statuses.values())
    total, done = len(statuses), counts.get("succeeded", 0)
    others = [*SHOWN_STATUSES[1:], *sorted(s for s in counts if s not in SHOWN_STATUSES)]
    rest = ", ".join(f"{counts.get(s, 0)} {s}" for s in others)
    return (done / total if total else 0.0), f"{done} of {total} runs succeeded; {rest}"


def summary_line(summary: Mapping[str, int]) -> str:
    """The report's summary (``y8m_models.paper.judge``'s counts) as one sentence."""
    return (f"Reproduced {summary['reproduced_with_mechanism']} of the {summary['with_mechanism']} comparisons that "
            f"have a mechanism in the synthetic world ({summary['reproduced']} of all {summary['comparisons']}); "
            f"{summary['not_measured']} not measured yet.")


def run_name(row: Mapping[str, Any]) -> str:
    """A report row's run as ``meta["runs"]`` names it (``RunKey.name``: ``#3``, ``#77 ensemble.members=...``)."""
    return RunKey.of(row["run"]["config"], row["run"]["overrides"]).name


def table_rows(table: Mapping[str, Any], runs: Mapping[str, Sequence[int]], seeds: int,
               first_seed: int = 0) -> list[dict[str, Any]]:
    """One dataframe row per report row: model, column (two-column tables only), paper GAP, ours (mean over the
    seeds measured), ± std, seeds, note (where a row of the table has one: how the paper's figure or our row
    departs), and a link to its run on the Runs page per seed (``run`` with one seed, ``run, seed k`` with
    several, k counted from ``first_seed``: the set's ``--first-seed``); None where there is nothing yet."""
    noted, out = any(row["note"] for row in table["rows"]), []
    for row in table["rows"]:
        ids = list(runs.get(run_name(row), ()))
        shown: dict[str, Any] = {"model": row["label"]}
        if table["columns"]:
            shown["column"] = row["column"]
        shown |= {"paper GAP": row["paper_gap"], "ours": row["mean"], "± std": row["std"], "seeds": row["seeds"]}
        if noted:
            shown["note"] = row["note"]
        for seed in range(max(seeds, 1)):
            link = f"/runs?run={ids[seed]}" if seed < len(ids) else None
            shown["run" if seeds <= 1 else f"run, seed {first_seed + seed}"] = link
        out.append(shown)
    return out


def _measured(comparison: Mapping[str, Any]) -> str:
    """``0.5400 vs 0.5100: difference +0.0300, +1.2 seed spreads``; ``order``: the means in the claim's order and
    the smallest step; without a spread (one seed) the raw difference and why (the verdict's first note)."""
    above = comparison["kind"] == "above"
    means = (" vs " if above else ", ").join(f"{m:.4f}" for m in comparison["means"])
    step = f"{'difference' if above else 'smallest step'} {comparison['difference']:+.4f}"
    margin = comparison["margin"]
    why = comparison["detail"].split("; ")[0]  # ONE_SEED or NO_SPREAD comes first when there is no margin
    return f"{means}: {step}" + (f", {margin:+.1f} seed spreads" if margin is not None else f" ({why})")


def comparison_line(comparison: Mapping[str, Any]) -> str:
    """One comparison as a Markdown line: outcome, the claim, our GAPs and margin (or the rows not measured yet),
    and where the synthetic world has no mechanism for it, that it is no evidence either way."""
    line = f"**{OUTCOMES[comparison['reproduced']]}**: {comparison['claim']}"
    if comparison["reproduced"] is None:
        missing = [name for name, seeds in zip(comparison["rows"], comparison["seeds"], strict=True) if not seeds]
        line += " — no GAP yet for " + ", ".join(f'"{name}"' for name in missing)
    else:
        line += f" — {_measured(comparison)}"
    if comparison["mechanism"] is None:
        line += f" — _{NO_MECHANISM}: no evidence either way_"
    return line


def comparison_lines(comparisons: Sequence[Mapping[str, Any]], table: int) -> list[str]:
    """The lines of one table's comparisons, in the report's order."""
    return [comparison_line(c) for c in comparisons if c["table"] == table]


DEMO_MARKS = {True: "✅ shows", False: "❌ does not show", None: "⏳ " + NOT_MEASURED}


def demo_lines(result: Mapping[str, Any]) -> list[str]:
    """The demo's findings (``worker.paper.demo_findings``) as Markdown lines: mark, finding, its figures; then
    the runs read, each a link to its page."""
    lines = [f"**{DEMO_MARKS[f['shows']]}**: {f['finding']} — {f['line']}" for f in result["findings"]]
    runs = ", ".join(f"[#{n}](/runs?run={run_id})" for n, run_id in result["runs"].items())
    return lines + ([f"Runs read: {runs}."] if runs else [])
