"""Benchmark (not a test): ``train.fit`` as a run calls it, the whole step (reading, ``to_device``, the step,
callbacks, checkpoints), over many short epochs.

For each configuration, with ``num_workers`` 0 and 2, ``fit`` trains ``--steps`` steps from a fresh start on a
small synthetic dataset (``tiny`` generator) whose train1 is a few batches long, so that the run crosses many
epoch boundaries (where a loader without persistent workers starts its processes again). Reported: wall
examples/s of the whole ``fit`` call (best of ``--repeats``) and the epochs it crossed. Each measurement runs
in its own subprocess. To compare two versions of the code, run this file from each checkout on the same
machine, one after the other, with nothing else running (``ROOT`` is this file's checkout).

    python bench/bench_fit.py                        # #2, #3, #18, #25 at tiny, 150 steps
    python bench/bench_fit.py --configs 3 --steps 300 --out /tmp/fit.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from one_process import measure_in_subprocess  # noqa: E402  (this folder, the script's sys.path[0])

OUT = ROOT / "bench" / "results" / "fit.json"
CLASSES = 30


def _one(key: str, data: Path, steps: int, workers: int, repeats: int) -> dict:
    import torch

    from y8m_models.configs import resolve
    from y8m_models.configs.build import build_model
    from y8m_models.data.splits import split_files
    from y8m_models.models import ModelInputs
    from y8m_models.train import fit

    spec = resolve(key, "tiny").model
    files = split_files(data, spec.level)["train1"]
    best, state = float("inf"), None
    for repeat in range(repeats + 1):  # repeat 0: warm-up
        torch.manual_seed(0)
        net = build_model(spec, ModelInputs(CLASSES))
        with tempfile.TemporaryDirectory() as run_dir:
            start = time.perf_counter()
            state = fit(net, spec, files, CLASSES, Path(run_dir), steps, num_workers=workers, checkpoint_every=50)
            seconds = time.perf_counter() - start
        if repeat:
            best = min(best, seconds)
    return {"config": key, "workers": workers, "steps": steps, "batch_size": spec.training.batch_size,
            "epochs": state.epoch, "examples": state.examples, "seconds": best,
            "examples_per_second": state.examples / best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="2,3,18,25")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--videos", type=int, default=400, help="videos in the dataset (train1 is 60% of them)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        key, data, steps, workers, repeats = args.one
        print(json.dumps(_one(key, Path(data), int(steps), int(workers), int(repeats))))
        return

    from y8m_models.data.synthetic import generate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "tiny"
        generate(data, "micro", videos=args.videos, classes=CLASSES, seed=3)
        for key in filter(None, args.configs.split(",")):
            for workers in map(int, args.workers.split(",")):
                row = measure_in_subprocess(__file__, [key, data, args.steps, workers, args.repeats],
                                            f"#{key} workers {workers}")
                if row is None:
                    continue
                rows.append(row)
                print(f"#{key:<4} workers {workers}  {row['steps']} steps of {row['batch_size']} over {row['epochs']} "
                      f"epochs: {row['seconds']:6.2f} s, {row['examples_per_second']:7.1f} examples/s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "root": str(ROOT),
                                    "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
