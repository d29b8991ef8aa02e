"""The Docker deployment without Docker (it cannot run here): ``docker-compose.yml`` against the compose-spec
schema, the ``Dockerfile`` under hadolint, the two consistent with each other and with the README's "Scaling
out" table, ``y8m worker --gpus``, and every service's own command started here: its environment from the
compose file (``${VAR:-default}`` interpolated below), the hostnames ``redis`` and ``postgres`` mapped to the
test services (``Y8M_TEST_REDIS_URL``, a scratch database beside ``Y8M_TEST_DATABASE_URL``; skipped when they
are unset, as in tests/worker), ``/data`` and ``/artifacts`` to temporary folders, until its own compose
healthcheck passes; then SIGTERM, and it must exit."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

from db.engine import scratch_database
from worker.local import WorkerError, gpu_ids, gpu_node

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
SERVICES = ("redis", "postgres", "app", "worker-gpu", "worker-cpu", "flower")
LONG_RUNNING = SERVICES  # every service of the file serves until stopped
TEST_URLS = os.environ.get("Y8M_TEST_DATABASE_URL") and os.environ.get("Y8M_TEST_REDIS_URL")
needs_services = pytest.mark.skipif(not TEST_URLS, reason="Y8M_TEST_DATABASE_URL and Y8M_TEST_REDIS_URL not set "
                                                          "(.ci/run sets them)")


# ----------------------------------------------------------------------------- reading the two files


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, nested defaults."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                if j >= len(text):
                    raise ValueError(f"unclosed ${{ in {text!r}")
                depth += text.startswith("${", j) - (text[j] == "}")
                j += 2 if text.startswith("${", j) else 1
            out.append(_expand(text[i + 2:j - 1], env))
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _expand(expression: str, env: Mapping[str, str]) -> str:
    name = re.match(r"[A-Za-z_][A-Za-z0-9_]*", expression)
    if name is None:
        raise ValueError(f"${{{expression}}}: not a variable name")
    rest, value = expression[name.end():], env.get(name.group())
    if not rest:
        return value or ""
    for operator, unset in ((":-", value is None or value == ""), ("-", value is None)):
        if rest.startswith(operator):
            return interpolate(rest[len(operator):], env) if unset else value  # type: ignore[return-value]
    raise ValueError(f"${{{expression}}}: only ${{VAR}}, ${{VAR:-default}} and ${{VAR-default}} are used here")


def _walk(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: _walk(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_walk(value, env) for value in node]
    return node


def compose(env: Mapping[str, str] | None = None) -> dict:
    """The compose file as Compose reads it with ``env`` (merge keys resolved, variables interpolated)."""
    return _walk(YAML(typ="safe").load(COMPOSE), env or {})


def compose_variables() -> set[str]:
    """Every variable the compose file reads: ``${VAR...}`` and environment entries without a value."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE.read_text().replace("$$", "")))
    for service in compose()["services"].values():
        names |= {k for k, v in (service.get("environment") or {}).items() if v is None}
    return names


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.read_text().splitlines()
                                          if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def documented_variables() -> set[str]:
    """The variables in the first column of the README's "Scaling out" tables."""
    text = README.read_text()
    start = text.find("\n## Scaling out")
    assert start >= 0, f"{README} has no '## Scaling out' section"
    end = text.find("\n## ", start + 1)
    section = text[start:end if end > 0 else len(text)]
    return set(re.findall(r"^\|\s*`([A-Z_][A-Z0-9_]*)`", section, flags=re.MULTILINE))


# ------------------------------------------------------------------------------ the files themselves


def test_interpolation_reads_variables_as_compose_does() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET}-${UNSET}-$$HOME-${EMPTY:-d}-${EMPTY-d}", env) == "x--$HOME-d-"
    assert interpolate("${UNSET:-a${SET:-b}${UNSET:-c}}", env) == "axc"
    with pytest.raises(ValueError, match="only"):
        interpolate("${SET:?required}", env)


