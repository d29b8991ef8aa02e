"""Benchmark (not a test): forward + backward examples/s, prediction examples/s and peak memory of every single
model (#1-#27, #81-#88 and the Table 2 baselines) at the tiny and the paper preset, on this machine's CPU (or a GPU
with --device cuda, under the training's precision policy: bf16 autocast, ``y8m_models/numerics.py``).

Each (configuration, preset) runs in its own subprocess so that its peak resident memory (ru_maxrss, CPU)
or peak CUDA memory is its own; the subprocess's memory after importing torch and building the model is
reported too, so "peak - built" is what the training step adds (activations, gradients, Adam state).
One step = forward, ``model_loss``, backward, per-tensor clipping and an Adam step on a synthetic batch
(random features, videos from full length down to one frame, random labels). Prediction = the forward in eval mode
without gradients, as ``train.predict`` runs it, on a batch of ``--predict-batch``.

    python bench/bench_models.py                         # tiny (batch 16, 60 classes) and paper (batch 8, 4716)
    python bench/bench_models.py --presets tiny --configs 3,25
    python bench/bench_models.py --device cuda --paper-batch 128   # on a GPU: the paper's batch
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from one_process import measure_in_subprocess  # noqa: E402  (this folder, the script's sys.path[0])

OUT = ROOT / "bench" / "results" / "models.json"


def _one(slug: str, preset: str, batch_size: int, num_classes: int, steps: int, device: str,
         predict_batch: int) -> dict:
    import torch

    from y8m_models.configs import resolve
    from y8m_models.configs.build import build_model
    from y8m_models.configs.check import random_vertical_matrix, synthetic_batch
    from y8m_models.losses import model_loss
    from y8m_models.models import ModelInputs
    from y8m_models.numerics import Numerics
    from y8m_models.train import build_optimizer, clip_per_tensor

    torch.manual_seed(0)
    model = resolve(slug, preset).model
    inputs = ModelInputs(num_classes, (1024, 128), random_vertical_matrix(num_classes).to(device))
    net = build_model(model, inputs).to(device)  # with its Context Gating, where it has one
    frames = getattr(model.params, "max_frames", 1)
    host = synthetic_batch(model.level, inputs, batch_size, frames)
    batch = {k: v.to(device) for k, v in host.items()}
    if "num_frames" in host:  # as to_device keeps it: the LSTMs pack from it without waiting for the GPU
        batch["num_frames_host"] = host["num_frames"].numpy()
    optimizer, scheduler = build_optimizer(net, model.training)
    built_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    def step() -> None:
        with Numerics().autocast(device):  # as training runs: bf16 autocast on CUDA (numerics.py)
            out = net(batch)
            loss = model_loss(out, batch["labels"], model.loss, vertical_matrix_CV=inputs.vertical_matrix)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_per_tensor(net, model.training.clip_norm)
        optimizer.step()
        scheduler.step()

    net.train()
    step()  # warm-up: allocations, autotuning
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    peak_mb = (torch.cuda.max_memory_allocated() / 2**20 if cuda
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    # prediction as train.predict runs it: eval mode, no gradients, the same autocast; a batch of predict_batch
    host = synthetic_batch(model.level, inputs, predict_batch, frames)
    batch = {k: v.to(device) for k, v in host.items()}
    if "num_frames" in host:
        batch["num_frames_host"] = host["num_frames"].numpy()
    net.eval()

    def forward() -> None:
        with torch.no_grad(), Numerics().autocast(device):
            net(batch).predictions.float().cpu()

    forward()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        forward()
    predict_seconds = (time.perf_counter() - start) / steps
    return {"slug": slug, "preset": preset, "architecture": model.architecture, "batch_size": batch_size,
            "frames": frames, "num_classes": num_classes, "parameters": sum(p.numel() for p in net.parameters()),
            "step_seconds": seconds, "examples_per_second": batch_size / seconds, "built_mb": built_mb,
            "peak_mb": peak_mb, "predict_batch": predict_batch,
            "predict_examples_per_second": predict_batch / predict_seconds, "device": device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="tiny,paper")
    parser.add_argument("--configs", default=None, help="numbers or slugs (default: #1-#27, #81-#88, the baselines)")
    parser.add_argument("--out", type=Path, default=OUT, help="the JSON to write")
    parser.add_argument("--paper-batch", type=int, default=8)
    parser.add_argument("--predict-batch", type=int, default=32, help="the batch of the prediction timing")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        slug, preset, batch, classes, steps, device, predict_batch = args.one
        print(json.dumps(_one(slug, preset, int(batch), int(classes), int(steps), device, int(predict_batch))))
        return

    from y8m_models.configs import all_configurations, get_config

    if args.configs:
        slugs = [get_config(k).slug for k in args.configs.split(",")]
    else:
        slugs = [c.slug for c in all_configurations(baselines=True) if c.model is not None and
                 (c.number is None or c.number <= 27 or c.section == "B")]
    rows = []
    for preset in args.presets.split(","):
        batch, classes, steps = (16, 60, 10) if preset == "tiny" else (args.paper_batch, 4716, 3)
        for slug in slugs:
            row = measure_in_subprocess(__file__, [slug, preset, batch, classes, steps, args.device,
                                                   args.predict_batch],
                                        f"{preset:<6} {slug:<42}")
            if row is None:
                continue
            rows.append(row)
            print(f"{preset:<6} {slug:<42} {row['parameters'] / 1e6:>8.2f} M params  "
                  f"{row['examples_per_second']:>9.1f} ex/s  predict {row['predict_examples_per_second']:>9.1f} ex/s"
                  f"  peak {row['peak_mb']:>7.0f} MB "
                  f"(built {row['built_mb']:>6.0f} MB)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
