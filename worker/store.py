"""The run store, ready to use: ``prepare`` brings a database to the newest schema revision and syncs the numbered
configurations into it, once per process and URL; every reader and writer of the store starts here."""

from __future__ import annotations

from sqlalchemy import Engine

from db.engine import get_engine, writing
from db.migrate import ensure_schema
from db.queries import sync_configurations
from db.settings import Settings

_prepared: set[str] = set()


def prepare(settings: Settings | None = None) -> Engine:
    """The engine, with the schema at the newest revision and the configurations synced (once per process)."""
    settings = settings or Settings.from_env()
    engine = get_engine(settings.database_url)
    if settings.database_url not in _prepared:
        ensure_schema(engine)
        from y8m_models.configs import all_configurations

        rows = [{"number": c.number, "slug": c.slug, "title": c.title, "section": c.section,
                 "paper_section": c.paper_section, "kind": c.ensemble.method if c.ensemble else "single",
                 "level": c.model.level if c.model else None, "paper_gap": c.paper_gap,
                 "paper_private_gap": c.paper_private_gap} for c in all_configurations()]
        with writing(engine) as s:
            sync_configurations(s, rows)
        _prepared.add(settings.database_url)
    return engine
