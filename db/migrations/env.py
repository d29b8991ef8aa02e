"""Alembic environment: the engine comes from ``db.migrate`` (``config.attributes["engine"]``), never from an
ini file, so the one URL setting serves migrations too."""

from alembic import context

from db.models import Base

engine = context.config.attributes["engine"]
with engine.execution_options(y8m_write=True).connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
