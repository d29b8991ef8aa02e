"""The paper's training protocol, one step at a time (catalog §4.8): Adam, the staircase learning-rate decay
``lr = base * decay_rate ** floor(examples / decay_examples)``, per-tensor gradient-norm clipping as TF's
``clip_by_norm`` (each gradient scaled to norm at most ``clip_norm`` on its own), and L2 on the weight
matrices only (the authors' slim regularisers; biases are not regularised).

``fit`` is the loop: steps over shuffled epochs, callbacks (progress, checkpoint, stop request), and
checkpoints (model, optimizer, schedule, step, epoch, data positions, RNG) from which ``resume`` continues
exactly; device selection (CUDA, MPS, CPU), the precision policy (``numerics``), optional ``torch.compile``; several
processes under DDP (``y8m_models.distributed``) train as one. The run directory, validate1 selection and the
CLI are ``y8m_models.experiment``'s.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from y8m_models import atomic
from y8m_models.configs.schema import LossSpec, SingleModel, Training
from y8m_models.data.dataset import device_batches, host_to_device, label_prior, to_device
from y8m_models.distributed import all_sum, batch_mean, check_batch, current, reduce_sum, wrap
from y8m_models.losses import cross_entropy_per_video, distillation_loss, model_loss
from y8m_models.models.base import ModelOutput, start_at_label_prior
from y8m_models.numerics import Numerics

if TYPE_CHECKING:
    from y8m_models.ensemble.weights import ExampleWeights
    from y8m_models.store import PredictionLookup


def build_optimizer(model: nn.Module, training: Training) -> tuple[torch.optim.Optimizer,
                                                                    torch.optim.lr_scheduler.LambdaLR]:
    """Adam over the model's parameters (L2 on tensors of rank >= 2) and the staircase schedule, stepped once
    per batch of ``training.batch_size`` examples."""
    weights = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    others = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    # Fused: one pass over each tensor instead of a dozen (2.3x per step for #2 on the CPU, BENCHMARKS.md);
    # on the devices where torch has the fused kernel.
    fused = {p.device.type for p in model.parameters()} <= {"cpu", "cuda"} or None
    optimizer = torch.optim.Adam([{"params": weights, "weight_decay": training.l2},
                                  {"params": others, "weight_decay": 0.0}], lr=training.learning_rate,
                                 betas=(0.9, 0.999), eps=1e-8, fused=fused)

    def factor(step: int) -> float:
        return training.decay_rate ** (step * training.batch_size // training.decay_examples)

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def clip_per_tensor(model: nn.Module, clip_norm: float) -> None:
    """Scale every gradient whose L2 norm exceeds ``clip_norm`` down to that norm (TF ``clip_by_norm``)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    # min(1, clip / max(norm, 1e-12)) for every tensor, each operation one launch over all of them
    scales = torch._foreach_norm(grads)
    torch._foreach_clamp_min_(scales, 1e-12)
    torch._foreach_reciprocal_(scales)
    torch._foreach_mul_(scales, clip_norm)
    torch._foreach_clamp_max_(scales, 1.0)
    torch._foreach_mul_(grads, scales)


def train_step(model: nn.Module, inputs: dict, spec: SingleModel, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, vertical_matrix: torch.Tensor | None = None,
               weights: torch.Tensor | None = None, teacher: torch.Tensor | None = None,
               scale: float = 1.0, numerics: Numerics = Numerics()) -> torch.Tensor:
    """One optimisation step on model inputs (``to_device`` of a loader batch); returns the loss, a 0-dim
    tensor on the device (reading it, ``float(loss)``, waits for the step: ``fit`` leaves that to the callbacks
    that log it, so the host runs ahead, reading the next batch while the device computes).
    ``weights`` [B]: per-video loss weights (bagging, boosting); ``teacher`` [B, C]: soft targets, mixed with
    the labels by ``spec.distillation.weight`` (paper Eq. 12); ``scale``: what the gradient is multiplied by
    (a DDP rank's share of the batch); ``numerics``: the autocast (``y8m_models.numerics``)."""
    model.train()
    with numerics.autocast(inputs["labels"].device):
        output = model(inputs)
        loss = model_loss(output, inputs["labels"], spec.loss, weights, vertical_matrix)
        if teacher is not None:
            if spec.distillation is None:
                raise ValueError("teacher predictions given to a configuration without 'distillation'")
            to_teacher = model_loss(output, teacher, spec.loss, weights, vertical_matrix)
            loss = distillation_loss(loss, to_teacher, spec.distillation.weight)
    optimizer.zero_grad(set_to_none=True)
    (loss * scale if scale != 1.0 else loss).backward()
    clip_per_tensor(model, spec.training.clip_norm)
    optimizer.step()
    scheduler.step()
    return loss.detach()


