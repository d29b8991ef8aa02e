"""A submission's plan as the Launch and Compose pages show it: ``worker.runs.preview``'s rows -> a heading
("5 run(s): 1 new, 4 reused") and the table's rows (each run, its kind and number, what it reads, the run it
reuses or "new")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def plan_table(plan: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    new = sum(row["reuse"] is None for row in plan)
    rows = [{"run": row["job"], "kind": row["kind"], "#": row["number"], "inputs": ", ".join(row["inputs"]),
             "reuses": f"run {row['reuse']} ({row['reuse_status']})" if row["reuse"] else "new"} for row in plan]
    return f"{len(plan)} run(s): {new} new, {len(plan) - new} reused", rows
