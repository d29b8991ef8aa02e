"""Benchmark (not a test): the training engine on this machine, per model family at the paper preset.

For one configuration per family (and any given with --configs), on a synthetic dataset in the real format
(the ``demo`` generator: 1024 + 128 features, YouTube-8M-like lengths, 4,716 classes):

* **train, pipeline**: examples/s of a training step that reads its batch as ``fit`` does (the TFRecord
  files through ``YT8MDataset`` and a DataLoader with ``num_workers=0``, the right choice on 2 cores, see
  BENCHMARKS.md: CRC checks, decoding, padding, then ``to_device``'s dequantization);
* **train, in memory**: examples/s of ``train_step`` on a batch already converted to model inputs; the two
  kinds of step alternate on the same model, so the machine's drift hits both alike;
* **loader overhead** = pipeline / in memory (goal >= 0.9 for every frame-level model at the paper preset);
* **predict**: examples/s of ``predict`` over the validate1 files (eval mode, no gradients, batch 64);
* **FLOP/s**: the model FLOPs of one training step (``torch.utils.flop_counter``: forward and backward
  matrix products and convolutions) over its in-memory time, as a fraction of this machine's
  ``torch.matmul`` FLOP/s (float32 2048 x 2048; with ``--device cuda``, bf16 8192 x 8192 as training
  autocasts; best of several, measured before and after every model in the same process). Goal >= 0.5 for
  the LSTM- and MoE-heavy configurations at their paper batch: ``--paper-batch-configs`` adds those rows (the
  paper trains frame models at 128, video models at 1024).

Every configuration runs in its own subprocess. Timings are the best step of ``--steps`` after a warm-up.

    python bench/bench_train.py                       # one config per family, batch 16 (frame) / 256 (video)
    python bench/bench_train.py --configs 3 --frame-batch 128 --steps 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from one_process import measure_in_subprocess  # noqa: E402  (this folder, the script's sys.path[0])

OUT = ROOT / "bench" / "results" / "train.json"  # train-<preset>.json
CLASSES = 4716
# One configuration per family: video chaining, LSTM, parallel LSTM, CNN chaining, LSTM chaining,
# multi-scale CNN-LSTM, temporal segments, multiple attention pooling.
FAMILIES = "2,3,10,18,21,16,13,25"
PAPER_BATCH = {"3": 128, "2": 1024}  # the LSTM-heavy and the MoE-heavy configuration at the paper's batch


def matmul_flops(repeats: int = 5, n: int = 2048, device: str = "cpu") -> float:
    """This process's best matmul FLOP/s on ``device`` (float32 on the CPU; bf16, as training runs, on CUDA)."""
    import torch

    cuda = torch.device(device).type == "cuda"
    n = 8192 if cuda else n
    dtype = torch.bfloat16 if cuda else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        for _ in range(5):
            a @ b
        _sync(device)
        best = max(best, 5 * 2 * n**3 / (time.perf_counter() - start))
    return best


