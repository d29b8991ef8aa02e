"""Two machines rehearsed on one: two workers with their own ``$Y8M_HOME`` (local scratch: record-index cache,
logs), each mounting the shared artifacts at its own path, on different queues, sharing one Redis and one
PostgreSQL, run a reproduce DAG at once: every run once, all succeed, and members trained on one "machine" are
read through the shared volume by runs on the other."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from db.engine import get_engine, reading, scratch_database
from db.models import Artifact, Run, RunEvent, RunLink
from db.settings import Settings
from tests.worker.conftest import wait_for
from worker.local import LocalWorkers
from worker.runs import submit
from y8m_models.options import RunOptions

pytestmark = pytest.mark.skipif(
    not (os.environ.get("Y8M_TEST_DATABASE_URL") and os.environ.get("Y8M_TEST_REDIS_URL")),
    reason="needs Y8M_TEST_DATABASE_URL and Y8M_TEST_REDIS_URL (.ci/run sets them)")


def hosts(tmp_path: Path, data_root: Path, names: tuple[str, ...], admin_url: str,
          redis_url: str) -> tuple[dict[str, dict[str, str]], Path, Callable[[], None]]:
    """Per "machine" its environment: one database (a scratch one beside ``admin_url``'s) and one broker (Redis,
    emptied), its own home, the shared artifacts folder mounted (a symbolic link) at a path of its own. Returns
    the environments, the shared folder and the database's drop. (``bench/bench_scaleout.py`` uses it too.)"""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    database_url, drop = scratch_database(admin_url, "y8m_scaleout")
    shared = tmp_path / "shared-artifacts"
    shared.mkdir(parents=True)
    envs = {}
    for name in names:
        home = tmp_path / name / "home"
        home.mkdir(parents=True)
        (tmp_path / name / "mnt").symlink_to(shared, target_is_directory=True)
        envs[name] = {"Y8M_HOME": str(home), "Y8M_ARTIFACTS": str(tmp_path / name / "mnt"),
                      "Y8M_DATABASE_URL": database_url, "Y8M_BROKER_URL": redis_url,
                      "Y8M_DATA_ROOTS": str(data_root), "Y8M_CACHE_DIR": str(home / "cache"),
                      "Y8M_HEARTBEAT_SECONDS": "0.5", "Y8M_STALE_SECONDS": "20"}
    return envs, shared, drop


def test_two_machines_share_one_dag(tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    envs, shared, drop = hosts(tmp_path, tiny_data, ("host-a", "host-b"), os.environ["Y8M_TEST_DATABASE_URL"],
                               os.environ["Y8M_TEST_REDIS_URL"])
    machines = {name: LocalWorkers(env, tmp_path / name / "home" / "logs") for name, env in envs.items()}
    try:
        machines["host-a"].start(queues="gpu")
        machines["host-b"].start(queues="gpu,cpu")
        for key, value in envs["host-a"].items():  # submitted from machine a
            monkeypatch.setenv(key, value)
        # #28: eight bagging members and their stack; #47: a cascade reading #75's stacked predictions (itself a
        # stack of four frame- and video-level members).
        sub = submit("28, 47", tiny_data / "tiny", RunOptions(max_steps=6))
        settings = Settings.from_env()

        def finished() -> list[Run] | None:
            with reading(get_engine(settings.database_url)) as s:
                runs = s.scalars(select(Run)).all()
            return runs if all(r.status in ("succeeded", "failed", "cancelled") for r in runs) else None

        runs = wait_for(finished, 600, "the DAG")
        with reading(get_engine(settings.database_url)) as s:
            events = s.execute(select(RunEvent.run_id, RunEvent.event)).all()
            artifacts = s.scalars(select(Artifact.path)).all()
            inputs = s.execute(select(RunLink.run_id, RunLink.input_id)).all()
    finally:
        for machine in machines.values():
            machine.stop()
        drop()
    assert len(runs) == len(sub.created) == 15 and {r.status for r in runs} == {"succeeded"}, \
        [(r.id, r.status, r.error) for r in runs]
    assert {r.attempts for r in runs} == {1}
    starts = [run_id for run_id, event in events if event == "running"]
    assert sorted(starts) == sorted(r.id for r in runs)  # every run started once
    # Which machine ran what, and through which mount (its worker's log line "run N (kind): attempt 1 in DIR").
    ran = {name: {int(m[1]): m[2] for m in re.finditer(r"run (\d+) \(\w+\): attempt 1 in (\S+)",
                                                      machines[name].logs())} for name in machines}
    assert ran["host-a"] and ran["host-b"] and not set(ran["host-a"]) & set(ran["host-b"])
    assert set(ran["host-a"]) | set(ran["host-b"]) == {r.id for r in runs}
    for name, folders in ran.items():
        assert all(folder.startswith(envs[name]["Y8M_ARTIFACTS"] + os.sep) for folder in folders.values())
    # A stack (and the cascade) read members that the other machine trained.
    where = {run_id: name for name in ran for run_id in ran[name]}
    crossed = {run_id for run_id, input_id in inputs if where[run_id] != where[input_id]}
    assert crossed & ({r.id for r in runs if r.kind == "stack"} | {sub.targets[47]})
    # Nothing stored names one machine's mount: run.json links, store metadata and the database are relative.
    for path in shared.rglob("*.json*"):
        text = path.read_text()
        assert "host-" not in text and shared.name not in text, path
    for path in shared.rglob("run.json"):
        links = json.loads(path.read_text())["inputs"]
        paths = [p for value in links.values() for p in (value if isinstance(value, list) else [value])]
        assert not [p for p in paths if os.path.isabs(p)], path
    assert not [p for p in artifacts if "host-" in p]
    assert not [r.artifact_dir for r in runs if os.path.isabs(r.artifact_dir)]

