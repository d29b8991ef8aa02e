"""The paper's Tables 2-12 (arXiv:1706.05150) as data: each row's configuration, each comparison it draws.

A ``Row`` is one GAP the paper prints and the ``RunKey`` we measure for it (a configuration number or a
Table 2 baseline slug, plus ``resolve`` overrides); rows of different tables that use the same configuration
share one RunKey, so #3 trains once per seed for Tables 2-7. A ``Claim`` is one comparison the paper draws
in a table, with the synthetic world's mechanism that can make it hold (``y8m_models.data.synthetic_world``)
or ``None`` where that world has none: such a claim is still judged, but its verdict says so.

Table 5, 8, 9 and 11 print two columns (Original, and Chaining / Bagging / Boosting / Distillation): one
``Row`` per cell, its ``column`` set. Tables 10 and 12 stack a smaller member set than the paper's 74 models
(configuration #77 with its members and combiner overridden); their paper GAPs are private-leaderboard ones.

Pure data: no torch, no configs import, so the dashboard can read it (tests/test_paper.py resolves every
RunKey against the registry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ClaimKind = Literal["above", "order"]
CombinerKind = Literal["mean", "linear", "classwise", "attention"]  # schema.Combiner.kind


def _frozen(path: str, value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(path, v) for v in value)
    if isinstance(value, (dict, set)):  # a nested section has no one hashable form: name its leaves instead
        raise TypeError(f"override {path!r}: give a section's fields as dotted keys, not a {type(value).__name__}")
    return value


def _thawed(value: Any) -> Any:
    return [_thawed(v) for v in value] if isinstance(value, tuple) else value


@dataclass(frozen=True)
class RunKey:
    """What one measured GAP comes from: a configuration (paper number or baseline slug) and its overrides
    (dotted keys, as ``configs.resolve`` and ``--set`` take them), sorted and hashable."""

    config: int | str
    overrides: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, config: int | str, overrides: Mapping[str, Any] | None = None) -> RunKey:
        return cls(config, tuple(sorted((k, _frozen(k, v)) for k, v in (overrides or {}).items())))

    def overrides_dict(self) -> dict[str, Any]:
        """The overrides as ``resolve(config, preset, as_in_code, overrides)`` takes them (tuples as lists)."""
        return {k: _thawed(v) for k, v in self.overrides}

    @property
    def name(self) -> str:
        """``#3``, ``baseline_cnn``, ``#77 ensemble.combiner.kind=mean ensemble.members=[2, 3]``."""
        base = f"#{self.config}" if isinstance(self.config, int) else self.config
        return " ".join([base, *(f"{k}={v}" for k, v in self.overrides_dict().items())])

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config, "overrides": self.overrides_dict()}


@dataclass(frozen=True)
class Row:
    """One GAP the paper prints. ``note``: where the paper's figure is not the catalog's for that
    configuration (the table's own figure is kept), or why the row is ours rather than the paper's."""

    label: str  # the paper's row text
    paper_gap: float
    run: RunKey
    column: str | None = None  # two-column tables: "Original", "Chaining", "Bagging", ...
    note: str | None = None

    @property
    def name(self) -> str:
        """How a claim names the row: the label, with the column in brackets in a two-column table."""
        return f"{self.label} ({self.column})" if self.column else self.label


@dataclass(frozen=True)
class Claim:
    """``above``: row ``rows[0]``'s GAP > row ``rows[1]``'s. ``order``: the rows' GAPs increase in the order
    given, strictly or (``strict=False``) non-decreasing. ``mechanism``: one sentence, or None."""

    table: int
    text: str
    kind: ClaimKind
    rows: tuple[str, ...]  # Row.name of each row read
    mechanism: str | None
    strict: bool = True


@dataclass(frozen=True)
class PaperTable:
    number: int
    title: str  # the paper's caption, shortened
    rows: tuple[Row, ...]
    claims: tuple[Claim, ...]
    note: str | None = None  # where our version departs from the paper's

    def __post_init__(self) -> None:
        names = [r.name for r in self.rows]
        if len(set(names)) != len(names):
            raise ValueError(f"Table {self.number}: two rows share a name: {names}")
        for claim in self.claims:
            where = f"Table {self.number}, claim {claim.text!r}"
            unknown = [n for n in claim.rows if n not in names]
            if unknown:
                raise ValueError(f"{where}: rows {unknown} are not among {names}")
            if claim.table != self.number:
                raise ValueError(f"{where}: filed under Table {claim.table}")
            if (len(claim.rows) != 2) if claim.kind == "above" else (len(claim.rows) < 3):
                raise ValueError(f"{where}: 'above' reads 2 rows, 'order' 3 or more")

    @property
    def columns(self) -> tuple[str, ...]:
        """The printed columns of a two-column table (Original first), else ()."""
        return tuple(dict.fromkeys(r.column for r in self.rows if r.column))

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"Table {self.number} has no row {name!r}; rows: {[r.name for r in self.rows]}")


