"""The paper in miniature: Tables 2-12 as data, and their comparisons judged on our GAPs.

``tables``: ``TABLES`` (``PaperTable`` of ``Row`` and ``Claim``), ``QUICK``, ``RunKey``. ``judge``: which runs a
set of tables needs (``runs_needed``), the verdicts (``judge``) and the report (``to_markdown``, ``to_json``).
``demo``: the demo's runs (``DEMO``) and its three findings judged on their artifacts. Pure: no torch, no
training; ``y8m paper`` submits the runs and collects their validate2 GAPs.
"""

from y8m_models.paper import demo
from y8m_models.paper.judge import (
    Gaps,
    Verdict,
    gaps_of,
    judge,
    parse_tables,
    runs_needed,
    table_rows,
    to_json,
    to_markdown,
)
from y8m_models.paper.tables import MEMBERS, QUICK, TABLES, Claim, PaperTable, Row, RunKey

__all__ = ["MEMBERS", "QUICK", "TABLES", "Claim", "Gaps", "PaperTable", "Row", "RunKey", "Verdict", "demo", "gaps_of",
           "judge", "parse_tables", "runs_needed", "table_rows", "to_json", "to_markdown"]
