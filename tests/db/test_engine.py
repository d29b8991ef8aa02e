"""SQLite connections: the switch to WAL outlasts a concurrent opener's lock."""

from __future__ import annotations

import sqlite3

import pytest

from db.engine import switch_to_wal


class _Cursor:
    """A cursor whose first ``busy`` journal-mode switches meet another process's lock."""

    def __init__(self, busy: int, error: str = "database is locked") -> None:
        self.busy, self.error, self.calls = busy, error, 0

    def execute(self, sql: str) -> None:
        assert sql == "PRAGMA journal_mode=WAL"
        self.calls += 1
        if self.calls <= self.busy:
            raise sqlite3.OperationalError(self.error)


def test_the_switch_to_wal_waits_out_a_lock_and_raises_anything_else() -> None:
    cursor = _Cursor(busy=3)
    switch_to_wal(cursor)
    assert cursor.calls == 4
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        switch_to_wal(_Cursor(busy=1000), seconds=0.2)
    other = _Cursor(busy=1, error="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        switch_to_wal(other)
    assert other.calls == 1