# ------------------------------------------------------------------------------------------ the mechanisms

ORDER = ("order-defined label pairs: only frame order tells A-then-B from B-then-A, which a frame-level sequence "
         "model sees and a mean or bag of frames does not")
AUDIO = ("audio-only labels, and audiovisual labels whose audio and visual motifs are placed independently in "
         "time")
GROUPS = "group labels are present exactly when one of their members is: a later stage can infer them"
FILLER = "filler frames (dark frames, title cards) that attention pooling can learn to ignore"
POSITION = "filler frames sit at the start and end of a video, positions a positional embedding can mark"
COVERAGE = "motifs of varied coverage (10-60% of a video's content frames) reward several temporal scales"
VARIANCE = ("limited training data: one model varies with its sample of a few thousand videos, and 8 members "
            "average that out")
DROPPED = "dropped labels: 10% of true labels are not written, and the teacher's soft targets give some back"
STACKERS = ("label kinds (audio, order, group) favour different members, which per-class weights follow and one "
            "weight per member cannot; verticals give attention per-video context")
ROADMAP = "limited training data: members that err differently (bagged, distilled, cascaded) give the stack more"

# -------------------------------------------------------------------------------------------------- helpers

MEMBERS = (2, 3, 9, 10, 18, 21, 23, 25, 27)  # the numbered singles the quick set trains anyway
STACK = 77  # class-wise stacking of #1-#27; Tables 10 and 12 override its members and combiner
ATTENTION = {"ensemble.combiner.kind": "attention", "ensemble.combiner.attentions": 16, "ensemble.combiner.rank": 4,
             "ensemble.combiner.training.learning_rate": 0.004, "ensemble.combiner.training.epochs": 4}  # #79's


def stack(members: tuple[int, ...], kind: CombinerKind = "classwise") -> RunKey:
    """#77 over ``members`` with combiner ``kind`` (attention: #79's K 16, rank 4 and training)."""
    combiner = ATTENTION if kind == "attention" else {"ensemble.combiner.kind": kind}
    return RunKey.of(STACK, {"ensemble.members": members, **combiner})


def _row(label: str, gap: float, config: int | str, column: str | None = None, note: str | None = None) -> Row:
    return Row(label, gap, RunKey.of(config), column, note)


def _pairs(table: int, after: str, pairs: list[tuple[str, float, int | str, float, int | str]], mechanism: str,
           notes: Mapping[str, str] | None = None) -> tuple[tuple[Row, ...], tuple[Claim, ...]]:
    """A two-column table (Original | ``after``): two rows per paper row, and one claim per paper row that
    ``after`` is above the original. ``notes``: Row.note by row name."""
    notes = dict(notes or {})
    rows, claims = [], []
    for label, gap, config, gap_after, config_after in pairs:
        for column, g, c in (("Original", gap, config), (after, gap_after, config_after)):
            rows.append(_row(label, g, c, column, notes.pop(f"{label} ({column})", None)))
        claims.append(Claim(table, f"{label}: {after} above Original", "above",
                            (f"{label} ({after})", f"{label} (Original)"), mechanism))
    if notes:
        raise ValueError(f"Table {table}: notes for rows it does not have: {sorted(notes)}")
    return tuple(rows), tuple(claims)


def _above(table: int, a: str, b: str, mechanism: str | None, text: str | None = None) -> Claim:
    return Claim(table, text or f"{a} above {b}", "above", (a, b), mechanism)


# ------------------------------------------------------------------------------------------------ the tables

T5_ROWS, T5_CLAIMS = _pairs(5, "Chaining", [("MoE", 0.7965, "baseline_moe16", 0.8106, 2),
                                           ("LSTM", 0.8131, 3, 0.8172, 21),
                                           ("CNN", 0.7904, "baseline_cnn", 0.8179, 18)], GROUPS,
                            {"MoE (Original)": "Table 5's figure; Table 2 gives the same MoE 16 0.7957"})
