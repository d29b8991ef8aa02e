"""Judging the paper's comparisons on the GAPs we measured, and the report of `y8m paper` (Markdown, JSON).

``gaps[run_key]`` holds our validate2 GAP of that run, one per seed; a run missing or empty is "not
measured". A claim "A above B" is reproduced iff mean(A) > mean(B); its margin is that difference in units
of the seed spread ``sqrt((var_A + var_B) / 2)`` (sample variances, ddof 1), None with one seed or no spread.
An "order" claim is reproduced iff every adjacent pair holds; its margin is the smallest pair's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import fmean, stdev, variance
from typing import Any

from y8m_models.paper.tables import TABLES, Claim, ClaimKind, PaperTable, Row, RunKey

Gaps = Mapping[RunKey, Sequence[float]]
NOT_MEASURED, ONE_SEED, NO_SPREAD = "not measured", "one seed: no spread", "no spread over seeds"
NO_MECHANISM = "no mechanism in the synthetic world"
CAVEAT = ("GAPs on synthetic data are not comparable with the paper's in absolute terms; the comparisons "
          "within a table are.")


@dataclass(frozen=True)
class Verdict:
    table: int
    claim: str
    kind: ClaimKind
    rows: tuple[str, ...]  # the rows compared (Row.name), in the claim's order
    means: tuple[float | None, ...]  # our mean GAP of each row; None where not measured
    seeds: tuple[int, ...]  # how many seeds each mean is over
    reproduced: bool | None  # None: a row not measured
    margin: float | None  # in seed spreads (order: the smallest adjacent pair's); None: see detail
    difference: float | None  # raw GAP difference (order: the smallest adjacent one)
    mechanism: str | None  # None: the synthetic world has none, and the verdict is no evidence either way
    detail: str  # "not measured: ...", "one seed: no spread", "no mechanism in the synthetic world"; ";"-joined

    @property
    def outcome(self) -> str:
        return NOT_MEASURED if self.reproduced is None else "reproduced" if self.reproduced else "not reproduced"

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "claim": self.claim, "kind": self.kind, "rows": list(self.rows),
                "means": list(self.means), "seeds": list(self.seeds), "reproduced": self.reproduced,
                "margin": self.margin, "difference": self.difference, "mechanism": self.mechanism,
                "detail": self.detail}


def parse_tables(text: str) -> tuple[int, ...]:
    """``"2-12"``, ``"4,5,7"`` or ``"2-4,10"`` -> sorted table numbers (``--tables``)."""
    numbers: set[int] = set()
    for part in text.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        if not (low.isdigit() and (high.isdigit() or not high)):
            raise ValueError(f"--tables {text!r}: {part!r} is neither a table number nor a range like 2-12")
        numbers.update(range(int(low), int(high or low) + 1))
    return _checked(numbers)


def _checked(tables: Iterable[int]) -> tuple[int, ...]:
    numbers = sorted(set(tables))
    unknown = [n for n in numbers if n not in TABLES]
    if unknown or not numbers:
        raise ValueError(f"tables {unknown or '(none)'}: the paper's tables are {min(TABLES)}-{max(TABLES)}")
    return tuple(numbers)


def runs_needed(tables: Iterable[int]) -> list[RunKey]:
    """Every distinct RunKey the tables read, in table then row order (a run shared by tables once)."""
    keys = (row.run for n in _checked(tables) for row in TABLES[n].rows)
    return list(dict.fromkeys(keys))


def _seeds(gaps: Gaps, run: RunKey) -> list[float]:
    return [float(g) for g in gaps.get(run, ())]


def _pair(low: list[float], high: list[float]) -> tuple[float, float | None]:
    """(mean(high) - mean(low), that over the seed spread); the margin is None with one seed or no spread."""
    difference = fmean(high) - fmean(low)
    if min(len(low), len(high)) < 2:
        return difference, None
    spread = math.sqrt((variance(low) + variance(high)) / 2)
    return difference, difference / spread if spread > 0 else None


def _verdict(claim: Claim, table: PaperTable, gaps: Gaps) -> Verdict:
    values = [_seeds(gaps, table.row(name).run) for name in claim.rows]
    notes = [] if claim.mechanism else [NO_MECHANISM]
    missing = [name for name, v in zip(claim.rows, values, strict=True) if not v]
    common = {"table": claim.table, "claim": claim.text, "kind": claim.kind, "rows": claim.rows,
              "means": tuple(fmean(v) if v else None for v in values), "seeds": tuple(len(v) for v in values),
              "mechanism": claim.mechanism}
    if missing:
        detail = "; ".join([f"{NOT_MEASURED}: " + ", ".join(f'"{name}"' for name in missing), *notes])
        return Verdict(**common, reproduced=None, margin=None, difference=None, detail=detail)
    # "above" reads (A, B) and holds when B < A; "order" reads its rows ascending.
    ascending = values[::-1] if claim.kind == "above" else values
    pairs = [_pair(low, high) for low, high in pairwise(ascending)]
    differences = [d for d, _ in pairs]
    reproduced = all(d > 0 for d in differences) if claim.strict else all(d >= 0 for d in differences)
    margins = [m for _, m in pairs]
    if any(len(v) < 2 for v in values):
        notes.insert(0, ONE_SEED)
    elif None in margins:
        notes.insert(0, NO_SPREAD)
    return Verdict(**common, reproduced=reproduced, margin=None if None in margins else min(margins),
                   difference=min(differences), detail="; ".join(notes))


def judge(tables: Iterable[int], gaps: Gaps) -> list[Verdict]:
    """A verdict for every claim of the tables, in table order."""
    return [_verdict(claim, TABLES[n], gaps) for n in _checked(tables) for claim in TABLES[n].claims]


def _row_json(row: Row, gaps: Gaps) -> dict[str, Any]:
    values = _seeds(gaps, row.run)
    return {"name": row.name, "label": row.label, "column": row.column, "paper_gap": row.paper_gap,
            "mean": fmean(values) if values else None, "std": stdev(values) if len(values) > 1 else None,
            "seeds": len(values), "gaps": values, "run": row.run.to_json(), "note": row.note}


def gaps_of(report: Mapping[str, Any]) -> dict[RunKey, list[float]]:
    """The GAPs a report (``to_json``) holds, one per seed measured, by RunKey (a run read by several tables
    once). ValueError where two rows of one run disagree: the report was edited."""
    gaps: dict[RunKey, list[float]] = {}
    for table in report["tables"]:
        for row in table["rows"]:
            key, values = RunKey.of(row["run"]["config"], row["run"]["overrides"]), [float(g) for g in row["gaps"]]
            if gaps.setdefault(key, values) != values:
                raise ValueError(f"{key.name}: Table {table['number']} gives GAPs {values}, an earlier table "
                                 f"{gaps[key]}")
    return gaps


def table_rows(table: int, gaps: Gaps) -> list[dict[str, Any]]:
    """Each row of ``table``: name, label, column, paper_gap, our mean, std (ddof 1) and seeds, gaps per seed,
    run (config and overrides), note."""
    return [_row_json(row, gaps) for row in TABLES[_checked([table])[0]].rows]


def _summary(verdicts: list[Verdict]) -> dict[str, int]:
    with_mechanism = [v for v in verdicts if v.mechanism]
    return {"comparisons": len(verdicts), "with_mechanism": len(with_mechanism),
            "reproduced": sum(v.reproduced is True for v in verdicts),
            "reproduced_with_mechanism": sum(v.reproduced is True for v in with_mechanism),
            "not_measured": sum(v.reproduced is None for v in verdicts)}


def to_json(tables: Iterable[int], gaps: Gaps, *, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"meta", "tables": [{number, title, note, columns, rows}], "comparisons": [Verdict.to_json()],
    "summary"}``."""
    numbers = _checked(tables)
    verdicts = judge(numbers, gaps)
    return {"meta": dict(meta or {}),
            "tables": [{"number": n, "title": TABLES[n].title, "note": TABLES[n].note,
                        "columns": list(TABLES[n].columns), "rows": table_rows(n, gaps)} for n in numbers],
            "comparisons": [v.to_json() for v in verdicts], "summary": _summary(verdicts)}


