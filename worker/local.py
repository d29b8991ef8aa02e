"""Worker processes on this machine: start ``y8m worker`` with a given environment, wait until it is ready,
kill it the hard way (``kill -9`` of its process group: the worker and its children, as when a machine
dies) or stop it cleanly. The tests, the benchmarks and ``make run`` use it.

``y8m worker --gpus`` (``run_per_gpu``): one worker process per GPU, as the ``worker-gpu`` service of
``docker-compose.yml`` runs them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

Y8M = str(Path(sys.executable).with_name("y8m"))


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    """``condition()``'s first true value, polled every ``interval`` s; ``TimeoutError`` naming ``what`` after
    ``timeout`` s (the benchmarks wait for runs and sweeps with it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


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


# ------------------------------------------------------------------------ one worker per GPU (y8m worker --gpus)

STOP_SECONDS = 20  # after SIGTERM/SIGINT, the workers' time to stop before kill -9 (docker-compose.yml: 30 s)
_GPU = re.compile(r"\d+|(GPU|MIG)-[0-9A-Za-z-]+")  # an index or a UUID, as CUDA_VISIBLE_DEVICES takes them


class WorkerError(RuntimeError):
    """A ``--gpus`` value that names no GPU, or a worker that died; the message says which."""


def gpu_ids(spec: str, env: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs ``y8m worker --gpus`` names: ``all`` (``CUDA_VISIBLE_DEVICES`` when it is set, else every GPU
    ``nvidia-smi -L`` lists) or a list ``0,1`` (indices or UUIDs). Never imports torch: the workers fork."""
    env = os.environ if env is None else env
    source = "--gpus"
    if spec == "all" and env.get("CUDA_VISIBLE_DEVICES") is not None:
        spec, source = env["CUDA_VISIBLE_DEVICES"], "CUDA_VISIBLE_DEVICES (--gpus all)"
    elif spec == "all":
        count = _nvidia_smi_count()
        if not count:
            raise WorkerError("--gpus all: nvidia-smi -L lists no GPU; on a machine without GPUs name the "
                              "devices (--gpus 0,1: each worker then trains on the CPU) or start a CPU worker")
        return [str(i) for i in range(count)]
    ids = [x.strip() for x in spec.split(",")]
    bad = [x for x in ids if not _GPU.fullmatch(x)]
    if bad or not spec.strip():
        raise WorkerError(f"{source}={spec!r}: expected all, or GPU indices or UUIDs separated by commas (0,1)")
    if len(set(ids)) < len(ids):
        raise WorkerError(f"{source}={spec!r}: a GPU is named twice")
    return ids


def _nvidia_smi_count() -> int:
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise WorkerError("--gpus all: nvidia-smi is not on PATH (no NVIDIA driver here, or a container started "
                          "without the NVIDIA runtime: docker-compose.yml reserves the GPUs)") from None
    except subprocess.TimeoutExpired:
        raise WorkerError("--gpus all: nvidia-smi -L did not answer in 30 s") from None
    if listing.returncode:
        raise WorkerError(f"--gpus all: nvidia-smi -L failed ({listing.returncode}): {listing.stderr.strip()}")
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())


def gpu_node(gpu: str) -> str:
    """The Celery node name of the worker on ``gpu`` (``%h``: this host's name, as Celery expands it)."""
    return f"gpu{gpu}@%h" if gpu.isdigit() else f"{gpu.lower()}@%h"


def run_per_gpu(gpus: list[str], queues: str, loglevel: str) -> int:
    """One ``y8m worker`` per GPU, each with ``CUDA_VISIBLE_DEVICES`` set to its GPU (in nvidia-smi's order),
    its output prefixed by its node name. SIGTERM/SIGINT are passed on to every worker (Celery's warm shutdown;
    ``kill -9`` after ``STOP_SECONDS``), then 0. When one exits on its own, the rest are stopped and the
    returned 1 follows a message naming it. Torch threads: ``OMP_NUM_THREADS``, else the cores shared out."""
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, len(os.sched_getaffinity(0)) // len(gpus)))
    received: list[int] = []
    handlers = {s: signal.signal(s, lambda signum, _: received.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    workers: dict[str, subprocess.Popen] = {}
    dead = None
    try:
        for gpu in gpus:
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu, "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
                   "OMP_NUM_THREADS": threads, "PYTHONUNBUFFERED": "1"}
            workers[gpu] = _start_child(gpu_node(gpu), queues, loglevel, env)
        for process in workers.values():  # after the last fork: preexec_fn is unsafe beside running threads
            process.copier.start()  # type: ignore[attr-defined]
        dead = _watch(workers, received)
    finally:
        _stop_all(list(workers.values()), received, STOP_SECONDS)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    if dead is None:
        return 0
    gpu, code = dead
    host = socket.gethostname()  # what Celery puts for %h
    others = ", ".join(gpu_node(g).replace("%h", host) for g in workers if g != gpu) or "none"
    print(f"y8m worker: {gpu_node(gpu).replace('%h', host)} (CUDA_VISIBLE_DEVICES={gpu}) exited with code {code}; "
          f"the other workers were stopped ({others})", file=sys.stderr, flush=True)
    return 1


def _start_child(node: str, queues: str, loglevel: str, env: dict[str, str]) -> subprocess.Popen:
    """A ``y8m worker`` in its own session (a terminal's Ctrl-C reaches it once, through us) that gets SIGTERM
    if we die, its output copied to ours line by line behind ``node |``."""
    process = subprocess.Popen([Y8M, "worker", "--queues", queues, "--loglevel", loglevel, "--name", node],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=_die_with_parent)
    prefix = node.split("@")[0].encode() + b" | "

    def copy() -> None:
        for line in iter(process.stdout.readline, b""):  # type: ignore[union-attr]
            sys.stdout.buffer.write(prefix + line)
            sys.stdout.buffer.flush()

    process.copier = threading.Thread(target=copy, name=f"output-{node}", daemon=True)  # type: ignore[attr-defined]
    return process


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux ``PR_SET_PDEATHSIG``; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _watch(workers: dict[str, subprocess.Popen], received: list[int]) -> tuple[str, int] | None:
    """Until a signal comes (None) or a worker exits on its own (its GPU and exit code)."""
    while not received:
        for gpu, process in workers.items():
            if process.poll() is not None:
                return gpu, process.returncode
        time.sleep(0.2)
    return None


def _stop_all(processes: list[subprocess.Popen], received: list[int], timeout: float) -> None:
    """The signal received (SIGTERM when a worker died) to each running worker's process group (the worker and
    its pool, as a terminal's Ctrl-C would), and each later one too (Celery: a second SIGINT is a cold
    shutdown); ``kill -9`` of those left after ``timeout``."""
    if not received:
        received.append(signal.SIGTERM)
    sent = 0
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        for signum in received[sent:]:
            for process in processes:
                _signal_group(process, signum)
        sent = len(received)
        time.sleep(0.1)
    for process in processes:
        _signal_group(process, signal.SIGKILL)
        process.wait()
        if process.copier.ident is not None:  # type: ignore[attr-defined]  # started: its last lines
            process.copier.join(timeout=2)  # type: ignore[attr-defined]


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    # Also once the worker itself has exited: its pool child (the run) may live on in its group, on the GPU.
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone
        os.killpg(process.pid, signum)
