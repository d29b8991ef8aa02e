"""Worker processes on this machine: start ``y8m worker`` with a given environment, wait until it is ready,
kill it the hard way (``kill -9`` of its process group: the worker and its children, as when a machine
dies) or stop it cleanly. The tests, the benchmarks and ``make run`` use it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

Y8M = str(Path(sys.executable).with_name("y8m"))


@dataclass
class LocalWorkers:
    env: dict[str, str]  # added to this process's environment
    log_dir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def start(self, queues: str = "gpu,cpu", wait: float | None = 60) -> subprocess.Popen:
        """A worker on ``queues``; with ``wait``, returns once it is ready (or raises with its log's end)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"worker-{len(self.processes)}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **self.env}
        with open(log, "w") as out:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen([Y8M, "worker", "--queues", queues, "--loglevel", "info"], env=env,
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        process.log = log  # type: ignore[attr-defined]
        self.processes.append(process)
        deadline = time.monotonic() + (wait or 0)
        while wait and " ready." not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start; the end of {log}:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """``kill -9`` of the worker and its children."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (Celery's warm shutdown: a running task may finish), then ``kill -9`` after ``timeout`` (the
        run it was on is resumed by the next worker's sweep)."""
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def logs(self) -> str:
        return "\n".join(p.log.read_text() for p in self.processes)  # type: ignore[attr-defined]
