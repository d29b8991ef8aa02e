"""Backends and worker processes for the worker tests.

``backend``: the embedded default (``filesystem://`` broker, SQLite under a temporary ``$Y8M_HOME``) and,
where ``Y8M_TEST_DATABASE_URL`` and ``Y8M_TEST_REDIS_URL`` are set (``.ci/run`` sets them), Redis with a fresh
PostgreSQL database. The test process and every worker it starts see the same environment.
``workers``: ``worker.local.LocalWorkers`` with the backend's environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from db.engine import scratch_database
from worker.local import LocalWorkers, wait_until


@dataclass
class Backend:
    name: str
    env: dict[str, str]
    home: Path
    data: Path

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from y8m_models.data.synthetic import generate

    root = tmp_path_factory.mktemp("data-root")
    generate(root / "tiny", preset="micro", seed=3)
    return root


def _backends() -> list:
    services = os.environ.get("Y8M_TEST_DATABASE_URL") and os.environ.get("Y8M_TEST_REDIS_URL")
    return ["embedded", pytest.param("services", marks=pytest.mark.skipif(
        not services, reason="Y8M_TEST_DATABASE_URL and Y8M_TEST_REDIS_URL not set (.ci/run sets them)"))]


@pytest.fixture(scope="module", params=_backends())
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            tiny_data: Path) -> Iterator[Backend]:
    home = tmp_path_factory.mktemp(f"home-{request.param}")
    env = {"Y8M_HOME": str(home), "Y8M_DATA_ROOTS": str(tiny_data), "Y8M_HEARTBEAT_SECONDS": "0.5",
           "Y8M_STALE_SECONDS": "20", "Y8M_CACHE_DIR": os.environ.get("Y8M_CACHE_DIR", str(home / "cache"))}
    drop = None
    if request.param == "services":
        import redis

        redis_url = os.environ["Y8M_TEST_REDIS_URL"]
        redis.Redis.from_url(redis_url).flushdb()
        env["Y8M_DATABASE_URL"], drop = scratch_database(os.environ["Y8M_TEST_DATABASE_URL"], "y8m_test")
        env["Y8M_BROKER_URL"] = redis_url
    else:
        env["Y8M_DATABASE_URL"] = f"sqlite:///{home / 'y8m.db'}"
        env["Y8M_BROKER_URL"] = "filesystem://"
    yield Backend(request.param, env, home, tiny_data / "tiny")
    if drop is not None:
        drop()


@pytest.fixture
def env(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """The backend's environment in this test process too."""
    backend.apply(monkeypatch)
    return backend


@pytest.fixture
def workers(env: Backend, tmp_path: Path) -> Iterator[LocalWorkers]:
    pool = LocalWorkers(env.env, tmp_path)
    yield pool
    pool.stop()
    assert "database is locked" not in pool.logs()


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.3) -> object:
    return wait_until(condition, timeout, what, interval)
