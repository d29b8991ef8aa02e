"""Every setting of a deployment, from environment variables only (the README's "Scaling out" lists them).

``Y8M_HOME`` (default ``./var``): the embedded default's database, broker folders and datasets.
``Y8M_DATABASE_URL``: the run store (default ``sqlite:///$Y8M_HOME/y8m.db``; several machines:
``postgresql+psycopg://user@host/db``). ``Y8M_ARTIFACTS``: where run directories go (default ``$Y8M_HOME``;
a shared volume when workers are on several machines). ``Y8M_DATA_ROOTS``: the folders datasets may be
registered from, separated by ``os.pathsep`` (default ``$Y8M_HOME/datasets``). ``Y8M_BROKER_URL``: the Celery
broker (default ``filesystem://`` folders under ``$Y8M_HOME/broker``; several machines: ``redis://host:6379/0``).
``Y8M_HEARTBEAT_SECONDS`` (5) and ``Y8M_STALE_SECONDS`` (60): how often a running task reports, and after how
long without a report another machine's recovery loop takes its run for dead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    artifacts: Path
    data_roots: tuple[Path, ...]
    broker_url: str
    heartbeat_seconds: float
    stale_seconds: float

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        home = Path(env.get("Y8M_HOME") or "var").resolve()
        roots = [Path(p).resolve() for p in (env.get("Y8M_DATA_ROOTS") or "").split(os.pathsep) if p]
        return cls(home=home,
                   database_url=env.get("Y8M_DATABASE_URL") or f"sqlite:///{home / 'y8m.db'}",
                   # as mounted (not through its links): each machine may mount the shared volume elsewhere
                   artifacts=Path(os.path.abspath(env.get("Y8M_ARTIFACTS") or home)),
                   data_roots=tuple(roots) or (home / "datasets",),
                   broker_url=env.get("Y8M_BROKER_URL") or "filesystem://",
                   heartbeat_seconds=_number(env, "Y8M_HEARTBEAT_SECONDS", 5.0),
                   stale_seconds=_number(env, "Y8M_STALE_SECONDS", 60.0))


def _number(env: os._Environ[str] | dict[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{name}={text!r} must be positive")
    return value
