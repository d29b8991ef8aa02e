"""Benchmark (not a test): stacking at the paper's scale, read from the sparse prediction store.

1. **Throughput and memory**: 74 members x 3,862 classes x 100,000 videos stored as top-20 (int32 indices +
   float16 scores, memory-mapped; 74 x 100k dense float16 would be 57 GB), read per batch of 1,024 by
   ``StoreStackData`` and trained as #77's class-wise and #79's attention weighted stacking (K = 16, D = 4).
   Reports training examples/s and the process's peak resident memory.
2. **Bytes per video per member**: dense float16 vs top-k, from the files written.
3. **The GAP cost of top-k**: 8 members x 3,862 classes x 12,000 videos (8,000 train2, 4,000 validate2),
   stacked class-wise from dense stores and from top-20 and top-100 stores: validate2 GAP of each.

Member predictions are synthetic: each member ranks a video's true labels high with its own skill, other
classes get noise; in the top-k form the k best classes of that score vector are kept.

    python bench/bench_stacking.py                      # the full sizes (about 3 GB on disk, ~10 GB RAM)
    python bench/bench_stacking.py --videos 20000 --steps 3
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "results" / "stacking.json"
CLASSES = 3862


def _labels(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    """[n, 3] label classes per video (YouTube-8M averages ~3), frequent classes more often."""
    weights = 1.0 / np.arange(1, classes + 1) ** 0.8
    return rng.choice(classes, size=(n, 3), p=weights / weights.sum())


def _scores(rng: np.random.Generator, labels: np.ndarray, classes: int, skill: float) -> np.ndarray:
    """A member's dense scores [n, C]: noise, with each true label lifted by ``skill`` (plus noise)."""
    s = rng.random((len(labels), classes), dtype=np.float32) ** 4  # most classes low, some high by chance
    rows = np.arange(len(labels))[:, None]
    s[rows, labels] = np.clip(s[rows, labels] + skill * rng.random(labels.shape, dtype=np.float32), 0, 1)
    return s


def write_top_k(folder: Path, ids: list[str], indices: np.ndarray, scores: np.ndarray, classes: int) -> None:
    """A top-k split in the store's format (``store.py``), written directly (no per-row sorting needed here)."""
    folder.mkdir(parents=True)
    (folder / "ids.txt").write_text("".join(f"{v}\n" for v in ids))
    indices.astype(np.int32).tofile(folder / "indices.i32")
    scores.astype(np.float16).tofile(folder / "scores.f16")
    (folder / "meta.json").write_text(json.dumps({"version": 1, "format": "topk", "rows": len(ids),
                                                  "num_classes": classes, "k": indices.shape[1]}))


def _sparse_members(tmp: Path, members: int, videos: int, k: int, labels: np.ndarray) -> list[Path]:
    """Top-k stores built directly: a member's k classes are the true labels it finds plus random ones."""
    folders = []
    ids = [f"v{i}" for i in range(videos)]
    for m in range(members):
        rng = np.random.default_rng(m)
        found = rng.random(labels.shape) < 0.3 + 0.6 * rng.random()
        indices = rng.integers(0, CLASSES, (videos, k))
        indices[:, :3] = np.where(found, labels, indices[:, :3])
        scores = np.sort(rng.random((videos, k), dtype=np.float32), axis=1)[:, ::-1]
        folders.append(tmp / f"m{m}")
        write_top_k(folders[-1], ids, indices, scores, CLASSES)
    return folders


