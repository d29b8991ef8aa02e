"""The run store: SQLAlchemy 2 models of datasets, configurations, runs, their metrics, scores, artifacts and
links, one engine from ``Y8M_DATABASE_URL`` (SQLite under ``$Y8M_HOME`` by default), Alembic migrations and
the queries the worker, the CLI and the dashboard share. Imports nothing from ``y8m_models``: the dashboard
reads it without torch.
"""
