"""The Paper page's builders (app/components/paper.py) on reports made by ``y8m_models.paper.to_json`` from
hand-picked GAPs, without Streamlit."""

from __future__ import annotations

import math

import pytest

from app.components.paper import (
    comparison_line,
    comparison_lines,
    progress,
    run_name,
    set_label,
    summary_line,
    table_rows,
)
from y8m_models.paper import TABLES, RunKey, to_json
from y8m_models.paper.judge import NO_MECHANISM


def _report(tables: tuple[int, ...], gaps: dict[RunKey, list[float]]) -> dict:
    return to_json(tables, gaps)


def _comparison(report: dict, claim: str) -> dict:
    return next(c for c in report["comparisons"] if c["claim"] == claim)


# ------------------------------------------------------------------------------------------ the set and progress

def test_set_label_names_the_set_its_dataset_tables_and_seeds() -> None:
    base = {"name": "demo-quick", "dataset": "demo", "created": "2024-05-01T10:00:00Z", "tables": [4, 5, 7, 8, 10],
            "preset": "tiny"}
    assert set_label({**base, "seeds": 1}) == \
        "demo-quick (demo, 2024-05-01T10:00:00Z): tables 4, 5, 7, 8, 10, 1 seed, tiny"
    assert set_label({**base, "seeds": 3}).endswith("tables 4, 5, 7, 8, 10, 3 seeds, tiny")


def test_progress_counts_the_runs_by_status() -> None:
    statuses = {1: "succeeded", 2: "succeeded", 3: "running", 4: "queued", 5: "queued", 6: "queued", 7: "failed",
                8: "cancelled"}
    share, line = progress(statuses)
    assert share == pytest.approx(2 / 8)
    assert line == "2 of 8 runs succeeded; 1 running, 3 queued, 1 failed, 1 cancelled"
    assert progress({}) == (0.0, "0 of 0 runs succeeded; 0 running, 0 queued, 0 failed")


def test_summary_line_counts_the_comparisons_with_a_mechanism_apart() -> None:
    # Table 2: its first claim (MoE above LR) has no mechanism; LSTM rows measured, the MoE / LR ones not
    report = _report((2,), {RunKey.of("baseline_logistic"): [0.50], RunKey.of("baseline_moe16"): [0.55],
                            RunKey.of("baseline_dbof"): [0.40], RunKey.of(3): [0.45]})
    assert report["summary"] == {"comparisons": 3, "with_mechanism": 2, "reproduced": 2,
                                 "reproduced_with_mechanism": 1, "not_measured": 0}
    assert summary_line(report["summary"]) == ("Reproduced 1 of the 2 comparisons that have a mechanism in the "
                                               "synthetic world (2 of all 3); 0 not measured yet.")


# -------------------------------------------------------------------------------------------------- table rows

def test_every_rows_run_name_is_the_run_keys_name() -> None:
    """``meta["runs"]`` (worker.paper.measured) is keyed by RunKey.name: every row of every table finds its runs."""
    report = _report(tuple(TABLES), {})
    names = [run_name(row) for table in report["tables"] for row in table["rows"]]
    assert names == [row.run.name for table in TABLES.values() for row in table.rows]
    assert "#77 ensemble.combiner.kind=mean ensemble.members=[2, 3, 9, 10, 18, 21, 23, 25, 27]" in names


def test_two_column_table_rows_show_the_column_and_link_the_measured_runs() -> None:
    report = _report((8,), {RunKey.of(2): [0.536], RunKey.of(10): [0.059]})
    rows = table_rows(report["tables"][0], {"#2": [11], "#10": [12], "#28": [13]}, seeds=1)
    assert [(r["model"], r["column"]) for r in rows[:4]] == [
        ("Chaining (Video)", "Original"), ("Chaining (Video)", "Bagging"),
        ("parallel LSTM", "Original"), ("parallel LSTM", "Bagging")]
    assert rows[0] == {"model": "Chaining (Video)", "column": "Original", "paper GAP": 0.8106, "ours": 0.536,
                       "± std": None, "seeds": 1, "run": "/runs?run=11"}  # no row of Table 8 has a note
    assert (rows[1]["ours"], rows[1]["seeds"], rows[1]["run"]) == (None, 0, "/runs?run=13")  # queued: no GAP yet
    assert rows[4]["run"] is None  # #18: no run in the set
    assert len(rows) == 8