class LossOutputs(nn.Module):
    """``model`` whose outputs the loss leaves out (a term of weight 0) come out detached. DDP finds the
    parameters that get no gradient by walking the graph back from the forward's outputs: a head that only an
    unused output reaches (#16 ``--code``: the consensus; its loss trains the scales only) is then found unused
    and keeps no gradient, as in one process, instead of stalling the next step's reduction."""

    def __init__(self, model: nn.Module, loss: LossSpec):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, batch: dict) -> ModelOutput:
        out = self.model(batch)
        unused = {"predictions": not self.loss.main_weight, "infrequent": not self.loss.main_weight,
                  "auxiliary": not self.loss.aux_weight, "verticals": not self.loss.vertical_weight}
        return replace(out, **{name: getattr(out, name).detach() for name, drop in unused.items()
                               if drop and getattr(out, name) is not None})


def select_device(name: str = "auto") -> torch.device:
    """``auto``: the first CUDA device, else Apple's MPS, else the CPU; or the device named."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class TrainState:
    """Where a run is: steps and examples done, the epoch, and how far each data shard got into it."""

    step: int = 0
    examples: int = 0
    epoch: int = 0
    num_shards: int = 1
    positions: dict[int, int] = field(default_factory=dict)  # shard -> records of this epoch consumed
    last_shard: int = -1  # the shard of the last batch, so a resumed loader takes its workers' turns in order


@dataclass(frozen=True)
class SideInputs:
    """What a run reads per video beside its records, by video id (the ensembles' members): per-video loss
    weights (bagging, boosting), a distillation teacher's predictions (M = 1), a cascade's prediction streams
    (``batch["cascade"]`` [B, M, C] for the model)."""

    example_weights: ExampleWeights | None = None
    teacher: PredictionLookup | None = None
    cascade: PredictionLookup | None = None
    boost_from_stream: bool = False  # #65: weight 3 where the first stream's CE is above the batch mean, else 0.5

    def apply(self, batch: dict, inputs: dict, device: torch.device | str) -> tuple[torch.Tensor | None,
                                                                                     torch.Tensor | None]:
        """Add ``inputs["cascade"]``; return (loss weights [B], teacher [B, C]) for the batch's videos."""
        ids = batch["video_ids"]
        if self.cascade is not None:
            inputs["cascade"] = host_to_device(self.cascade(ids), device)
        weights = None if self.example_weights is None else host_to_device(self.example_weights.lookup(ids), device)
        if self.boost_from_stream:
            stream_ce_B = cross_entropy_per_video(inputs["cascade"][:, 0], inputs["labels"])
            boost_B = torch.where(stream_ce_B > batch_mean(stream_ce_B.mean(), len(ids)), 3.0, 0.5)
            weights = boost_B if weights is None else weights * boost_B
        teacher = None if self.teacher is None else host_to_device(self.teacher(ids)[:, 0], device)
        return weights, teacher


class Callback:
    """What the loop tells the outside (progress bars, the workers' database rows) and asks it (cancel)."""

    def on_step(self, state: TrainState, loss: float | torch.Tensor, learning_rate: float) -> None:
        """After every optimisation step. ``loss``: a 0-dim tensor on the training device (``float(loss)`` waits
        for the step to finish: read it only when it is shown or logged) or a float."""

    def on_checkpoint(self, state: TrainState, path: Path) -> None:
        """After a checkpoint is written."""

    def should_stop(self, state: TrainState) -> bool:
        """Checked after every step; True saves a checkpoint and returns."""
        return False


CHECKPOINT = "checkpoint.pt"


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, state: TrainState,
                    device: torch.device | str = "cpu") -> None:
    """Model, optimizer, schedule, loop state and RNG states (the CPU's, and the training GPU's: not every
    visible GPU's, which would start a CUDA context on each), written atomically (a crash keeps the old one)."""
    device = torch.device(device)
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "state": {**asdict(state), "positions": {str(k): v for k, v in state.positions.items()}},
               "rng": {"torch": torch.get_rng_state(),
                       "cuda": [torch.cuda.get_rng_state(device)] if device.type == "cuda" else []}}
    atomic.save_torch(payload, path)