# ------------------------------------------------------------------------------------------------ Markdown

def _ours(row: dict[str, Any]) -> str:
    if row["mean"] is None:
        return NOT_MEASURED
    if row["std"] is None:
        return f"{row['mean']:.4f} ({row['seeds']} seed{'s' if row['seeds'] > 1 else ''})"
    return f"{row['mean']:.4f} ± {row['std']:.4f} ({row['seeds']} seeds)"


def _paper(row: dict[str, Any]) -> str:
    return f"{row['paper_gap']:.4f}" + ("*" if row["note"] else "")


def _row_lines(table: PaperTable, rows: list[dict[str, Any]]) -> list[str]:
    if not table.columns:
        return ["| model | paper GAP | ours (mean ± std over seeds) |", "|---|---:|---:|",
                *(f"| {r['label']} | {_paper(r)} | {_ours(r)} |" for r in rows)]
    by_cell = {(r["label"], r["column"]): r for r in rows}
    header = " | ".join(f"{c}: paper | {c}: ours" for c in table.columns)
    lines = [f"| model | {header} |", "|---" + "|---:" * 2 * len(table.columns) + "|"]
    for label in dict.fromkeys(r["label"] for r in rows):
        cells = [by_cell[label, c] for c in table.columns]
        lines.append(f"| {label} | " + " | ".join(f"{_paper(r)} | {_ours(r)}" for r in cells) + " |")
    return lines