def test_a_table_with_a_noted_row_shows_the_note_column() -> None:
    rows = table_rows(_report((5,), {})["tables"][0], {}, seeds=1)
    assert [r["note"] for r in rows][:2] == ["Table 5's figure; Table 2 gives the same MoE 16 0.7957", None]


def test_one_column_table_with_seeds_gives_a_link_per_seed_and_the_spread() -> None:
    report = _report((4,), {RunKey.of(3): [0.40, 0.44], RunKey.of(9): [0.50]})
    rows = table_rows(report["tables"][0], {"#3": [1, 2], "#9": [3, 4]}, seeds=2)
    assert "column" not in rows[0]
    assert rows[0]["ours"] == pytest.approx(0.42) and rows[0]["± std"] == pytest.approx(math.sqrt(0.0008))
    assert (rows[0]["run, seed 0"], rows[0]["run, seed 1"]) == ("/runs?run=1", "/runs?run=2")
    later = table_rows(report["tables"][0], {"#3": [1, 2], "#9": [3, 4]}, seeds=2, first_seed=1)  # --first-seed 1
    assert (later[0]["run, seed 1"], later[0]["run, seed 2"]) == ("/runs?run=1", "/runs?run=2")
    assert (rows[1]["seeds"], rows[1]["± std"]) == (1, None)


# ------------------------------------------------------------------------------------------------- comparisons

def test_a_claim_with_one_seed_shows_the_raw_difference() -> None:
    report = _report((4,), {RunKey.of(3): [0.40], RunKey.of(9): [0.45]})
    (line,) = comparison_lines(report["comparisons"], 4)
    assert line == ("**✅ reproduced**: parallel LSTM above vanilla LSTM — 0.4500 vs 0.4000: difference +0.0500 "
                    "(one seed: no spread)")


def test_a_claim_with_seeds_shows_its_margin_in_seed_spreads() -> None:
    report = _report((4,), {RunKey.of(3): [0.40, 0.42], RunKey.of(9): [0.39, 0.41]})
    line = comparison_line(_comparison(report, "parallel LSTM above vanilla LSTM"))
    spread = math.sqrt(0.0002)
    assert line == ("**❌ not reproduced**: parallel LSTM above vanilla LSTM — 0.4000 vs 0.4100: difference -0.0100, "
                    f"{-0.01 / spread:+.1f} seed spreads")


def test_a_claim_with_a_row_not_measured_names_it() -> None:
    report = _report((8,), {RunKey.of(2): [0.536]})
    line = comparison_line(_comparison(report, "Chaining (Video): Bagging above Original"))
    assert line == ('**⏳ not measured**: Chaining (Video): Bagging above Original — no GAP yet for '
                    '"Chaining (Video) (Bagging)"')


def test_a_claim_without_a_mechanism_says_it_is_no_evidence() -> None:
    report = _report((3,), {RunKey.of("baseline_lstm_1layer"): [0.30], RunKey.of(6): [0.35]})
    line = comparison_line(_comparison(report, "LSTM-S, l = 1 above vanilla LSTM, l = 1"))
    assert line.startswith("**✅ reproduced**: LSTM-S, l = 1 above vanilla LSTM, l = 1 — 0.3500 vs 0.3000")
    assert line.endswith(f"_{NO_MECHANISM}: no evidence either way_")
    with_mechanism = _report((4,), {RunKey.of(3): [0.4], RunKey.of(9): [0.5]})["comparisons"][0]
    assert NO_MECHANISM not in comparison_line(with_mechanism)


def test_an_order_claim_shows_the_means_in_order_and_the_smallest_step() -> None:
    rows = {r.label: r.run for r in TABLES[10].rows}
    report = _report((10,), {rows["Simple Averaging"]: [0.50], rows["Linear Weighted Averaging"]: [0.52],
                             rows["Class-wise Weighted Averaging"]: [0.53],
                             rows["Attention Weighted Stacking"]: [0.56]})
    (line,) = comparison_lines(report["comparisons"], 10)
    assert line.startswith("**✅ reproduced**: simple < linear < class-wise < attention weighted stacking — "
                           "0.5000, 0.5200, 0.5300, 0.5600: smallest step +0.0100")
    assert comparison_lines(report["comparisons"], 4) == []
