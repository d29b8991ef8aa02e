"""Benchmark (not a test): streaming GAP@k of `y8m_models.metrics.Evaluator` vs a plain heap-and-sort.

Synthetic data, generated batch by batch from a seed so that every run sees the same videos and no N x C
array ever exists: ~3 labels per video (class frequencies falling like 1/(c + 20), as the vocabulary is
ordered by frequency), random scores with a boost on positives.

Scores are float64, not float32: uniform float32 has 2^24 levels, so the 4M pooled top-20 scores (all
near 1) would share values by the hundred thousand, the definition would become order dependent and the
two implementations could not be compared to 1e-9. Each implementation runs in its own subprocess, whose
peak resident memory (ru_maxrss) is reported; a third subprocess only generates the data, giving the floor
both share. Times count the metric work only (generation excluded); the baseline's per-row conversion to
Python lists is part of its approach and is counted.

    python bench/bench_gap.py                      # 200,000 videos x 3862 classes, results in bench/results/gap.json
    python bench/bench_gap.py --videos 20000       # quicker
    python bench/bench_gap.py --baseline-videos 50000   # baseline on fewer videos, extrapolated linearly
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere, without installing the package

from y8m_models.metrics import Evaluator  # noqa: E402


def batches(videos: int, classes: int, batch: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (scores [B, C] float64, labels [B, C] bool); batch i depends only on (seed, i)."""
    freq = 1.0 / (np.arange(classes) + 20.0)
    freq *= 3.0 / freq.sum()  # ~3 labels per video on average
    for i, lo in enumerate(range(0, videos, batch)):
        rng = np.random.default_rng([seed, i])
        b = min(batch, videos - lo)
        labels = rng.random((b, classes)) < freq
        scores = rng.random((b, classes))
        scores[labels] += rng.random(int(labels.sum()))  # positives score higher on average
        yield scores, labels


def baseline_gap(data: Iterator[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[float, float]:
    """The definition done plainly: per video heapq.nlargest over the row, one Python list, one sort."""
    pairs: list[tuple[float, bool]] = []
    n_pos, seconds = 0, 0.0
    for scores, labels in data:
        t0 = time.perf_counter()
        for row, lab in zip(scores, labels, strict=True):  # one row at a time as Python objects
            pairs.extend(heapq.nlargest(k, zip(row.tolist(), lab.tolist(), strict=True), key=itemgetter(0)))
        n_pos += int(labels.sum())
        seconds += time.perf_counter() - t0
    t0 = time.perf_counter()
    pairs.sort(key=itemgetter(0), reverse=True)
    found, total = 0, 0.0
    for rank, (_, positive) in enumerate(pairs, start=1):
        if positive:
            found += 1
            total += found / rank
    seconds += time.perf_counter() - t0
    return (total / n_pos if n_pos else 0.0), seconds


def ours_gap(data: Iterator[tuple[np.ndarray, np.ndarray]], k: int, classes: int) -> tuple[dict, float]:
    evaluator = Evaluator(classes, top_k=k)
    seconds = 0.0
    for scores, labels in data:
        t0 = time.perf_counter()
        evaluator.update(scores, labels)
        seconds += time.perf_counter() - t0
    t0 = time.perf_counter()
    result = evaluator.result()
    return result.to_dict(), seconds + time.perf_counter() - t0


def worker(args: argparse.Namespace) -> None:
    """Run one implementation and print one JSON line: its result, metric seconds, wall seconds, peak MB."""
    wall0 = time.perf_counter()
    data = batches(args.videos, args.classes, args.batch, args.seed)
    out: dict = {"videos": args.videos}
    if args.worker == "ours":
        out["result"], out["seconds"] = ours_gap(data, args.top_k, args.classes)
        out["gap"] = out["result"]["gap"]
    elif args.worker == "baseline":
        out["gap"], out["seconds"] = baseline_gap(data, args.top_k)
    else:  # generate only: the floor both implementations share
        for _ in data:
            pass
        out["seconds"] = 0.0
    out["wall_seconds"] = time.perf_counter() - wall0
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps(out))


def run_child(args: argparse.Namespace, which: str, videos: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", which, "--videos", str(videos), "--classes", str(args.classes)]
    cmd += ["--top-k", str(args.top_k), "--batch", str(args.batch), "--seed", str(args.seed)]
    print(f"running {which} on {videos:,} videos ...", flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{which} worker failed (exit {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=200_000)
    parser.add_argument("--baseline-videos", type=int, default=None, help="run the baseline on fewer videos")
    parser.add_argument("--classes", type=int, default=3862)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gap.json")
    parser.add_argument("--worker", choices=["ours", "baseline", "generate"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    n_base = min(args.baseline_videos or args.videos, args.videos)
    floor = run_child(args, "generate", args.videos)
    ours = run_child(args, "ours", args.videos)
    base = run_child(args, "baseline", n_base)
    # With a smaller baseline run, compare GAPs on the same videos (the data is a prefix of the full set).
    ours_same = ours if n_base == args.videos else run_child(args, "ours", n_base)
    scale = args.videos / n_base
    base_seconds = base["seconds"] * scale
    diff = abs(ours_same["gap"] - base["gap"])
    ties = ours["result"]["ties"]
    report = {
        "config": {k: getattr(args, k) for k in ("videos", "classes", "top_k", "batch", "seed")},
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count()},
        "generate_only": floor,
        "ours": ours,
        "baseline": {**base, "seconds_at_full_n": base_seconds, "extrapolated": n_base != args.videos},
        "agreement": {"videos": n_base, "abs_diff": diff, "within_1e-9": diff <= 1e-9},
        "ratio": {
            "seconds": base_seconds / ours["seconds"],
            "peak_mb": base["peak_mb"] / ours["peak_mb"],
            "peak_mb_above_generate_only": (base["peak_mb"] - floor["peak_mb"]) / (ours["peak_mb"] - floor["peak_mb"]),
        },
        "notes": [
            "seconds: metric work only (data generation excluded); peak_mb: the subprocess's ru_maxrss, "
            "which includes the interpreter, numpy and the generated batch (see generate_only)",
            "ours also computes Hit@1, PERR, mAP and the tie bounds in its seconds; the baseline only GAP",
        ],
    }
    if n_base != args.videos:
        report["notes"].append(
            f"baseline ran on the first {n_base:,} videos; its seconds were scaled linearly by {scale:g} "
            "(its peak memory was not: the pooled list grows with N, so the full-N peak is higher)"
        )
    if ties["tied_pairs"] or ties["videos_with_cut_ties"]:
        report["notes"].append(f"the data has ties ({ties}); the two GAPs need not agree")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    rows = [("generate only", floor, 0.0), ("ours", ours, ours["seconds"]), ("baseline", base, base_seconds)]
    print(f"\nGAP@{args.top_k} on {args.videos:,} videos x {args.classes} classes")
    print(f"{'':16}{'metric s':>10}{'peak MB':>10}{'GAP':>22}")
    for name, r, secs in rows:
        gap = f"{r['gap']:.15f}" if "gap" in r else ""
        print(f"{name:16}{secs:10.2f}{r['peak_mb']:10.0f}{gap:>22}")
    print(f"baseline / ours: {report['ratio']['seconds']:.1f}x time, {report['ratio']['peak_mb']:.1f}x peak memory")
    print(f"|GAP difference| on {n_base:,} videos: {diff:.2e}; written to {args.out}")


if __name__ == "__main__":
    main()