def restore_cuda_rng(states: list[torch.Tensor], device: torch.device | str) -> None:
    """Give the training GPU its generator's state back. ``states`` holds the saving process's training GPU's
    state; checkpoints written before held one per visible GPU (8 for a run saved under ``--nproc 8``): the
    entry of this GPU's index where there is one, else the first. Nothing where the run trains on no GPU (a
    run saved on a GPU resumed on the CPU)."""
    device = torch.device(device)
    if not states or device.type != "cuda":
        return
    index = device.index if device.index is not None else torch.cuda.current_device()
    torch.cuda.set_rng_state(states[index] if len(states) > 1 and index < len(states) else states[0], device)


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, device: torch.device | str = "cpu") -> TrainState:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["rng"]["torch"])
    restore_cuda_rng(payload["rng"]["cuda"], device)
    saved = payload["state"]
    return TrainState(**{**saved, "positions": {int(k): v for k, v in saved["positions"].items()}})


def fit(model: nn.Module, spec: SingleModel, files: list, num_classes: int, run_dir: Path | None, steps: int, *,
        seed: int = 0, resume: bool = False, checkpoint_every: int = 500, checkpoint_minutes: float = 15.0,
        callbacks: tuple[Callback, ...] = (),
        device: torch.device | str = "cpu", num_workers: int = 0,
        vertical_matrix: torch.Tensor | None = None, compile: bool = False,
        side: SideInputs = SideInputs(), numerics: Numerics = Numerics()) -> TrainState:
    """Train until ``steps`` steps, checkpointing every ``checkpoint_every`` steps, every ``checkpoint_minutes``
    and at the end into ``run_dir/checkpoint.pt`` (``run_dir=None``: no checkpoints). ``resume`` continues from
    that checkpoint: with the same seed the final weights equal an uninterrupted run's
    (also with DataLoader workers: their turns are resumed in order). ``compile``: the training forward runs
    through ``torch.compile`` (the weights, checkpoints and evaluation stay the plain module's). ``side``: the
    per-video inputs of ensemble members (loss weights, teacher, cascade streams); ``numerics``: precision
    and determinism (``y8m_models.numerics``; its process-wide settings are applied here). Under DDP
    (``y8m_models.distributed``) each rank reads its part of every batch, rank 0 writes the checkpoints, and
    the callbacks see the whole batch's loss; give them to rank 0 only."""
    from torch.utils.data import DataLoader

    from y8m_models.data.dataset import YT8MDataset

    ranks = current()
    check_batch(spec.training.batch_size, ranks.world_size)
    numerics.apply()
    checkpoint = None
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = run_dir / CHECKPOINT
        if ranks.main:  # a checkpoint (or best.pt, predictions) that a kill -9 cut off half-written
            atomic.remove_leftovers(run_dir)
    optimizer, scheduler = build_optimizer(model, spec.training)
    if resume and checkpoint is not None and checkpoint.exists():
        state = load_checkpoint(checkpoint, model, optimizer, scheduler, device)
    else:
        torch.manual_seed(seed)
        state = TrainState()
        if spec.training.output_bias == "label_prior":
            start_at_label_prior(model, torch.from_numpy(label_prior(files, spec.level, num_classes)))
    if ranks.rank:  # dropout draws of their own (the weights come from rank 0: DDP broadcasts them)
        torch.manual_seed(seed + 1_000_003 * ranks.rank + state.step)
    net = wrap(LossOutputs(model, spec.loss) if ranks.world_size > 1 else model, device)
    net = torch.compile(net) if compile else net
    data = YT8MDataset(files, spec.level, num_classes, batch_size=spec.training.batch_size, shuffle=True,
                       seed=seed, max_frames=getattr(spec.params, "max_frames", 300), rank=ranks.rank,
                       world_size=ranks.world_size)
    if state.positions:
        data.resume(state.epoch, state.num_shards, state.positions, (state.last_shard + 1) % max(num_workers, 1))
    else:
        data.set_epoch(state.epoch)
    # One loader for every epoch: its workers stay (each pass over the dataset reads the next epoch); its own
    # generator, because creating a loader must not draw from the global RNG the model's dropout uses; pinned
    # batches on a GPU, so that their copies (device_batches) overlap the steps.
    loader = DataLoader(data, batch_size=None, num_workers=num_workers, persistent_workers=num_workers > 0,
                        generator=torch.Generator(), pin_memory=torch.device(device).type == "cuda")
    saved_at = time.monotonic()
    while state.step < steps:
        for batch, inputs in device_batches(loader, device):
            state.positions[int(batch["shard"])] = int(batch["position"])
            state.num_shards = int(batch["num_shards"])
            state.last_shard = int(batch["shard"])
            videos, scale = len(batch["video_ids"]), 1.0
            if ranks.world_size > 1:  # every rank skips the same steps: a shard's last step of < N videos
                if batch["global_size"] < ranks.world_size:
                    continue
                scale = ranks.world_size * videos / batch["global_size"]  # DDP's gradient mean = the batch mean
            elif not videos:
                continue
            weights, teacher = side.apply(batch, inputs, device)
            loss = train_step(net, inputs, spec, optimizer, scheduler, vertical_matrix, weights, teacher, scale,
                              numerics)
            if ranks.world_size > 1:  # the whole batch's loss, reduced on the device; fit reads without
                loss = reduce_sum(loss * (scale / ranks.world_size))  # skip_corrupt: every position is a video
                videos = batch["global_size"]
            state.step += 1
            state.examples += int(videos)
            for cb in callbacks:
                cb.on_step(state, loss, scheduler.get_last_lr()[0])
            stop = any(cb.should_stop(state) for cb in callbacks)
            if ranks.world_size > 1:  # rank 0's callbacks decide for all
                stop = all_sum(float(stop))[0] > 0
            due = time.monotonic() - saved_at >= 60 * checkpoint_minutes
            if checkpoint is not None and (state.step % checkpoint_every == 0 or due or state.step >= steps or stop):
                if ranks.main:
                    save_checkpoint(checkpoint, model, optimizer, scheduler, state, device)
                saved_at = time.monotonic()
                for cb in callbacks:
                    cb.on_checkpoint(state, checkpoint)
            if state.step >= steps or stop:
                return state
        state.epoch += 1
        state.positions = {}
    return state