def _claim_line(v: Verdict) -> str:
    line = f"- **{v.outcome}**: {v.claim}"
    if v.reproduced is not None:
        separator = " vs " if v.kind == "above" else ", "
        step = "" if v.kind == "above" else "smallest step "
        spreads = f", {v.margin:+.1f} seed spreads" if v.margin is not None else ""
        line += f": {separator.join(f'{m:.4f}' for m in v.means)} ({step}{v.difference:+.4f}{spreads})"
    if v.detail:  # "not measured" is already the outcome: say which runs are missing
        line += "; " + v.detail.replace(f"{NOT_MEASURED}: ", "no GAPs yet for ")
    return line + (f". Mechanism: {v.mechanism}." if v.mechanism else ".")


def to_markdown(tables: Iterable[int], gaps: Gaps, *, title: str = "The paper's tables on synthetic data",
                meta: Mapping[str, Any] | None = None) -> str:
    """Per table: its rows (paper GAP beside ours) and its claims with verdicts; then the summary count."""
    numbers = _checked(tables)
    verdicts = judge(numbers, gaps)
    lines = [f"# {title}", "", *(f"- {k}: {v}" for k, v in (meta or {}).items()), *([""] if meta else []), CAVEAT]
    for n in numbers:
        table, rows = TABLES[n], table_rows(n, gaps)
        lines += ["", f"## Table {n}: {table.title}", ""]
        lines += [f"Our version: {table.note}", ""] if table.note else []
        lines += _row_lines(table, rows)
        lines += [f"\n\\* {r['name']}: {r['note']}" for r in rows if r["note"]]
        lines += ["", *(_claim_line(v) for v in verdicts if v.table == n)]
    s = _summary(verdicts)
    lines += ["", "## Summary", "",
              f"Reproduced {s['reproduced_with_mechanism']} of the {s['with_mechanism']} comparisons that have a "
              f"mechanism in the synthetic world, {s['reproduced']} of all {s['comparisons']} "
              f"({s['not_measured']} not measured)."]
    return "\n".join(lines) + "\n"
