"""Benchmarks that measure each case in a process of its own (its peak memory, its threads and its warm-up not
shared with the others): the case is the script itself run with ``--one ARGS...``, which prints its figures as
one JSON object on its last line."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def measure_in_subprocess(script: str, args: list[object], label: str) -> dict[str, Any] | None:
    """The JSON row ``python SCRIPT --one ARGS...`` prints last; None, after printing ``LABEL: FAILED`` and the
    last line of its error output, where it fails."""
    done = subprocess.run([sys.executable, script, "--one", *map(str, args)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        print(f"{label}: FAILED {done.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])