def train_steps(model: nn.Module, spec: SingleModel, files: list, num_classes: int, steps: int,
                seed: int = 0, device: torch.device | str = "cpu",
                vertical_matrix: torch.Tensor | None = None, numerics: Numerics = Numerics()) -> list[float]:
    """``steps`` steps of ``fit`` without checkpoints; returns the losses."""

    class Losses(Callback):
        def __init__(self) -> None:
            self.values: list[float] = []

        def on_step(self, state: TrainState, loss: float | torch.Tensor, learning_rate: float) -> None:
            self.values.append(loss)

    losses = Losses()
    fit(model, spec, files, num_classes, None, steps, seed=seed, callbacks=(losses,), device=device,
        vertical_matrix=vertical_matrix, numerics=numerics)
    return [float(loss) for loss in losses.values]


@dataclass
class Predictions:
    """A model's output over files, in file order: ids [N], scores and labels [N, C] (CPU float32), and for
    the videos asked for (models with attention only) the attention weights [num_frames, K] and a sketch of
    their frames: the first feature (YouTube-8M's rgb 1024) averaged in 32 groups of equal width, [num_frames, 32]
    (the dashboard draws it where there are no thumbnails; none where the width is not a multiple of 32)."""

    ids: list[str]
    scores: torch.Tensor
    labels: torch.Tensor
    attention: dict[str, torch.Tensor]
    sketches: dict[str, torch.Tensor] = field(default_factory=dict)


@torch.no_grad()
def predict(model: nn.Module, spec: SingleModel, files: list, num_classes: int, batch_size: int = 256,
            device: torch.device | str = "cpu", attention_of: set[str] | None = None,
            cascade: PredictionLookup | None = None, attention_first: int = 0,
            numerics: Numerics = Numerics()) -> Predictions:
    """``model`` in eval mode over ``files`` (a cascade model reads its streams' predictions of the split);
    the attention of the videos ``attention_of`` and of the first ``attention_first`` in file order."""
    from torch.utils.data import DataLoader

    from y8m_models.data.dataset import YT8MDataset

    data = YT8MDataset(files, spec.level, num_classes, batch_size=batch_size,
                       max_frames=getattr(spec.params, "max_frames", 300))
    model.eval()
    ids, predictions, labels, attention, sketches = [], [], [], {}, {}
    for batch in DataLoader(data, batch_size=None, pin_memory=torch.device(device).type == "cuda"):
        inputs = to_device(batch, device)
        SideInputs(cascade=cascade).apply(batch, inputs, device)
        with numerics.autocast(device):
            out = model(inputs)
        before = len(ids)
        ids.extend(batch["video_ids"])
        predictions.append(out.predictions.float().cpu())
        labels.append(inputs["labels"].cpu())
        if (attention_of or attention_first > before) and out.attention is not None:
            for row, vid in enumerate(batch["video_ids"]):
                if before + row < attention_first or vid in (attention_of or ()):
                    n = int(inputs["num_frames"][row])
                    attention[vid] = out.attention[row, :n].float().cpu()
                    first_TD = inputs["features"][row, :n, :batch["feature_sizes"][0]].float().cpu()
                    if n and first_TD.shape[1] % 32 == 0:  # YouTube-8M's rgb 1024: 32 groups of 32
                        sketches[vid] = first_TD.reshape(n, 32, -1).mean(-1)
    return Predictions(ids, torch.cat(predictions), torch.cat(labels), attention, sketches)
