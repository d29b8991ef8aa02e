"""The paper's Tables 2-12 as data (every run resolves, every paper GAP is the catalog's or says why not), and
the judging of their comparisons on hand-made GAPs."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import pairwise

import pytest

from y8m_models.configs import get_config, resolve
from y8m_models.paper import (
    MEMBERS,
    QUICK,
    TABLES,
    Claim,
    PaperTable,
    Row,
    RunKey,
    judge,
    parse_tables,
    runs_needed,
    table_rows,
    to_json,
    to_markdown,
)
from y8m_models.paper.judge import NO_MECHANISM, ONE_SEED
from y8m_models.paper.tables import STACK, stack

ALL = tuple(TABLES)
PARALLEL, VANILLA = "parallel LSTM, cv = 1024, ca = 128, m = 8", "vanilla LSTM, c = 1024, m = 8"


def _run(table: int, name: str) -> RunKey:
    return TABLES[table].row(name).run


# ------------------------------------------------------------------------------------------------ the data

@pytest.mark.parametrize("key", runs_needed(ALL), ids=lambda k: k.name[:60])
def test_every_run_resolves_at_the_tiny_preset(key: RunKey) -> None:
    resolve(key.config, "tiny", False, key.overrides_dict())


def test_the_stacking_rows_are_77_over_their_members_with_79s_attention() -> None:
    combiners = {row.label: resolve(STACK, "tiny", False, row.run.overrides_dict()).ensemble
                 for row in TABLES[10].rows}
    assert {label: (e.combiner.kind, e.members) for label, e in combiners.items()} == {
        "Simple Averaging": ("mean", MEMBERS), "Linear Weighted Averaging": ("linear", MEMBERS),
        "Class-wise Weighted Averaging": ("classwise", MEMBERS), "Attention Weighted Stacking": ("attention", MEMBERS)}
    assert combiners["Attention Weighted Stacking"].combiner == resolve(79, "tiny").ensemble.combiner
    assert combiners["Class-wise Weighted Averaging"].combiner == resolve(77, "tiny").ensemble.combiner
    # The road-map starts at Table 10's class-wise stack (one run) and only ever adds members.
    road = [r.run for r in TABLES[12].rows]
    assert road[0] == _run(10, "Class-wise Weighted Averaging")
    members = [set(k.overrides_dict()["ensemble.members"]) for k in road]
    assert all(a < b for a, b in pairwise(members[:-1])) and members[-1] == members[-2]



def test_paper_gaps_are_the_catalogs_except_where_the_table_prints_its_own() -> None:
    noted = {(n, r.name) for n, t in TABLES.items() for r in t.rows if r.note}
    assert noted == {(5, "MoE (Original)"), (6, "multi-resolution LSTM"), (9, "Chaining CNN (Boosting)"),
                     (9, "multi-AP LSTM (Boosting)")}
    for n, table in TABLES.items():
        for row in table.rows:
            if row.run.overrides:  # Tables 10 and 12: our member sets, the paper's private-leaderboard GAPs
                continue
            catalog = get_config(row.run.config).paper_gap
            assert (row.paper_gap != catalog) == bool(row.note), (n, row.name, row.paper_gap, catalog)
    # The two stacks the paper ran itself: #77 (27 singles, class-wise) and #79 (attention), private LB.
    assert TABLES[12].rows[0].paper_gap == round(get_config(77).paper_private_gap, 4)
    assert TABLES[12].rows[-1].paper_gap == TABLES[10].rows[-1].paper_gap == round(get_config(79).paper_private_gap, 4)


def test_runs_needed_counts_a_shared_run_once_in_a_fixed_order() -> None:
    keys = runs_needed([7, 2, 3, 4, 5, 6])
    assert keys.count(RunKey.of(3)) == 1 and len(keys) == len(set(keys))
    assert keys == runs_needed(range(2, 8)) and keys[0] == RunKey.of("baseline_logistic")
    assert RunKey.of(3) in runs_needed([4]) and RunKey.of(3) not in runs_needed([10])


def test_the_quick_set_trains_every_member_its_stacks_read() -> None:
    assert QUICK == (4, 5, 7, 8, 10)
    trained = {k.config for k in runs_needed(QUICK) if not k.overrides}
    assert set(MEMBERS) <= trained


def test_claims_without_a_mechanism_are_the_cell_variants_and_the_temporal_structure() -> None:
    bare = {(c.table, c.text) for t in TABLES.values() for c in t.claims if c.mechanism is None}
    assert {n for n, _ in bare} == {2, 3, 6}
    assert all(c.mechanism is None for c in TABLES[3].claims)


def test_run_keys_are_hashable_and_sorted() -> None:
    a = RunKey.of(77, {"ensemble.members": [2, 3], "ensemble.combiner.kind": "mean"})
    b = RunKey.of(77, {"ensemble.combiner.kind": "mean", "ensemble.members": (2, 3)})
    assert a == b and hash(a) == hash(b) and a.overrides_dict()["ensemble.members"] == [2, 3]
    assert stack((2, 3), "mean") == a and a.to_json() == {"config": 77, "overrides": {
        "ensemble.combiner.kind": "mean", "ensemble.members": [2, 3]}}
    with pytest.raises(TypeError, match="ensemble.combiner"):
        RunKey.of(77, {"ensemble.combiner": {"kind": "mean"}})


def test_a_claim_on_a_row_the_table_lacks_is_an_error() -> None:
    row = Row("a", 0.8, RunKey.of(3))
    with pytest.raises(ValueError, match=r"rows \['b'\]"):
        PaperTable(4, "t", (row,), (Claim(4, "a above b", "above", ("a", "b"), None),))


def test_tables_are_parsed_and_checked() -> None:
    assert parse_tables("2-4,10") == (2, 3, 4, 10) and parse_tables("12") == (12,)
    for bad in ("x", "1-3", "13"):
        with pytest.raises(ValueError, match="tables"):
            parse_tables(bad)
    with pytest.raises(ValueError, match="2-12"):
        judge([13], {})


def test_the_package_loads_without_torch() -> None:
    # the dashboard's Paper page reads TABLES and the report; the app never imports torch
    code = "import sys, y8m_models.paper; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------------------- judging

def test_above_is_judged_in_units_of_the_seed_spread() -> None:
    # means 0.52 and 0.42, both sample variances 0.0004: spread 0.02, margin 0.10 / 0.02 = 5
    up, down = [0.50, 0.52, 0.54], [0.40, 0.44, 0.42]
    [v] = judge([4], {_run(4, PARALLEL): up, _run(4, VANILLA): down})
    assert (v.reproduced, v.margin, v.difference) == (True, pytest.approx(5.0), pytest.approx(0.10))
    assert v.means == pytest.approx((0.52, 0.42)) and v.seeds == (3, 3) and v.detail == ""
    [v] = judge([4], {_run(4, PARALLEL): down, _run(4, VANILLA): up})
    assert (v.reproduced, v.margin) == (False, pytest.approx(-5.0))


def test_one_seed_has_no_margin_but_a_difference() -> None:
    [v] = judge([4], {_run(4, PARALLEL): [0.5], _run(4, VANILLA): [0.45, 0.47]})
    assert v.reproduced is True and v.margin is None and v.difference == pytest.approx(0.04)
    assert ONE_SEED in v.detail


def test_an_order_with_one_pair_broken_is_not_reproduced() -> None:
    means = {"Simple Averaging": 0.40, "Linear Weighted Averaging": 0.45, "Class-wise Weighted Averaging": 0.50,
             "Attention Weighted Stacking": 0.48}
    gaps = {_run(10, name): [m - 0.01, m, m + 0.01] for name, m in means.items()}  # spread 0.01
    [v] = judge([10], gaps)
    assert (v.reproduced, v.margin, v.difference) == (False, pytest.approx(-2.0), pytest.approx(-0.02))
    gaps[_run(10, "Attention Weighted Stacking")] = [0.55, 0.56, 0.57]
    assert judge([10], gaps)[0].reproduced is True and judge([10], gaps)[0].margin == pytest.approx(5.0)


def test_the_road_map_may_stay_level() -> None:
    [v] = judge([12], {row.run: [0.6] for row in TABLES[12].rows})
    assert v.reproduced is True and v.difference == 0 and v.margin is None


def test_a_run_not_done_leaves_the_claim_not_measured() -> None:
    for gaps in ({_run(4, PARALLEL): [0.5]}, {_run(4, PARALLEL): [0.5], _run(4, VANILLA): []}):
        [v] = judge([4], gaps)
        assert (v.reproduced, v.margin, v.difference, v.outcome) == (None, None, None, "not measured")
        assert VANILLA in v.detail and v.means == (0.5, None)


def test_a_claim_without_a_mechanism_is_judged_and_flagged() -> None:
    gaps = {row.run: [0.5 + i / 100] for i, row in enumerate(TABLES[3].rows)}
    verdicts = judge([3], gaps)
    assert all(v.reproduced is not None and v.mechanism is None and NO_MECHANISM in v.detail for v in verdicts)


# -------------------------------------------------------------------------------------------------- report

def _gaps() -> dict[RunKey, list[float]]:
    """Every quick-set run on 2 seeds, the frame models above the video ones, the stacks out of order."""
    gaps = {k: [0.40, 0.42] for k in runs_needed(QUICK)}
    gaps[_run(4, PARALLEL)] = [0.46, 0.47]
    del gaps[_run(7, "positional multi-AP LSTM")]
    return gaps


def test_json_has_the_tables_and_one_comparison_per_claim() -> None:
    out = json.loads(json.dumps(to_json(QUICK, _gaps(), meta={"seeds": 2})))
    assert [t["number"] for t in out["tables"]] == list(QUICK) and out["meta"] == {"seeds": 2}
    row = out["tables"][0]["rows"][1]
    assert {"label", "paper_gap", "mean", "std", "seeds", "run"} <= set(row)
    assert (row["paper_gap"], row["mean"], row["seeds"], row["run"]) == (
        0.8161, pytest.approx(0.465), 2, {"config": 9, "overrides": {}})
    assert len(out["comparisons"]) == sum(len(TABLES[n].claims) for n in QUICK)
    first = out["comparisons"][0]
    assert {"table", "claim", "reproduced", "margin", "mechanism"} <= set(first)
    assert (first["table"], first["reproduced"]) == (4, True)
    assert [c["reproduced"] for c in out["comparisons"] if c["table"] == 7][-1] is None
    assert out["summary"]["not_measured"] == 1


def test_table_rows_give_the_spread_over_seeds() -> None:
    rows = {r["name"]: r for r in table_rows(5, _gaps())}
    assert rows["LSTM (Chaining)"]["std"] == pytest.approx(0.0141421, abs=1e-6)
    assert rows["MoE (Original)"]["note"] and rows["MoE (Original)"]["column"] == "Original"


def test_markdown_shows_every_table_and_verdict() -> None:
    text = to_markdown(QUICK, _gaps(), meta={"data": "var/paper"})
    for n in QUICK:
        assert f"## Table {n}: {TABLES[n].title}" in text
    assert "**reproduced**: parallel LSTM above vanilla LSTM" in text
    assert "**not reproduced**" in text and "**not measured**" in text
    assert "| MoE | 0.7965* | 0.4100 ± 0.0141 (2 seeds) | 0.8106 |" in text
    assert "- data: var/paper" in text and "## Summary" in text and "comparisons that have a mechanism" in text
