"""The GPU check (issue 17): what a session lent a device runs at once, in one go (``bench/gpu_check.sh``),
and what a CPU dry-runs (``--device cpu --preset small``). Each part runs in its own process (its peak
memory, its CUDA settings, its failure are its own) and writes ``OUT/<part>.json``; ``--report`` joins them
into ``OUT/gpu_check.json`` and prints a table.

* ``precision``: #3 on one batch under ``--precision bf16`` and ``fp32`` (the same weights): the dtypes of the
  head's probabilities and of every ``nn.LSTM``'s input under bf16, the loss of each, and the agreement of the
  gradients (cosine and relative difference of every tensor; the worst reported).
* ``throughput``: for each configuration (#2, #3, #7, #16, #18, #25) at the preset and its batch, reading
  synthetic TFRecords as ``fit`` does: examples/s of whole steps (one synchronisation at the end), the step
  split into loader, forward + loss, backward and optimizer (each synchronised, over other steps), and on CUDA
  the GPU busy fraction and kernel launches per step (``torch.profiler``), host synchronisations per step
  (``torch.cuda.set_sync_debug_mode``) and peak memory.
* ``curves``: #3's training losses over 50 steps in bf16 and in fp32 from the same weights and batches.
* ``determinism``: #3 and #18 under ``--deterministic``: two runs of the same steps and a run stopped halfway
  and resumed from its checkpoint, their weights compared bit for bit.
* ``nproc``: with two GPUs or more, ``y8m train --nproc 2`` against one process; skipped (and said so) else.

    python bench/gpu_check.py --part throughput --device cuda --out bench/results/gpu
    python bench/gpu_check.py --report --out bench/results/gpu
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARTS = ("precision", "throughput", "curves", "determinism", "nproc")
CONFIGS = "2,3,7,16,18,25"
CLASSES = {"paper": 4716, "small": 1000, "tiny": 60}


def _sync(device: str) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _data(args: argparse.Namespace) -> Path:
    """Synthetic YouTube-8M files for the preset (made once per output folder)."""
    from y8m_models.data.synthetic import generate

    data = Path(args.out) / f"data-{args.preset}"
    if not (data / "synthetic.json").exists():
        generate(data, preset="demo", videos=args.videos, classes=CLASSES[args.preset], seed=1)
    return data


def _run(config: str, args: argparse.Namespace, out: Path, **numerics: Any):
    """A run of ``config`` at the preset, at the batch the options give (default: the preset's)."""
    from y8m_models.configs import resolve
    from y8m_models.experiment import create_run
    from y8m_models.numerics import Numerics

    batch = args.frame_batch if resolve(config, args.preset).model.level == "frame" else args.video_batch
    resolved = resolve(config, args.preset, overrides={"model.training.batch_size": batch} if batch else None)
    return create_run(resolved, _data(args), out, preset=args.preset, steps=args.steps,
                      numerics=Numerics(**numerics))


def _batches(run, device: str, workers: int):
    """Model inputs from the run's train1 files, as ``fit`` reads them, across epochs."""
    import itertools

    from torch.utils.data import DataLoader

    from y8m_models.data.dataset import YT8MDataset, device_batches

    spec = run.model
    data = YT8MDataset(run.files("train1"), spec.level, run.num_classes, batch_size=spec.training.batch_size,
                       shuffle=True, max_frames=getattr(spec.params, "max_frames", 300))
    if data.num_records < spec.training.batch_size:
        raise SystemExit(f"{run.config.name}: train1 has {data.num_records} videos, fewer than a batch of "
                         f"{spec.training.batch_size}: pass more --videos or a smaller batch")
    loader = DataLoader(data, batch_size=None, num_workers=workers, persistent_workers=workers > 0,
                        pin_memory=device.startswith("cuda"))
    for _ in itertools.count():  # each pass reads the next epoch
        for batch, inputs in device_batches(loader, device):
            if len(batch["video_ids"]) == spec.training.batch_size:
                yield inputs


# ------------------------------------------------------------------------------------------------ parts

def precision(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from torch import nn

    from y8m_models.losses import model_loss
    from y8m_models.numerics import Numerics

    run = _run("3", args, Path(args.out) / "precision-run")
    inputs = next(_batches(run, args.device, 0))
    result: dict[str, Any] = {"config": run.config.name, "batch": run.model.training.batch_size}
    grads = {}
    for name in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = run.build(run.model_inputs()).to(args.device)
        seen: list[str] = []
        for module in model.modules():
            if isinstance(module, nn.LSTM):
                module.register_forward_hook(lambda _m, a, _o, s=seen: s.append(str(a[0].data.dtype)))
        with Numerics(name).autocast(args.device):
            out = model(inputs)
            loss = model_loss(out, inputs["labels"], run.model.loss)
        loss.backward()
        grads[name] = {n: p.grad.float() for n, p in model.named_parameters() if p.grad is not None}
        result[name] = {"loss": float(loss.detach()), "predictions_dtype": str(out.predictions.dtype),
                        "lstm_input_dtypes": sorted(set(seen))}
    worst = None
    for n, g32 in grads["fp32"].items():
        g16 = grads["bf16"][n]
        cosine = float(torch.nn.functional.cosine_similarity(g32.flatten(), g16.flatten(), dim=0))
        relative = float((g16 - g32).norm() / g32.norm().clamp(min=1e-30))
        if worst is None or cosine < worst["cosine"]:
            worst = {"tensor": n, "cosine": cosine, "relative_difference": relative}
    result["worst_gradient"] = worst
    return result


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from y8m_models.losses import model_loss
    from y8m_models.numerics import Numerics
    from y8m_models.train import build_optimizer, clip_per_tensor, train_step

    rows = []
    cuda = args.device.startswith("cuda")
    for config in args.configs.split(","):
        run = _run(config, args, Path(args.out) / f"throughput-{config}")
        spec, numerics = run.model, Numerics()
        torch.manual_seed(0)
        model = run.build(run.model_inputs()).to(args.device)
        optimizer, scheduler = build_optimizer(model, spec.training)
        batches = _batches(run, args.device, args.workers)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        for _ in range(2):  # warm-up: allocations, cuDNN's choices
            train_step(model, next(batches), spec, optimizer, scheduler, numerics=numerics)
        _sync(args.device)
        start = time.perf_counter()
        for _ in range(args.steps):
            train_step(model, next(batches), spec, optimizer, scheduler, numerics=numerics)
        _sync(args.device)
        step_seconds = (time.perf_counter() - start) / args.steps
        phases = dict.fromkeys(("loader", "forward", "backward", "optimizer"), 0.0)
        for _ in range(args.steps):
            marks = [time.perf_counter()]
            inputs = next(batches)
            _sync(args.device)
            marks.append(time.perf_counter())
            with numerics.autocast(args.device):
                loss = model_loss(model(inputs), inputs["labels"], spec.loss)
            _sync(args.device)
            marks.append(time.perf_counter())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            _sync(args.device)
            marks.append(time.perf_counter())
            clip_per_tensor(model, spec.training.clip_norm)
            optimizer.step()
            scheduler.step()
            _sync(args.device)
            marks.append(time.perf_counter())
            for name, a, b in zip(phases, marks, marks[1:], strict=False):
                phases[name] += (b - a) / args.steps
        row = {"config": run.config.name, "batch": spec.training.batch_size, "step_seconds": step_seconds,
               "examples_per_second": spec.training.batch_size / step_seconds,
               "phases_seconds": phases, "parameters": sum(p.numel() for p in model.parameters())}
        if cuda:
            row["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
            row.update(_profile(model, batches, spec, optimizer, scheduler, numerics, args, run))
        else:
            row["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append(row)
        print(f"  {row['config']:<34} batch {row['batch']:>4}  {row['examples_per_second']:>9.1f} ex/s", flush=True)
        del model, optimizer
    return {"rows": rows}


def _profile(model, batches, spec, optimizer, scheduler, numerics, args, run) -> dict[str, Any]:
    """GPU busy fraction and kernels per step over 3 profiled steps; host synchronisations per step, of
    ``train_step`` alone and of ``fit``'s whole loop (reading, prefetching, the step, the loss kept on the
    device; no checkpoints, no evaluation; steps 3-12: after the start's one-off waits). Last in its row: ``fit``
    trains the model on (and resets its seed and output biases)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from y8m_models.train import Callback, fit, train_step

    steps = 3
    inputs = [next(batches) for _ in range(steps)]
    _sync(args.device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        for x in inputs:
            train_step(model, x, spec, optimizer, scheduler, numerics=numerics)
        _sync(args.device)
        wall = time.perf_counter() - start
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy = sum(e.time_range.elapsed_us() for e in kernels) / 1e6  # s (overlapping kernels counted twice)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(steps):
                train_step(model, next(batches), spec, optimizer, scheduler, numerics=numerics)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = sum("synchronizing" in str(w.message) for w in caught)
    # Counted from the end of step 2: the start's one-off waits (the label prior, the loader's start, the first
    # step) left out.
    class Watch(Callback):
        def on_step(self, state, loss, learning_rate) -> None:
            if state.step == 2:
                torch.cuda.set_sync_debug_mode("warn")

    fit_steps = 12
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit(model, spec, run.files("train1"), run.num_classes, None, fit_steps, device=args.device,
                numerics=numerics, num_workers=args.workers, callbacks=(Watch(),))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    fit_syncs = [f"{w.filename}:{w.lineno}" for w in caught if "synchronizing" in str(w.message)]
    return {"gpu_busy_fraction": busy / wall, "kernels_per_step": len(kernels) / steps,
            "host_syncs_per_step": syncs / steps, "fit_host_syncs_per_step": len(fit_syncs) / (fit_steps - 2),
            "fit_host_syncs_where": sorted(set(fit_syncs))}


def curves(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from y8m_models.numerics import Numerics
    from y8m_models.train import train_steps

    run = _run("3", args, Path(args.out) / "curves-run")
    losses = {}
    for name in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = run.build(run.model_inputs()).to(args.device)
        losses[name] = train_steps(model, run.model, run.files("train1"), run.num_classes, args.curve_steps,
                                   device=args.device, numerics=Numerics(name))
    gaps = [abs(a - b) / max(abs(a), 1e-12) for a, b in zip(losses["fp32"], losses["bf16"], strict=True)]
    return {"config": run.config.name, "steps": args.curve_steps, "losses": losses,
            "max_relative_difference": max(gaps), "mean_relative_difference": sum(gaps) / len(gaps)}


def determinism(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from y8m_models.experiment import open_run, train_run
    from y8m_models.train import CHECKPOINT, Callback

    class StopAt(Callback):
        def __init__(self, step: int):
            self.step = step

        def should_stop(self, state) -> bool:
            return state.step == self.step

    result = {}
    for config in ("3", "18"):
        weights = []
        for name in ("first", "second", "resumed"):
            run = _run(config, args, Path(args.out) / f"determinism-{config}-{name}", deterministic=True)
            if name == "resumed":
                train_run(run, device=args.device, eval_every=10**6, callbacks=(StopAt(args.steps // 2),))
                run = open_run(run.dir)
            train_run(run, resume=name == "resumed", device=args.device, eval_every=10**6)
            weights.append(torch.load(run.dir / CHECKPOINT, map_location="cpu", weights_only=True)["model"])
        same = {other: all(torch.equal(weights[0][k], weights[i][k]) for k in weights[0])
                for i, other in ((1, "second_run"), (2, "resumed_run"))}
        result[config] = {"steps": args.steps, "bit_for_bit": same}
    return result


def nproc(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    if not args.device.startswith("cuda") or torch.cuda.device_count() < 2:
        return {"skipped": f"{torch.cuda.device_count()} CUDA device(s): --nproc 2 needs two"}
    from y8m_models.cli.torchrun import launch

    out = {}
    for processes in (1, 2):  # torchrun both times: the same start-up in each figure
        run = _run("3", args, Path(args.out) / f"nproc-{processes}")
        started = time.perf_counter()
        code = launch(run.dir, processes, device="cuda", resume=False, eval_every=10**6, checkpoint_every=10**6,
                      num_workers=args.workers, compile=False)
        out[str(processes)] = {"returncode": code, "seconds": time.perf_counter() - started, "steps": args.steps}
    return out


# ---------------------------------------------------------------------------------------------- report

def report(out: Path) -> dict[str, Any]:
    import torch

    joined: dict[str, Any] = {"machine": platform.node(), "torch": torch.__version__,
                              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    for part in PARTS:
        path = out / f"{part}.json"
        joined[part] = json.loads(path.read_text()) if path.exists() else {"missing": f"no {path.name}"}
    (out / "gpu_check.json").write_text(json.dumps(joined, indent=1))
    print(f"GPU check on {joined['gpu'] or 'the CPU'} (torch {joined['torch']}); {out / 'gpu_check.json'}")
    p = joined["precision"]
    if "fp32" in p:
        print(f"precision  #3 loss fp32 {p['fp32']['loss']:.5f} bf16 {p['bf16']['loss']:.5f}; bf16 predictions "
              f"{p['bf16']['predictions_dtype']}, LSTM inputs {p['bf16']['lstm_input_dtypes']}; worst gradient "
              f"{p['worst_gradient']['tensor']} cosine {p['worst_gradient']['cosine']:.4f}")
    for row in joined["throughput"].get("rows", []):
        split = " ".join(f"{k} {v * 1e3:.1f}" for k, v in row["phases_seconds"].items())
        gpu = (f" busy {row['gpu_busy_fraction']:.2f} kernels {row['kernels_per_step']:.0f} syncs "
               f"{row['host_syncs_per_step']:.1f}" if "gpu_busy_fraction" in row else "")
        print(f"throughput {row['config']:<32} batch {row['batch']:>4} {row['examples_per_second']:>9.1f} ex/s "
              f"(ms: {split}) peak {row['peak_memory_mb']:.0f} MB{gpu}")
    c = joined["curves"]
    if "losses" in c:
        print(f"curves     #3 {c['steps']} steps: fp32 {c['losses']['fp32'][-1]:.4f} "
              f"bf16 {c['losses']['bf16'][-1]:.4f} at the end; relative difference max "
              f"{c['max_relative_difference']:.3f} mean {c['mean_relative_difference']:.3f}")
    for config, d in joined["determinism"].items():
        if isinstance(d, dict) and "bit_for_bit" in d:
            print(f"determinism #{config} {d['steps']} steps: {d['bit_for_bit']}")
    print(f"nproc      {joined['nproc']}")
    for part in PARTS:
        if "error" in joined[part]:
            print(f"{part}: FAILED {joined[part]['error']}")
    return joined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=PARTS)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--preset", default="paper", choices=tuple(CLASSES))
    parser.add_argument("--configs", default=CONFIGS)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration; determinism's steps")
    parser.add_argument("--curve-steps", type=int, default=50)
    parser.add_argument("--videos", type=int, default=2000, help="videos in the synthetic dataset")
    parser.add_argument("--frame-batch", type=int, default=None, help="default: the preset's (paper: 128)")
    parser.add_argument("--video-batch", type=int, default=None, help="default: the preset's (paper: 1024)")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers in the throughput part")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "gpu"))
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.report:
        report(Path(args.out))
        return
    if args.part is None:
        parser.error("--part or --report")
    started = time.perf_counter()
    try:
        result = globals()[args.part](args)
    except Exception as exc:  # recorded, and the next part goes on
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result = {**result, "device": args.device, "preset": args.preset, "seconds": time.perf_counter() - started}
    (Path(args.out) / f"{args.part}.json").write_text(json.dumps(result, indent=1))
    print(f"{args.part}: {result['seconds']:.0f} s{' FAILED ' + result['error'] if 'error' in result else ''}",
          flush=True)


if __name__ == "__main__":
    main()
