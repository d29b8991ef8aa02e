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
