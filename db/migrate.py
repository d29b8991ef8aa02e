"""Alembic migrations run from code (``db/migrations``; ``render_as_batch`` for SQLite's ALTERs): ``upgrade``
and ``downgrade`` under a lock, so two workers starting at once do not both migrate, and ``ensure_schema``
(upgrade when behind), which the worker, the CLI and the dashboard call before their first query."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK_ID = 0x7938_6D00  # pg_advisory_lock key: "y8m"


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head() -> str:
    return ScriptDirectory.from_config(_config(None)).get_current_head()  # type: ignore[arg-type]


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_ID})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_ID})
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def upgrade(engine: Engine, revision: str = "head") -> None:
    with _lock(engine):
        command.upgrade(_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with _lock(engine):
        command.downgrade(_config(engine), revision)


def ensure_schema(engine: Engine) -> None:
    """Bring the database to the newest revision (a no-op when it is there)."""
    if current(engine) != head():
        upgrade(engine)
