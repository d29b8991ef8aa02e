"""What ``make run`` starts (``python -m app.serve``): the dashboard and its workers on this machine.

It registers the paper dataset (``$Y8M_HOME/datasets/paper``, which the Makefile generates) when it is there,
then starts ``Y8M_WORKERS`` ``y8m worker`` processes and ``streamlit run app/main.py``, waits until the app
answers and prints its address. Ctrl-C (or SIGTERM) stops the app and the workers and exits 0; when one of
them dies on its own, the others are stopped and it exits 1 naming the one that died and its log.

Settings, from the environment only (the run store's, ``Y8M_HOME`` and the rest, are in the README's "Runs and
workers"; the embedded default is SQLite and a folder broker under ``$Y8M_HOME``, default ``./var``):

``Y8M_APP_HOST``      the address the app listens on (default ``127.0.0.1``; ``0.0.0.0`` for every interface:
                      it refuses to start then without ``Y8M_APP_PASSWORD``, which ``app/main.py`` asks for, or
                      ``Y8M_APP_OPEN=1``: ``app/exposure.py``)
``Y8M_APP_PORT``      its port (default ``8501``)
``Y8M_WORKERS``       how many worker processes (default ``1``); each trains one run at a time; ``0``: none, the
                      workers run elsewhere (``docker-compose.yml``: the app container)
``OMP_NUM_THREADS``   torch threads per worker (default: this machine's cores shared among the workers)

Logs go to ``$Y8M_HOME/logs/``: ``app.log`` (Streamlit) and ``worker-<n>.log``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from app.exposure import exposure_problem
from db.settings import Settings
from worker.local import LocalWorkers

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 120  # the first start migrates the database and imports torch in each worker


class ServeError(RuntimeError):
    """A setting or a child process that keeps the app from running; the message says which and where."""


def _setting(name: str, default: int, lowest: int, highest: int) -> int:
    text = os.environ.get(name) or str(default)
    if not text.isdigit() or not lowest <= int(text) <= highest:
        raise ServeError(f"{name}={text!r}: expected a whole number from {lowest} to {highest}")
    return int(text)


def _register_paper(settings: Settings) -> None:
    """The paper dataset in the run store (once; a later start finds it by its path)."""
    paper = settings.home / "datasets" / "paper"
    if not (paper / "synthetic.json").exists():
        print(f"No paper dataset at {paper} (make run generates it); register one on the Datasets page.")
        return
    from worker.runs import SubmitError, register_dataset

    try:
        register_dataset(paper, settings=settings)
    except SubmitError as exc:  # e.g. Y8M_DATA_ROOTS set without $Y8M_HOME/datasets
        print(f"The paper dataset is not registered: {exc}")


def _start_app(host: str, port: int, log: Path) -> subprocess.Popen:
    from app.components.uploads import limit_mb

    # Streamlit refuses a larger upload itself (per file); the page checks the whole upload against the same limit.
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"),
               "--server.address", host, "--server.port", str(port), "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
               "--server.maxUploadSize", str(limit_mb(os.environ))]
    with open(log, "w") as out:  # its own session: Ctrl-C reaches it through us, in order
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    process.log = log  # type: ignore[attr-defined]
    return process


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _dead(app: subprocess.Popen, workers: LocalWorkers) -> str | None:
    """What died, with its exit code and log, or None while everything runs."""
    for name, process in [("the app (streamlit)", app),
                          *((f"worker {i}", p) for i, p in enumerate(workers.processes))]:
        if process.poll() is not None:
            return f"{name} exited with code {process.returncode}; see {process.log}"  # type: ignore[attr-defined]
    return None


def _wait_until_up(app: subprocess.Popen, workers: LocalWorkers, url: str, stop: threading.Event) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not stop.is_set():
        dead = _dead(app, workers)
        if dead:
            raise ServeError(dead)
        ready = all(" ready." in p.log.read_text() for p in workers.processes)  # type: ignore[attr-defined]
        if ready and _answers(url):
            return
        if time.monotonic() > deadline:
            raise ServeError(f"not up after {STARTUP_SECONDS} s; see the logs in {workers.log_dir}")
        stop.wait(0.5)


def _stop_app(app: subprocess.Popen, timeout: float = 10) -> None:
    if app.poll() is None:
        os.killpg(app.pid, signal.SIGTERM)  # Streamlit shuts its server down on SIGTERM
        try:
            app.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()


def serve() -> int:
    settings = Settings.from_env()
    host = os.environ.get("Y8M_APP_HOST") or "127.0.0.1"
    problem = exposure_problem(host, os.environ)
    if problem:
        raise ServeError(f"Y8M_APP_HOST={host}: {problem}")
    port = _setting("Y8M_APP_PORT", 8501, 1, 65535)
    count = _setting("Y8M_WORKERS", 1, 0, 64)
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // max(count, 1)))
    os.environ["Y8M_HOME"] = str(settings.home)  # the children agree on it whatever their directory
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    # in a process of its own: registering reads the configuration registry, which imports torch (~250 MB
    # this process would hold for the whole session); it also creates or migrates the database first
    registering = multiprocessing.get_context("spawn").Process(target=_register_paper, args=(settings,))
    registering.start()
    registering.join()
    if stop.is_set():
        return 0
    if registering.exitcode:
        raise ServeError(f"preparing the run store under {settings.home} failed (the traceback is above)")
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    workers = LocalWorkers({"OMP_NUM_THREADS": threads}, logs)
    app = _start_app(host, port, logs / "app.log")
    try:
        for _ in range(count):
            workers.start(wait=None)
        _wait_until_up(app, workers, url, stop)
        if not stop.is_set():
            print(f"Open {url}" + (f" (listening on {host})" if host != "127.0.0.1" else ""))
            running = f"{count} worker(s) and the app are" if count else "The app (no workers: Y8M_WORKERS=0) is"
            print(f"{running} running (logs in {logs}). Ctrl-C stops everything.", flush=True)
        while not stop.wait(0.5):
            dead = _dead(app, workers)
            if dead:
                raise ServeError(dead)
    except ServeError as exc:
        print(f"y8m: {exc}; stopping the rest.", file=sys.stderr)
        return 1
    finally:
        print("Stopping the app and the workers (a run in progress stops now and resumes from its last "
              "checkpoint on the next start) ...", flush=True)
        _stop_app(app)
        workers.stop()
    return 0


def main() -> None:
    try:
        sys.exit(serve())
    except ServeError as exc:  # a bad setting, before anything started
        sys.exit(f"y8m: {exc}")


if __name__ == "__main__":
    main()
