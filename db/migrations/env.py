"""Alembic environment: the engine comes from ``db.migrate`` (``config.attributes["engine"]``), never from an
ini file, so the one URL setting serves migrations too.

SQLite alters a table by copying it (``render_as_batch``): the old table is dropped, and with foreign keys on
(``db.engine`` turns them on) that drop would cascade into every row that references it (a run's scores,
metrics, links, events and artifacts). So on SQLite foreign keys are off while migrating (the pragma only acts
outside a transaction), checked once the migration is done, and on again before the connection goes back."""

from alembic import context

from db.models import Base

engine = context.config.attributes["engine"]
with engine.execution_options(y8m_write=True).connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    raw = connection.connection.dbapi_connection if sqlite else None
    if raw is not None:
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
            if raw is not None:
                broken = raw.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left rows whose references are gone: {broken[:5]}")
    finally:
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")