T8_ROWS, T8_CLAIMS = _pairs(8, "Bagging", [("Chaining (Video)", 0.8106, 2, 0.8225, 28),
                                          ("parallel LSTM", 0.8160, 10, 0.8216, 37),
                                          ("Chaining CNN", 0.8179, 18, 0.8258, 33),
                                          ("multi-AP LSTM", 0.8157, 25, 0.8244, 35)], VARIANCE)
T9_ROWS, T9_CLAIMS = _pairs(9, "Boosting", [("Chaining (Video)", 0.8106, 2, 0.8218, 32),
                                           ("parallel LSTM", 0.8160, 10, 0.8218, 38),
                                           ("Chaining CNN", 0.8179, 18, 0.8242, 34),
                                           ("multi-AP LSTM", 0.8157, 25, 0.8246, 36)], VARIANCE, {
    "Chaining CNN (Boosting)": "Table 9's figure; App. A.6 gives #34 0.8246 (the table swaps #34's and #36's)",
    "multi-AP LSTM (Boosting)": "Table 9's figure; App. A.6 gives #36 0.8242 (the table swaps #34's and #36's)"})
T11_ROWS, T11_CLAIMS = _pairs(11, "Distillation", [("Chaining (Video)", 0.8106, 2, 0.8169, 39),
                                                  ("parallel LSTM", 0.8160, 10, 0.8237, 42),
                                                  ("Chaining CNN", 0.8179, 18, 0.8266, 40),
                                                  ("Chaining LSTM", 0.8172, 21, 0.8291, 43),
                                                  ("Multi-scale CNN-LSTM", 0.8204, 16, 0.8258, 44)], DROPPED)

BAGGING_BOOSTING = (28, 32, 33, 34, 35, 36, 37, 38)  # the Table 8 and 9 ensembles
DISTILLED = (39, 40, 42, 43, 44)  # Table 11's
CASCADES_75 = (47, 48, 49, 50, 52)  # on #75's predictions (#47-#50 are #76's members)
CASCADES_76 = (57, 58, 64)  # on #76's predictions
ROADMAP_SETS = [("9 single models (paper 27)", 0.8425, MEMBERS),
                ("+ 8 bagging & boosting models (paper 11)", 0.8435, BAGGING_BOOSTING),
                ("+ 5 distillation models (paper 8)", 0.8437, DISTILLED),
                ("+ 5 cascade models (paper 11)", 0.8451, CASCADES_75),
                ("+ 3 more cascade models (paper 17)", 0.8453, CASCADES_76)]
ALL_MEMBERS = tuple(n for _, _, members in ROADMAP_SETS for n in members)
T12_ROWS = (*(Row(label, gap, stack(tuple(n for _, _, m in ROADMAP_SETS[: i + 1] for n in m)))
              for i, (label, gap, _) in enumerate(ROADMAP_SETS)),
            Row("Attention Weighted Stacking", 0.8458, stack(ALL_MEMBERS, "attention")))

