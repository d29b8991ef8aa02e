"""One model trained by several processes (PyTorch DDP), started by torchrun: ``y8m train --nproc N``.

``launch`` checks the run as ``y8m train`` does, writes its directory, then runs
``torchrun --standalone --nproc-per-node N -m y8m_models.distributed RUN_DIR ...``; each process (``main``)
joins the process group (NCCL on CUDA, one GPU per process: ``cuda:LOCAL_RANK``; gloo on the CPU) and trains
the run with ``experiment.train_run``. What changes under DDP is in ``train.fit`` and the dataset:

* every rank reads its part of each batch of ``training.batch_size`` videos (``YT8MDataset`` with ``rank`` and
  ``world_size``), so the global batch, the schedule and the checkpoints' data positions are a single
  process's, and N processes train as one would, up to floating-point order (and dropout draws);
* each rank's loss is scaled by its share of the batch, so DDP's gradient average is the batch mean;
  ``MaskedBatchNorm`` takes its statistics over all ranks;
* rank 0 alone writes checkpoints, ``metrics.jsonl`` and ``best.pt`` (validate1 selection), and reports
  progress; a stop request on rank 0 stops every rank at the same step.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

# Rank 0 scores validate1 while the others wait in the next step's all-reduce: allow long evaluations.
TIMEOUT = datetime.timedelta(hours=2)


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes (rank 0 of 1 without DDP)."""

    rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def current() -> Ranks:
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def wrap(model: nn.Module, device: torch.device | str) -> nn.Module:
    """``model`` under DDP where there are several ranks (its gradients averaged over them), else itself.
    DDP searches the autograd graph for parameters that got no gradient at every step
    (``find_unused_parameters``): a loss may leave a head out (#16 ``--code`` trains its scales' MoEs, not the
    consensus), which DDP's default refuses at the second step. The search is one pass over the graph per
    step. (``static_graph=True`` left the first step's gradients unreduced here, rank 0 and rank 1 keeping
    their own.)"""
    if current().world_size == 1:
        return model
    device = torch.device(device)
    return nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                               find_unused_parameters=True)


def check_batch(batch_size: int, world_size: int) -> None:
    """Every rank needs a part of every batch: refuse a batch smaller than the number of processes."""
    if batch_size < world_size:
        raise ValueError(f"a batch of {batch_size} cannot be split among {world_size} processes; set "
                         f"model.training.batch_size (--set) to at least {world_size}, or use fewer processes")


def batch_mean(mean: torch.Tensor, count: int) -> torch.Tensor:
    """The mean over the whole batch (all ranks' videos) of a value whose mean over this rank's ``count``
    videos is ``mean``: the batch-level decisions of #1 (relabel below a loss) and #65 (boost above the mean)
    are then those of one process. Not differentiable (a decision, not a loss)."""
    if current().world_size == 1:
        return mean.detach()
    total, videos = all_sum(float(mean) * count, count)
    return torch.tensor(total / max(videos, 1.0), dtype=mean.dtype, device=mean.device)


def all_sum(*values: float) -> list[float]:
    """The sums of ``values`` over the ranks (one small all-reduce); the values themselves on one rank."""
    if current().world_size == 1:
        return list(values)
    total = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        total = total.cuda()
    dist.all_reduce(total)
    return total.tolist()


def barrier() -> None:
    if current().world_size > 1:
        dist.barrier()


# ---------------------------------------------------------------------------------------------- launching

def launch(run_dir: Path, nproc: int, *, device: str, resume: bool, eval_every: int | None, checkpoint_every: int,
           num_workers: int, compile: bool) -> int:
    """Train the run in ``run_dir`` (written by ``experiment.create_run``) with ``nproc`` processes through
    torchrun on this machine; returns torchrun's exit code. Rank 0 prints the result JSON."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "y8m_models.distributed", str(run_dir), "--device", device,
               *(["--eval-every", str(eval_every)] if eval_every else []),
               "--checkpoint-every", str(checkpoint_every), "--workers", str(num_workers)]
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
    from y8m_models.experiment import open_run, train_run

    parser = argparse.ArgumentParser(prog="python -m y8m_models.distributed")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--eval-every", type=int, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        raise SystemExit("y8m_models.distributed runs under torchrun: use `y8m train ... --nproc N`")
    device = _device(args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    # device_id binds the NCCL communicator to this process's GPU (else NCCL guesses, and a barrier may hang)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT,
                            device_id=device if device.type == "cuda" else None)
    try:
        result = train_run(open_run(args.run_dir), resume=args.resume, device=str(device),
                           eval_every=args.eval_every, checkpoint_every=args.checkpoint_every,
                           num_workers=args.workers, compile=args.compile)
        if current().main:
            print(json.dumps({"run": str(args.run_dir), "processes": current().world_size, **result}), flush=True)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
