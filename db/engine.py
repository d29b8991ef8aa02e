"""One engine per process from one URL, and the two ways in: ``reading`` and ``writing`` sessions.

SQLite (the embedded default) is set as ARCHITECTURE.md measured: WAL (readers never wait for the writer),
``synchronous=NORMAL``, a 30 s busy timeout, and ``BEGIN IMMEDIATE`` for every transaction that may write,
so two workers and the dashboard never see "database is locked" (a deferred transaction that starts reading
and then writes cannot wait for the lock: it fails at once). PostgreSQL: ``postgresql+psycopg://``.
Engines are per process: a Celery child forked from its parent must not share the parent's connections.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

_engines: dict[tuple[int, str], Engine] = {}


def switch_to_wal(cursor: Any, seconds: float = 30.0) -> None:
    """``PRAGMA journal_mode=WAL``, again while SQLite answers "database is locked". Two processes opening a
    new database at once (``y8m worker --gpus 0,1``) both switch it: one of them gets SQLITE_BUSY at once,
    without the busy timeout, because waiting could deadlock; a moment later the file is in WAL mode."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite: its folder is created and the settings above applied)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
        cursor = dbapi_connection.cursor()
        switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        immediate = connection.get_execution_options().get("y8m_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def get_engine(url: str | None = None) -> Engine:
    """This process's engine for ``url`` (default: ``Y8M_DATABASE_URL``, else SQLite under ``$Y8M_HOME``)."""
    from db.settings import Settings

    url = url or Settings.from_env().database_url
    key = (os.getpid(), url)
    if key not in _engines:
        _engines[key] = make_engine(url)
    return _engines[key]


def forget(url: str) -> None:
    """Close this process's engines for ``url`` (before its database is dropped or its file removed)."""
    for key in [k for k in _engines if k[1] == url]:
        _engines.pop(key).dispose()


def scratch_database(admin_url: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """A new, empty PostgreSQL database beside ``admin_url``'s (the tests' and benchmarks' own) and the
    function that drops it; the caller never sees another run's rows."""
    import uuid

    from sqlalchemy import text

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        forget(url)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A session for reads (one snapshot; never blocks a writer on SQLite)."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


@contextmanager
def writing(engine: Engine) -> Iterator[Session]:
    """A session whose transaction may write: committed at the end, rolled back on an exception. SQLite:
    ``BEGIN IMMEDIATE`` (waits for other writers up to the busy timeout); PostgreSQL: use ``with_for_update``
    on rows read to decide a write."""
    with Session(engine.execution_options(y8m_write=True), expire_on_commit=False) as session, session.begin():
        yield session
