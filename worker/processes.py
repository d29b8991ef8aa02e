"""Which process a worker is, and whether another one lives: the names the run store keeps in ``runs.worker``
(``host:pid``), written by the process that claims a run and read by the recovery loop."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def worker_name() -> str:
    """This process as the run store names it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_alive(worker: str | None) -> bool | None:
    """Whether the process ``host:pid`` lives; None when it is on another host (only its heartbeat tells)."""
    if not worker:
        return None
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    try:  # a killed worker's child lingers as a zombie until something reaps it: dead all the same
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