def throughput(args: argparse.Namespace, tmp: Path) -> list[dict]:

    from y8m_models.configs import resolve
    from y8m_models.ensemble.stacking import StoreStackData, build_stack
    from y8m_models.losses import cross_entropy
    from y8m_models.store import read_predictions
    from y8m_models.train import build_optimizer, clip_per_tensor

    rng = np.random.default_rng(0)
    labels = _labels(rng, args.videos, CLASSES)
    start = time.perf_counter()
    stored = [read_predictions(f) for f in _sparse_members(tmp, args.members, args.videos, 20, labels)]
    print(f"wrote {args.members} top-20 stores of {args.videos} videos in {time.perf_counter() - start:.0f} s",
          flush=True)
    y = np.zeros((args.videos, CLASSES), np.uint8)
    y[np.arange(args.videos)[:, None], labels] = 1
    x = rng.standard_normal((args.videos, 1152), dtype=np.float32)
    rows = np.tile(np.arange(args.videos), (args.members, 1))
    rows_out = []
    for number in (77, 79):
        combiner = resolve(number, "paper").ensemble.combiner
        data = StoreStackData(stored, rows, x if combiner.kind == "attention" else x[:, :1], y)
        stack = build_stack(combiner, args.members, CLASSES, data.shape[3])
        optimizer, scheduler = build_optimizer(stack, combiner.training)
        times, read = [], []
        batches = data.batches(combiner.training.batch_size)
        for _ in range(args.steps + 1):
            t0 = time.perf_counter()
            batch = next(batches)
            t1 = time.perf_counter()
            loss = cross_entropy(stack(batch.P_BMC, batch.x_BD), batch.labels_BC)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_per_tensor(stack, combiner.training.clip_norm)
            optimizer.step()
            scheduler.step()
            times.append(time.perf_counter() - t0)
            read.append(t1 - t0)
        step = min(times[1:])
        row = {"config": f"#{number}", "combiner": combiner.kind, "members": args.members, "classes": CLASSES,
               "videos": args.videos, "batch_size": combiner.training.batch_size,
               "examples_per_second": combiner.training.batch_size / step,
               "read_share": read[times.index(step)] / step,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        rows_out.append(row)
        print(f"#{number} {combiner.kind:<10} {row['examples_per_second']:>7.0f} examples/s (reading the store: "
              f"{row['read_share']:.0%} of a step), peak RSS so far {row['peak_rss_mb']:.0f} MB", flush=True)
    return rows_out


def top_k_cost(tmp: Path, videos: int = 12_000, members: int = 8) -> dict:
    from y8m_models.configs import resolve
    from y8m_models.ensemble.stacking import StoreStackData, build_stack, fit_stack
    from y8m_models.store import PredictionWriter, read_predictions

    rng = np.random.default_rng(1)
    labels = _labels(rng, videos, CLASSES)
    y = np.zeros((videos, CLASSES), np.uint8)
    y[np.arange(videos)[:, None], labels] = 1
    ids = [f"v{i}" for i in range(videos)]
    formats = {"dense": None, "top100": 100, "top20": 20}
    stores = {name: [] for name in formats}
    for m in range(members):
        scores = _scores(np.random.default_rng(100 + m), labels, CLASSES, skill=0.6 + 0.05 * m)
        for name, k in formats.items():
            folder = tmp / f"cost-{name}-{m}"
            with PredictionWriter(folder, CLASSES, k) as writer:
                for lo in range(0, videos, 2000):
                    writer.add(ids[lo:lo + 2000], scores[lo:lo + 2000])
            stores[name].append(read_predictions(folder))
    out = {}
    train, validate = np.arange(0, 8000), np.arange(8000, videos)
    combiner = resolve(77, "paper").ensemble.combiner.model_copy(
        update={"training": resolve(77, "paper").ensemble.combiner.training.model_copy(update={"epochs": 10})})
    for name, stored in stores.items():
        size = sum(f.stat().st_size for s in stored for f in s.folder.iterdir())
        data = {part: StoreStackData(stored, np.tile(rows, (members, 1)), np.zeros((len(rows), 1), np.float32),
                                     y[rows]) for part, rows in (("train", train), ("validate", validate))}
        stack = build_stack(combiner, members, CLASSES, 1)
        result = fit_stack(stack, combiner, data["train"], data["validate"], eval_every=20)
        out[name] = {"bytes_per_video_per_member": size / videos / members, "validate2_gap": result.best_gap}
        print(f"{name:<7} {out[name]['bytes_per_video_per_member']:>9.0f} bytes per video per member, "
              f"class-wise stacked GAP {result.best_gap:.4f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=74)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    rows = []
    if not args.skip_throughput:
        with tempfile.TemporaryDirectory() as tmp:
            rows = throughput(args, Path(tmp))
    cost = {}
    if not args.skip_cost:
        with tempfile.TemporaryDirectory() as tmp:
            cost = top_k_cost(Path(tmp))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "throughput": rows,
                               "top_k_cost": cost}, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