def _sync(device: str) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _one(key: str, data: Path, batch_size: int, steps: int, preset: str, device: str = "cpu") -> dict:
    import torch
    from torch.utils.data import DataLoader
    from torch.utils.flop_counter import FlopCounterMode

    from y8m_models.configs import resolve
    from y8m_models.data.dataset import YT8MDataset, to_device
    from y8m_models.data.splits import split_files
    from y8m_models.models import ModelInputs, build_architecture
    from y8m_models.train import build_optimizer, predict, train_step

    config = resolve(key, preset, overrides={"model.training.batch_size": batch_size})
    batch_size = config.model.training.batch_size  # the tiny preset's 16 wins over the option
    spec = config.model
    files = split_files(data, spec.level)

    def model() -> torch.nn.Module:
        torch.manual_seed(0)
        return build_architecture(spec.architecture, spec.params, ModelInputs(CLASSES)).to(device)

    peak_before = matmul_flops(device=device)

    # The pipeline's steps (read the next batch as fit does, to_device, train_step) alternate with in-memory
    # steps (a batch already converted to model inputs) on the same model: the machine's drift hits both.
    data_set = YT8MDataset(files["train1"], spec.level, CLASSES, batch_size=batch_size, shuffle=True,
                           max_frames=getattr(spec.params, "max_frames", 300))

    def full_batches():
        for epoch in itertools.count():
            data_set.set_epoch(epoch)
            full = [b for b in DataLoader(data_set, batch_size=None) if len(b["video_ids"]) == batch_size]
            if not full:
                raise SystemExit(f"train1 has {data_set.num_records} videos: no full batch of {batch_size}; "
                                 "pass more --videos")
            yield from full

    # The same batches, in the same order, already as model inputs (the step's cost depends on the lengths).
    in_memory_inputs = [to_device(b, device) for b in itertools.islice(full_batches(), steps + 1)]
    reader = full_batches()
    net = model()
    optimizer, scheduler = build_optimizer(net, spec.training)
    pipeline, in_memory = float("inf"), float("inf")
    for step, inputs in enumerate(in_memory_inputs):  # step 0: warm-up
        _sync(device)
        start = time.perf_counter()
        train_step(net, to_device(next(reader), device), spec, optimizer, scheduler)
        _sync(device)
        middle = time.perf_counter()
        train_step(net, inputs, spec, optimizer, scheduler)
        _sync(device)
        if step:
            pipeline, in_memory = min(pipeline, middle - start), min(in_memory, time.perf_counter() - middle)
    with FlopCounterMode(display=False) as counter:
        train_step(net, in_memory_inputs[0], spec, optimizer, scheduler)
    flops = counter.get_total_flops()

    videos = YT8MDataset(files["validate1"], spec.level, CLASSES).num_records
    start = time.perf_counter()
    predict(net, spec, files["validate1"], CLASSES, batch_size=64, device=device)
    _sync(device)
    predict_seconds = time.perf_counter() - start
    peak = max(peak_before, matmul_flops(device=device))
    return {"config": config.name, "preset": preset, "architecture": spec.architecture, "level": spec.level,
            "batch_size": batch_size, "pipeline_examples_per_second": batch_size / pipeline,
            "in_memory_examples_per_second": batch_size / in_memory, "loader_ratio": in_memory / pipeline,
            "predict_examples_per_second": videos / predict_seconds, "step_flops": flops,
            "flops_per_second": flops / in_memory, "matmul_flops_per_second": peak,
            "flops_fraction": flops / in_memory / peak, "device": device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=FAMILIES)
    parser.add_argument("--frame-batch", type=int, default=16)
    parser.add_argument("--video-batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--paper-batch-configs", default=",".join(PAPER_BATCH),
                        help="also run these at the paper's batch (empty: none)")
    parser.add_argument("--videos", type=int, default=1600, help="videos in the generated dataset")
    parser.add_argument("--preset", default="paper", help="paper, small or tiny (the batch options still apply)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (CUDA: bf16 autocast, as training)")
    parser.add_argument("--one", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        key, data, batch, steps, preset, device = args.one
        print(json.dumps(_one(key, Path(data), int(batch), int(steps), preset, device)))
        return

    from y8m_models.configs import resolve
    from y8m_models.data.synthetic import generate

    runs = []
    for key in filter(None, args.configs.split(",")):
        level = resolve(key, "paper").model.level
        runs.append((key, args.frame_batch if level == "frame" else args.video_batch))
    runs += [(key, PAPER_BATCH.get(key, 128)) for key in filter(None, args.paper_batch_configs.split(","))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demo"
        start = time.perf_counter()
        generate(data, preset="demo", videos=args.videos, classes=CLASSES, seed=1)
        print(f"dataset: {args.videos} videos, {CLASSES} classes in {time.perf_counter() - start:.0f} s", flush=True)
        for key, batch in runs:
            row = measure_in_subprocess(__file__, [key, data, batch, args.steps, args.preset, args.device],
                                        f"#{key} batch {batch}")
            if row is None:
                continue
            rows.append(row)
            print(f"{row['config']:<34} batch {row['batch_size']:>4}  "
                  f"train {row['pipeline_examples_per_second']:>7.1f} ex/s "
                  f"(in memory {row['in_memory_examples_per_second']:>7.1f}, loader ratio {row['loader_ratio']:.2f})  "
                  f"predict {row['predict_examples_per_second']:>7.1f} ex/s  "
                  f"{row['flops_per_second'] / 1e9:>6.1f} GFLOP/s = {row['flops_fraction']:.2f} of matmul "
                  f"({row['matmul_flops_per_second'] / 1e9:.0f})", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    out = OUT.with_name(f"train-{args.preset}.json")
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
