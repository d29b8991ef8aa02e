"""Alembic upgrade and downgrade on SQLite and PostgreSQL; the migrations build exactly the models' schema;
timestamps come back as aware UTC on both."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect

from db import migrate
from db.engine import make_engine, reading, writing
from db.models import Base, Dataset


def _urls() -> list:
    pg = os.environ.get("Y8M_TEST_DATABASE_URL")
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
        not pg, reason="Y8M_TEST_DATABASE_URL not set (.ci/run sets it)"))]


@pytest.fixture(params=_urls())
def engine(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'y8m.db'}")
        yield engine
        engine.dispose()
        return
    from db.engine import scratch_database

    url, drop = scratch_database(os.environ["Y8M_TEST_DATABASE_URL"], "y8m_test")
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop()


def test_upgrade_downgrade_and_upgrade_again(engine) -> None:
    tables = {t.name for t in Base.metadata.sorted_tables}
    assert migrate.current(engine) is None
    migrate.ensure_schema(engine)
    assert migrate.current(engine) == migrate.head()
    assert tables <= set(inspect(engine).get_table_names())
    migrate.downgrade(engine, "base")
    assert migrate.current(engine) is None and not tables & set(inspect(engine).get_table_names())
    migrate.upgrade(engine)
    migrate.ensure_schema(engine)  # at head: nothing to do
    assert migrate.current(engine) == migrate.head()


def test_the_migrations_build_the_models_schema(engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_timestamps_are_utc_and_naive_ones_are_refused(engine) -> None:
    migrate.upgrade(engine)
    noon_in_paris = datetime(2026, 11, 26, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    with writing(engine) as s:
        s.add(Dataset(name="d", path="/d", num_classes=3, splits={}, created_at=noon_in_paris))
    with reading(engine) as s:
        created = s.query(Dataset).one().created_at
    assert created == datetime(2026, 11, 26, 11, 0, tzinfo=UTC) and created.tzinfo is UTC
    with pytest.raises(Exception, match="naive datetime"), writing(engine) as s:
        s.add(Dataset(name="e", path="/e", num_classes=3, splits={}, created_at=datetime(2026, 1, 1)))
        s.flush()


def test_an_upgrade_keeps_every_stored_row(engine) -> None:
    """A store at 0001 with a run and everything hanging off it, upgraded to the head: nothing is lost (SQLite
    rebuilds ``runs`` to add a column; with foreign keys on, dropping the old table deleted the run's scores,
    metrics, links, events and artifacts)."""
    from sqlalchemy import text

    migrate.upgrade(engine, "0001")
    now = datetime(2026, 12, 1, tzinfo=UTC).replace(tzinfo=None)
    rows = {
        "configurations": "INSERT INTO configurations (number, slug, title, section, paper_section, kind) "
                          "VALUES (1, 'c1', 't', 'A.1', 's', 'single')",
        "datasets": "INSERT INTO datasets (id, name, path, num_classes, splits, synthetic, created_at) "
                    "VALUES (1, 'd', '/d', 3, '{}', false, :now)",
        "runs": "INSERT INTO runs (id, kind, key, number, slug, config, job, options, dataset_id, preset, seed, "
                "status, cancel_requested, attempts, created_at, step, artifact_dir) VALUES "
                "(1, 'train', 'k1', 1, 'c1', '{}', '{}', '{}', 1, 'tiny', 0, 'succeeded', false, 1, :now, 3, "
                "'runs/1'), (2, 'stack', 'k2', NULL, 's', '{}', '{}', '{}', 1, 'tiny', 0, 'succeeded', false, 1, "
                ":now, 0, 'runs/2')",
        "run_links": "INSERT INTO run_links (run_id, role, position, input_id) VALUES (2, 'member', 0, 1)",
        "run_events": "INSERT INTO run_events (run_id, at, event, message) VALUES (1, :now, 'created', '')",
        "metrics": "INSERT INTO metrics (run_id, name, step, value) VALUES (1, 'loss', 3, 0.5)",
        "scores": "INSERT INTO scores (run_id, split, gap) VALUES (1, 'validate2', 0.8)",
        "artifacts": "INSERT INTO artifacts (run_id, kind, split, path, bytes, created_at) "
                     "VALUES (1, 'best', '', 'runs/1/best.pt', 10, :now)",
    }
    with engine.begin() as connection:
        for sql in rows.values():
            connection.execute(text(sql), {"now": now})
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    with engine.connect() as connection:
        counts = {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in rows}
        assert connection.execute(text("SELECT variant_id FROM runs WHERE id = 1")).scalar() is None
    assert counts == {t: 2 if t == "runs" else 1 for t in rows}
    if engine.dialect.name == "sqlite":  # foreign keys on again for the connections that follow
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