TABLES: dict[int, PaperTable] = {t.number: t for t in (
    PaperTable(2, "Baseline approaches", (
        _row("Logistic Regression (video level)", 0.7577, "baseline_logistic"),
        _row("Mixture-of-Experts (video level)", 0.7957, "baseline_moe16"),
        _row("Deep Bag-of-Frames (frame level)", 0.7845, "baseline_dbof"),
        _row("LSTM (frame level)", 0.8131, 3),
    ), (
        _above(2, "Mixture-of-Experts (video level)", "Logistic Regression (video level)", None),
        _above(2, "LSTM (frame level)", "Deep Bag-of-Frames (frame level)", ORDER),
        _above(2, "LSTM (frame level)", "Mixture-of-Experts (video level)",
               ORDER + "; filler frames dilute the video-level mean"),
    )),
    PaperTable(3, "Single-block LSTM (LSTM-S) and input-accumulator LSTM (LSTM-A) vs the original LSTM", (
        _row("vanilla LSTM, l = 1", 0.8091, "baseline_lstm_1layer"),
        _row("vanilla LSTM, l = 2", 0.8131, 3),
        _row("LSTM-S, l = 1", 0.8123, 6),
        _row("LSTM-A, l = 1", 0.8131, 7),
    ), (
        _above(3, "LSTM-S, l = 1", "vanilla LSTM, l = 1", None),
        _above(3, "LSTM-A, l = 1", "vanilla LSTM, l = 1", None),
        _above(3, "vanilla LSTM, l = 2", "vanilla LSTM, l = 1", None),
    )),
    PaperTable(4, "Parallel modelling of visual and audio content vs feature concatenation", (
        _row("vanilla LSTM, c = 1024, m = 8", 0.8131, 3),
        _row("parallel LSTM, cv = 1024, ca = 128, m = 8", 0.8161, 9),
    ), (
        _above(4, "parallel LSTM, cv = 1024, ca = 128, m = 8", "vanilla LSTM, c = 1024, m = 8", AUDIO,
               "parallel LSTM above vanilla LSTM"),
    )),
    PaperTable(5, "MoE, LSTM and CNN with and without the Chaining structure", T5_ROWS, T5_CLAIMS),
    PaperTable(6, "Multi-scale models", (
        _row("vanilla LSTM", 0.8131, 3),
        _row("temporal-pooling LSTM", 0.8085, 14),
        _row("temporal-segment LSTM", 0.8122, 13),
        _row("multi-resolution LSTM", 0.8148, 15, note="Table 6's figure; App. A.3 gives #15 0.8149"),
        _row("multi-scale CNN-LSTM", 0.8204, 16),
    ), (
        _above(6, "multi-scale CNN-LSTM", "vanilla LSTM", COVERAGE),
        _above(6, "multi-scale CNN-LSTM", "multi-resolution LSTM", None,
               "multi-scale CNN-LSTM above multi-resolution LSTM (the best of the rest)"),
        _above(6, "multi-resolution LSTM", "vanilla LSTM", COVERAGE),
        _above(6, "vanilla LSTM", "temporal-segment LSTM", None),
        _above(6, "vanilla LSTM", "temporal-pooling LSTM", None),
    )),
    PaperTable(7, "Attention models", (
        _row("vanilla LSTM", 0.8131, 3),
        _row("local-AP LSTM", 0.8133, 23),
        _row("multi-AP LSTM", 0.8157, 25),
        _row("positional multi-AP LSTM", 0.8169, 27),
    ), (
        _above(7, "local-AP LSTM", "vanilla LSTM", FILLER, "local-AP LSTM above vanilla LSTM (by 0.0002 in the paper)"),
        _above(7, "multi-AP LSTM", "vanilla LSTM", FILLER),
        _above(7, "positional multi-AP LSTM", "multi-AP LSTM", POSITION),
    )),
    PaperTable(8, "Bagging models", T8_ROWS, T8_CLAIMS),
    PaperTable(9, "Boosting models", T9_ROWS, T9_CLAIMS),
    PaperTable(10, "Stacking methods on one member set", (
        Row("Simple Averaging", 0.8436, stack(MEMBERS, "mean")),
        Row("Linear Weighted Averaging", 0.8449, stack(MEMBERS, "linear")),
        Row("Class-wise Weighted Averaging", 0.8453, stack(MEMBERS, "classwise")),
        Row("Attention Weighted Stacking", 0.8458, stack(MEMBERS, "attention")),
    ), (
        Claim(10, "simple < linear < class-wise < attention weighted stacking", "order",
              ("Simple Averaging", "Linear Weighted Averaging", "Class-wise Weighted Averaging",
               "Attention Weighted Stacking"), STACKERS),
    ), note=f"Stacks the 9 singles #{', #'.join(map(str, MEMBERS))}, not the paper's 74 models (#77's combiner "
            "training; attention as #79's: K 16, rank 4). The paper's GAPs are on the private leaderboard."),
    PaperTable(11, "Single models trained with distillation", T11_ROWS, T11_CLAIMS),
    PaperTable(12, "Road-map of the ensemble (class-wise stacking, then attention weighted)", T12_ROWS, (
        Claim(12, "each addition keeps or raises the GAP (non-decreasing road-map)", "order",
              tuple(r.name for r in T12_ROWS), ROADMAP, strict=False),
    ), note=f"A road-map over {len(ALL_MEMBERS)} members, not 74: the Tables 8-9 ensembles, the Table 11 distilled "
            "models, cascades on #75 (#47-#50, #52) and on #76 (#57, #58, #64). Class-wise stacking as #77, then "
            "attention as #79. The paper's GAPs are on the private leaderboard."),
)}
QUICK = (4, 5, 7, 8, 10)  # `y8m paper --quick`