def test_compose_file_is_valid_compose_spec() -> None:
    result = subprocess.run([BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([BIN / "hadolint", DOCKERFILE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_has_every_service_and_healthchecks() -> None:
    services = compose()["services"]
    assert set(SERVICES) <= set(services), f"missing: {set(SERVICES) - set(services)}"
    assert [s for s in LONG_RUNNING if "healthcheck" not in services[s]] == []
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert "healthcheck" in services[target], f"{name} depends on {target}, which has no healthcheck"
            assert rule["condition"] == "service_healthy", f"{name} -> {target}"
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    for name in ("app", "worker-gpu", "worker-cpu"):  # the same paths in every container
        targets = {v.rsplit(":", 1)[1] for v in services[name]["volumes"]}
        assert targets == {"/data", "/artifacts"}, name
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])


def test_every_compose_variable_is_in_the_readme() -> None:
    missing = compose_variables() - documented_variables()
    assert not missing, f"not in the README's 'Scaling out' table: {sorted(missing)}"


def test_dockerfile_copies_files_that_exist_and_installs_requirements_txt() -> None:
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    instructions = dockerfile_instructions()
    for source in (s for kind, args in instructions if kind == "COPY" for s in shlex.split(args)[:-1]):
        assert (ROOT / source).exists(), f"COPY {source}: no such path"
        assert source.rstrip("/") not in ignored, f"COPY {source}: excluded by .dockerignore"
    installs = [shlex.split(args) for kind, args in instructions if kind == "RUN" and "pip install" in args]
    assert installs, "the Dockerfile installs nothing"
    for words in installs:  # requirements.txt, then the project without dependencies: nothing else
        packages = [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
        assert packages in (["requirements.txt"], ["."]), f"pip install {' '.join(words)}"
        assert packages == ["requirements.txt"] or "--no-deps" in words, "the project must come with --no-deps"
    assert ("COPY", "requirements.txt ./") in instructions


# ---------------------------------------------------------------------------------- y8m worker --gpus


def test_gpus_names_devices_or_says_why_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert gpu_ids("0,1") == ["0", "1"]
    assert gpu_ids("all", {"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert [gpu_node(g) for g in gpu_ids("1,GPU-8a3f")] == ["gpu1@%h", "gpu-8a3f@%h"]
    for bad in ("", "0,,1", "one", "0,0"):
        with pytest.raises(WorkerError, match="--gpus"):
            gpu_ids(bad)
    with pytest.raises(WorkerError, match="CUDA_VISIBLE_DEVICES"):
        gpu_ids("all", {"CUDA_VISIBLE_DEVICES": "-1"})
    monkeypatch.setenv("PATH", str(tmp_path))  # nvidia-smi as a machine with two GPUs, one without, none
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-1)'\necho 'GPU 1: NVIDIA H100 (UUID: GPU-2)'\n")
    smi.chmod(0o755)
    assert gpu_ids("all", {}) == ["0", "1"]
    smi.write_text("#!/bin/sh\necho 'No devices found.'\n")
    with pytest.raises(WorkerError, match="lists no GPU"):
        gpu_ids("all", {})
    smi.unlink()
    with pytest.raises(WorkerError, match="nvidia-smi is not on PATH"):
        gpu_ids("all", {})


def test_gpu_workers_stop_together_when_one_dies(tmp_path: Path) -> None:
    """Two workers on the embedded broker; ``kill -9`` of one: the other is stopped and the exit names it."""
    env = {**os.environ, "Y8M_HOME": str(tmp_path), "Y8M_DATABASE_URL": f"sqlite:///{tmp_path / 'y8m.db'}",
           "Y8M_BROKER_URL": "filesystem://"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    log = tmp_path / "out.log"
    with _started([str(BIN / "y8m"), "worker", "--gpus", "0,1"], env, log) as supervisor:
        _wait(lambda: all(re.search(rf"^gpu{i} \| .* ready\.", log.read_text(), re.MULTILINE) for i in (0, 1)),
              supervisor, log, "both workers ready")
        workers = _children(supervisor.pid)
        victim = next(pid for pid in workers if "gpu1@%h" in _cmdline(pid))
        assert len(_group(victim)) >= 2  # the worker and its pool process, which trains the runs
        os.kill(victim, signal.SIGKILL)  # the worker alone: its pool process lives on, orphaned
        assert supervisor.wait(timeout=40) == 1
    deadline = time.monotonic() + 5
    while [pid for worker in workers for pid in _group(worker)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for worker in workers for pid in _group(worker)] == []  # nothing left on a GPU
    output = log.read_text()
    assert f"gpu1@{socket.gethostname()} (CUDA_VISIBLE_DEVICES=1) exited with code -9" in output, output[-2000:]
    assert f"stopped (gpu0@{socket.gethostname()})" in output


def test_stopping_reaches_a_group_whose_worker_already_exited() -> None:
    """A worker killed alone (OOM, ``kill -9``) leaves its busy pool process in its group: stopping the
    supervisor kills the group anyway."""
    from worker.local import _stop_all

    orphaned = subprocess.Popen(["bash", "-c", "sleep 120 & exit 0"], start_new_session=True)
    orphaned.wait()
    assert len(_group(orphaned.pid)) == 1  # the sleep, still in the exited worker's group
    orphaned.copier = threading.Thread(target=lambda: None)  # type: ignore[attr-defined]  # as _start_child's
    _stop_all([orphaned], [], timeout=3)
    deadline = time.monotonic() + 5  # SIGKILL is delivered, not awaited
    while _group(orphaned.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _group(orphaned.pid) == []


def test_serve_runs_the_app_alone_when_told_no_workers(tmp_path: Path) -> None:
    """``Y8M_WORKERS=0 python -m app.serve``: a head machine's dashboard outside Docker, the workers elsewhere."""
    env = {**os.environ, "Y8M_HOME": str(tmp_path), "Y8M_WORKERS": "0", "Y8M_APP_PORT": str(_free_port()),
           "Y8M_DATABASE_URL": f"sqlite:///{tmp_path / 'y8m.db'}", "Y8M_BROKER_URL": "filesystem://"}
    log = tmp_path / "serve.log"
    with _started([sys.executable, "-m", "app.serve"], env, log) as process:
        _wait(lambda: "no workers: Y8M_WORKERS=0" in log.read_text(), process, log, "the app answering")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    assert [p.name for p in (tmp_path / "logs").iterdir()] == ["app.log"]


# ------------------------------------------------------------------------ every service started here


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Where the compose names lead here: the test Redis, a scratch database, folders for the volumes."""
    if not TEST_URLS:
        pytest.skip("Y8M_TEST_DATABASE_URL and Y8M_TEST_REDIS_URL not set (.ci/run sets them)")
    import redis

    folder = tmp_path_factory.mktemp("compose")
    redis.Redis.from_url(os.environ["Y8M_TEST_REDIS_URL"]).flushdb()
    database, drop = scratch_database(os.environ["Y8M_TEST_DATABASE_URL"], "y8m_deploy")
    yield {"postgres": database, "redis": os.environ["Y8M_TEST_REDIS_URL"], "/data": str(folder / "data"),
           "/artifacts": str(folder / "artifacts"), "/home/y8m/var": str(folder / "home")}
    drop()


def _outside_docker(value: str, local: Mapping[str, str]) -> str:
    """A compose value with the container's names replaced by this machine's."""
    parts = urlsplit(value)
    if parts.scheme.startswith(("postgresql", "redis")) and parts.hostname in local:
        return local[parts.hostname]  # type: ignore[index]
    for path in ("/data", "/artifacts", "/home/y8m/var"):
        if value == path or value.startswith(path + "/"):
            return local[path] + value[len(path):]
    return value.replace("0.0.0.0", "127.0.0.1")  # listen here on loopback only


def _service(name: str, local: Mapping[str, str]) -> tuple[list[str], list[str], dict[str, str]]:
    """The service's command, healthcheck command and environment (the image's ENV, then the service's)."""
    settings = {"Y8M_GPUS": "0,1", "Y8M_APP_PORT": str(_free_port()), "Y8M_FLOWER_PORT": str(_free_port())}
    service = compose(settings)["services"][name]
    env = {k: v for kind, args in dockerfile_instructions() if kind == "ENV"
           for k, v in (word.split("=", 1) for word in shlex.split(args))}
    env.update({k: settings.get(k, "") if v is None else str(v) for k, v in (service.get("environment") or {}).items()})
    env = {k: _outside_docker(v, local) for k, v in env.items() if v}
    process_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONUNBUFFERED": "1", **env}
    process_env.pop("CUDA_VISIBLE_DEVICES", None)
    health = service["healthcheck"]["test"]
    assert health[0] == "CMD", f"{name}: healthcheck {health}"
    command = [_outside_docker(str(word), local) for word in service.get("command") or []]
    return command, [_outside_docker(word, local) for word in health[1:]], process_env


@needs_services
@pytest.mark.slow
@pytest.mark.parametrize("name", ["app", "worker-gpu", "worker-cpu", "flower"])
def test_service_command_starts_here(name: str, local: dict[str, str], tmp_path: Path) -> None:
    command, health, env = _service(name, local)
    log = tmp_path / f"{name}.log"
    with _started(command, env, log) as process:
        _wait(lambda: subprocess.run(health, env=env, cwd=ROOT, capture_output=True, timeout=30).returncode == 0,
              process, log, f"{name}'s healthcheck {health}")
        process.send_signal(signal.SIGTERM)  # what docker stop sends (through init)
        try:
            code = process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} did not exit 40 s after SIGTERM; its log:\n{log.read_text()[-3000:]}")
    assert code == 0, f"{name} exited with {code}; its log:\n{log.read_text()[-3000:]}"


@needs_services
def test_redis_and_postgres_healthchecks_pass_against_the_test_services() -> None:
    services = compose()["services"]
    redis_url, database_url = urlsplit(os.environ["Y8M_TEST_REDIS_URL"]), urlsplit(os.environ["Y8M_TEST_DATABASE_URL"])
    redis_cli = services["redis"]["healthcheck"]["test"][1:]
    assert redis_cli[0] == "redis-cli"
    here = ["-h", redis_url.hostname or "127.0.0.1", "-p", str(redis_url.port or 6379)]
    result = subprocess.run([redis_cli[0], *here, *redis_cli[1:]], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "PONG" in result.stdout, result
    pg_isready = services["postgres"]["healthcheck"]["test"][1:]
    env = {**os.environ, "PGHOST": database_url.hostname or "127.0.0.1", "PGPORT": str(database_url.port or 5432)}
    result = subprocess.run(pg_isready, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result


# --------------------------------------------------------------------------------------------- helpers


class _started:
    """A process in its own session, its output in ``log``; killed with its group on the way out."""

    def __init__(self, command: list[str], env: Mapping[str, str], log: Path) -> None:
        self.command, self.env, self.log = command, dict(env), log

    def __enter__(self) -> subprocess.Popen:
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(self.command, env=self.env, cwd=ROOT, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self.process

    def __exit__(self, *_: object) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _wait(condition: Any, process: subprocess.Popen, log: Path, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            state = f"exited with {process.returncode}" if process.poll() is not None else f"{timeout:.0f} s passed"
            pytest.fail(f"{state} before {what}; the log:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes() -> Iterator[tuple[int, str, int, int]]:
    """(pid, state, parent pid, process group) of every process, from /proc."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        yield int(stat.parent.name), state, int(ppid), int(pgrp)


def _children(pid: int) -> list[int]:
    return [child for child, _, parent, _ in _processes() if parent == pid]


def _group(pgid: int) -> list[int]:
    """The live processes of a process group."""
    return [member for member, state, _, group in _processes() if group == pgid and state != "Z"]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
