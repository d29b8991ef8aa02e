"""What changes when one model is trained by several processes (PyTorch DDP; started by ``y8m train --nproc N``
through torchrun, ``y8m_models.cli.torchrun``): the collectives ``train.fit`` and the losses use, and the
model's DDP wrapper. Without a process group every function here is the one-process identity.

* every rank reads its part of each batch of ``training.batch_size`` videos (``YT8MDataset`` with ``rank`` and
  ``world_size``), so the global batch, the schedule and the checkpoints' data positions are a single
  process's, and N processes train as one would, up to floating-point order (and dropout draws);
* each rank's loss is scaled by its share of the batch, so DDP's gradient average is the batch mean;
  ``MaskedBatchNorm`` takes its statistics over all ranks;
* rank 0 alone writes checkpoints, ``metrics.jsonl`` and ``best.pt`` (validate1 selection), and reports
  progress; a stop request on rank 0 stops every rank at the same step.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

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
    are then those of one process. Not differentiable (a decision, not a loss). Reduced on the device, and
    both decisions are taken there, so the host does not wait for it."""
    if current().world_size == 1:
        return mean.detach()
    parts = torch.stack([mean.detach().float() * count, mean.new_full((), float(count), dtype=torch.float32)])
    reduce_sum(parts)
    return (parts[0] / parts[1].clamp(min=1.0)).to(mean.dtype)


def reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over the ranks, in place and returned. On a GPU (NCCL) the reduction is queued on the
    device after what computes ``tensor``: the host goes on without waiting."""
    if current().world_size > 1:
        dist.all_reduce(tensor)
    return tensor


def all_sum(*values: float) -> list[float]:
    """The sums of host values over the ranks (one small all-reduce) through ``control_group`` (gloo beside
    NCCL), so that no rank waits for its device; the values themselves on one rank."""
    if current().world_size == 1:
        return list(values)
    total = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(total, group=control_group)
    return total.tolist()


# The process group of host values (``all_sum``): None is the default group, which is gloo on the CPU; beside
# NCCL, ``join`` makes a gloo group of the same ranks (NCCL reduces device tensors only, and moving a host value
# there and back would wait for every step queued on the device).
control_group: dist.ProcessGroup | None = None


def barrier() -> None:
    if current().world_size > 1:
        dist.barrier()


def join(device: torch.device) -> None:
    """This process joins torchrun's ranks (its environment names them): NCCL on a GPU (``device``, bound to
    the communicator: else NCCL guesses, and a barrier may hang) with ``control_group`` beside it, gloo on the
    CPU."""
    global control_group
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT,
                            device_id=device if device.type == "cuda" else None)
    if device.type == "cuda":
        control_group = dist.new_group(backend="gloo", timeout=TIMEOUT)


def leave() -> None:
    """Leave the process group (and ``control_group``), where this process joined one."""
    global control_group
    if dist.is_initialized():
        dist.destroy_process_group()
    control_group = None
