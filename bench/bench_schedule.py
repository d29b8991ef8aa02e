"""Benchmark (not a test): learning curves per family, validate1 GAP against training seconds, under candidate
training schedules (batch size, learning-rate scale) at a preset. What the small-data schedule of issue 15 is
chosen from (BENCHMARKS.md, "Schedules for small data").

Each (configuration, schedule) trains in this process (2 cores, intra-op threads) for ``--seconds`` of training
wall time; validate1 is scored every ``--every`` seconds of training (scoring time not counted). A schedule is
``BATCHxLR_SCALE``: the configuration's batch size replaced by BATCH (``paper``: the preset's) and its learning
rate multiplied by LR_SCALE.

    python bench/bench_schedule.py --data var/datasets/demo --configs 2,3,25 --schedules 16x1,64x3 --seconds 120
    # results (appended, resumable by key) in bench/results/schedule.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from y8m_models.configs import get_config, resolve  # noqa: E402
from y8m_models.data.splits import split_files  # noqa: E402
from y8m_models.data.vocabulary import resolve_num_classes  # noqa: E402
from y8m_models.metrics import evaluate  # noqa: E402
from y8m_models.models import ModelInputs, build_architecture  # noqa: E402
from y8m_models.train import Callback, TrainState, fit, predict  # noqa: E402

OUT = ROOT / "bench" / "results" / "schedule.json"


class Curve(Callback):
    """Scores validate1 every ``every`` seconds of training; stops after ``seconds`` of training."""

    def __init__(self, net: torch.nn.Module, spec, files: list[Path], classes: int, seconds: float, every: float):
        self.net, self.spec, self.files, self.classes = net, spec, files, classes
        self.seconds, self.every = seconds, every
        self.trained, self.mark, self.next_eval = 0.0, time.perf_counter(), every
        self.points: list[dict] = []
        self.losses: list[float] = []

    def on_step(self, state: TrainState, loss: float, learning_rate: float) -> None:
        now = time.perf_counter()
        self.trained += now - self.mark
        self.losses.append(float(loss))
        if self.trained >= self.next_eval or self.trained >= self.seconds:
            out = predict(self.net, self.spec, self.files, self.classes)
            gap = evaluate(out.scores.numpy(), out.labels.numpy()).gap
            self.points.append({"seconds": round(self.trained, 2), "step": state.step, "examples": state.examples,
                                "gap": gap, "loss": sum(self.losses[-20:]) / len(self.losses[-20:])})
            print(f"    {self.trained:7.1f} s  step {state.step:6d}  validate1 GAP {gap:.4f}", flush=True)
            self.next_eval += self.every
        self.mark = time.perf_counter()

    def should_stop(self, state: TrainState) -> bool:
        return self.trained >= self.seconds


def run(data: Path, number: int, preset: str, schedule: str, seconds: float, every: float,
        changes: dict[str, object]) -> dict:
    batch, scale = schedule.split("x")
    base = resolve(number, preset, False, changes).model
    overrides = {**changes, "model.training.learning_rate": base.training.learning_rate * float(scale)}
    if batch != "paper":
        overrides["model.training.batch_size"] = int(batch)
    spec = resolve(number, preset, False, overrides).model
    parts = split_files(data, spec.level)
    classes = resolve_num_classes(parts["train1"], None)
    torch.manual_seed(0)
    net = build_architecture(spec.architecture, spec.params, ModelInputs(classes))
    curve = Curve(net, spec, parts["validate1"], classes, seconds, every)
    fit(net, spec, parts["train1"], classes, None, 10**9, callbacks=(curve,))
    best = max(curve.points, key=lambda p: p["gap"])
    return {"config": number, "slug": get_config(number).slug, "level": spec.level, "preset": preset,
            "schedule": schedule, "set": changes, "batch_size": spec.training.batch_size,
            "learning_rate": spec.training.learning_rate, "points": curve.points, "best": best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--configs", default="2,3,10,16,18,25")
    parser.add_argument("--schedules", default="paperx1", help="BATCHxLR_SCALE,... (BATCH 'paper': the preset's)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--every", type=float, default=15.0)
    parser.add_argument("--set", action="append", default=[], help="key=value (JSON value): a model override")
    args = parser.parse_args()
    changes = {k: json.loads(v) for k, _, v in (item.partition("=") for item in args.set)}
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    for number in (int(c) for c in args.configs.split(",")):
        for schedule in args.schedules.split(","):
            key = f"{args.data.name}/{args.preset}/#{number}/{schedule}/{args.seconds:g}s"
            key += "".join(f"/{k}={v}" for k, v in changes.items())
            if key in results:
                continue
            print(f"{key}", flush=True)
            results[key] = run(args.data, number, args.preset, schedule, args.seconds, args.every, changes)
            best = results[key]["best"]
            print(f"  best validate1 GAP {best['gap']:.4f} at {best['seconds']:.0f} s (step {best['step']})",
                  flush=True)
            OUT.parent.mkdir(parents=True, exist_ok=True)
            OUT.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
