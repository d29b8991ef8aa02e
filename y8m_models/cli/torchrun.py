"""The processes of ``y8m train --nproc N``: ``launch`` runs ``torchrun --standalone --nproc-per-node N -m
y8m_models.cli.torchrun RUN_DIR ...`` on this machine; each process (``main``) joins the process group (NCCL
on CUDA, one GPU per process: ``cuda:LOCAL_RANK``; gloo on the CPU) and trains the run with
``experiment.train_run``. What changes in training under DDP is in ``y8m_models.distributed``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from y8m_models.distributed import current, join, leave
from y8m_models.experiment import open_run, train_run


def launch(run_dir: Path, nproc: int, *, device: str, resume: bool, eval_every: int | None, checkpoint_every: int,
           num_workers: int, compile: bool) -> int:
    """Train the run in ``run_dir`` (written by ``experiment.create_run``) with ``nproc`` processes through
    torchrun on this machine; returns torchrun's exit code. Rank 0 prints the result JSON."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "y8m_models.cli.torchrun", str(run_dir), "--device", device,
               *(["--eval-every", str(eval_every)] if eval_every else []),
               "--checkpoint-every", str(checkpoint_every), "--loader-workers", str(num_workers)]
    command += ["--resume"] * resume + ["--compile"] * compile
    # Each process gets its share of the cores (torchrun would otherwise set one thread and say so).
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, len(os.sched_getaffinity(0)) // nproc))
    return subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": threads}).returncode


def _device(name: str) -> torch.device:
    """``auto`` or ``cuda``: this process's GPU (``LOCAL_RANK``) where there is CUDA; else the CPU."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if name.startswith("cuda:") and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise SystemExit(f"--device {name}: each process trains on its own GPU (cuda:LOCAL_RANK); say --device cuda")
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if name == "cuda":
        raise SystemExit("--device cuda: this machine has no CUDA device")
    return torch.device("cpu" if name == "auto" else name)


def main(argv: list[str] | None = None) -> None:
    """One training process, started by torchrun (``launch``)."""
    parser = argparse.ArgumentParser(prog="python -m y8m_models.cli.torchrun")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--eval-every", type=int, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--loader-workers", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        raise SystemExit("y8m_models.cli.torchrun runs under torchrun: use `y8m train ... --nproc N`")
    device = _device(args.device)
    try:
        join(device)
        result = train_run(open_run(args.run_dir), resume=args.resume, device=str(device),
                           eval_every=args.eval_every, checkpoint_every=args.checkpoint_every,
                           num_workers=args.loader_workers, compile=args.compile)
        if current().main:
            print(json.dumps({"run": str(args.run_dir), "processes": current().world_size, **result}), flush=True)
    finally:
        leave()


if __name__ == "__main__":
    main()
    # Done, everything written. A normal exit runs the C++ static destructors, and with gloo one of torch's
    # threads can still be joinable then: std::terminate, SIGABRT ("terminate called without an active
    # exception") after the Python code has returned, and torchrun reports the run failed. Measured: rank 1 of
    # 2 in 3 of 24 exits on 2 busy cores (tests/test_distributed.py's run, 2026-12-07). So the process ends here.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
