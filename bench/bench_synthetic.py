"""Synthetic dataset: generation time, and how hard it is (a benchmark, not a test).

1. Generation time of the ``tiny`` and ``demo`` presets, and where the demo time goes (planning,
   rendering + quantization, protobuf serialization, measured on a sample of videos).
2. On the demo dataset, two logistic regressions trained on train1 and scored with GAP@20 on validate2:
   - video level: concat(mean_rgb, mean_audio), 1152 -> C;
   - order-aware: [mean of the first half of the frames; mean of the second half], 2304 -> C, from the
     frame-level files (first 300 frames, as the readers keep). It sees order, the means cannot.
   Per-kind mean AP shows where the order-aware model gains (order labels) and where nothing can be
   gained from the means (group labels: only through their members).

Figures are printed and written to bench/results/synthetic.json.

    python bench/bench_synthetic.py [--out DIR] [--videos N] [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from y8m_models import metrics
from y8m_models.data.records import decode_frame, decode_video, dequantize, quantize
from y8m_models.data.synthetic import KINDS, generate, load_config
from y8m_models.data.synthetic_world import plan_video, render_video
from y8m_models.data.tfrecord import TFRecordFile
from y8m_models.data.writer import encode_frame, encode_video

MAX_FRAMES = 300


def gap_at_k(scores: np.ndarray, labels: np.ndarray, k: int = 20) -> float:
    """GAP@k as the competition scores it (y8m_models.metrics)."""
    return metrics.evaluate(scores, labels, top_k=k).gap


def average_precision(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-class AP over all videos (NaN for classes without positives)."""
    order = np.argsort(-scores, axis=0, kind="stable")
    hit = np.take_along_axis(labels, order, 0).astype(np.float64)
    precision = np.cumsum(hit, 0) / np.arange(1, len(hit) + 1)[:, None]
    positives = hit.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (precision * hit).sum(0) / positives


# ---------------------------------------------------------------------------------------------- loading

def _files(dataset: Path, level: str, part: str) -> list[Path]:
    meta = json.loads((dataset / "synthetic.json").read_text())
    return [dataset / level / name for name in meta["splits"][part]["files"]]


def _multi_hot(labels: list[np.ndarray], classes: int) -> np.ndarray:
    y = np.zeros((len(labels), classes), np.float32)
    for i, lab in enumerate(labels):
        y[i, lab] = 1.0
    return y


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)


def video_level(dataset: Path, part: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    xs, labels = [], []
    for path in _files(dataset, "video", part):
        for _, payload in TFRecordFile(path).payloads():
            rec = decode_video(payload)
            xs.append(np.concatenate(rec.features))
            labels.append(rec.labels)
    return _normalize(np.stack(xs)), _multi_hot(labels, classes)


def halves(dataset: Path, part: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """[mean of first half; mean of second half] of the first 300 frames, each half L2-normalised."""
    xs, labels = [], []
    for path in _files(dataset, "frame", part):
        for _, payload in TFRecordFile(path).payloads():
            rec = decode_frame(payload)
            frames = np.concatenate([dequantize(f[:MAX_FRAMES]) for f in rec.features], axis=1)
            mid = max(1, len(frames) // 2)
            first, second = frames[:mid].mean(0), frames[mid:].mean(0) if len(frames) > 1 else frames[0]
            xs.append(np.concatenate([_normalize(first[None])[0], _normalize(second[None])[0]]))
            labels.append(rec.labels)
    return np.stack(xs).astype(np.float32), _multi_hot(labels, classes)


# -------------------------------------------------------------------------------------------- the model

def logistic_regression(train: tuple[np.ndarray, np.ndarray], valid: tuple[np.ndarray, np.ndarray],
                        epochs: int, seed: int = 0) -> tuple[torch.nn.Linear, int]:
    """Sigmoid + BCE + Adam on L2-normalised inputs; keeps the epoch with the best GAP on ``valid``
    (validate1, the paper's early-stopping split). Returns the model and that epoch."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(train[0].shape[1], train[1].shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    xt, yt = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    gen = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch = -1.0, None, 0
    for epoch in range(1, epochs + 1):
        for idx in torch.randperm(len(xt), generator=gen).split(128):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            gap = gap_at_k(model(torch.from_numpy(valid[0])).numpy(), valid[1])
        if gap > best:
            best, best_epoch = gap, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model, best_epoch


def evaluate(model: torch.nn.Linear, x: np.ndarray, y: np.ndarray, kinds: dict[str, list[int]]) -> dict:
    with torch.no_grad():
        scores = torch.sigmoid(model(torch.from_numpy(x))).numpy().astype(np.float64)
    ap = average_precision(scores, y)
    per_kind = {k: round(float(np.nanmean(ap[ids])), 4) for k, ids in kinds.items() if ids}
    return {"gap20": round(gap_at_k(scores, y), 4), "mean_ap_by_kind": per_kind}


def ceiling_gap(true: np.ndarray, written: np.ndarray, classes: int) -> float:
    """GAP@20 of the TRUE labels as scores (random order among them) against the written ones (rows of label
    ids padded with -1, as ground_truth.npz holds them). Dropped labels (incomplete annotation) count as false
    positives, so even a perfect model stays below 1."""
    rng = np.random.default_rng(0)
    scores = rng.random((len(true), classes)) * 0.1
    y = np.zeros((len(true), classes), np.float32)
    for i, (t, w) in enumerate(zip(true, written, strict=True)):
        scores[i, t[t >= 0]] += 1.0
        y[i, w[w >= 0]] = 1.0
    return gap_at_k(scores, y)


# -------------------------------------------------------------------------------------------- the bench

def _time_split(dataset: Path, sample: int) -> dict:
    """Seconds per 1,000 videos of each generation stage, on the first ``sample`` videos."""
    config = load_config(dataset)
    world = config.world()
    t0 = time.perf_counter()
    plans = [plan_video(world, i) for i in range(sample)]
    t1 = time.perf_counter()
    rendered = []
    for p in plans:
        codes = tuple(quantize(x) for x in render_video(world, p))
        means = [dequantize(c).mean(0, dtype=np.float64).astype(np.float32) for c in codes]
        rendered.append((codes, means))
    t2 = time.perf_counter()
    for codes, means in rendered:
        encode_frame("abcd", [1, 2, 3], codes)
        encode_video("abcd", [1, 2, 3], means)
    t3 = time.perf_counter()
    scale = 1000 / sample
    return {"plan_s_per_1k": round((t1 - t0) * scale, 3), "render_quantize_s_per_1k": round((t2 - t1) * scale, 3),
            "protobuf_encode_s_per_1k": round((t3 - t2) * scale, 3),
            "mean_frames": round(float(np.mean([p.num_frames for p in plans])), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="where to write the demo dataset (default: a temporary folder)")
    ap.add_argument("--videos", type=int, help="override the demo preset's video count")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="y8m-synth-"))
    try:
        tiny = generate(tmp / "tiny", "micro", seed=args.seed)
        demo_dir = args.out or tmp / "demo"
        demo = generate(demo_dir, "demo", videos=args.videos, seed=args.seed)
        size_mb = sum(f.stat().st_size for f in demo_dir.rglob("*") if f.is_file()) / 1e6
        print(f"generate tiny: {tiny.seconds:.2f} s ({sum(tiny.videos.values())} videos, {tiny.frames} frames)")
        print(f"generate demo: {demo.seconds:.1f} s ({sum(demo.videos.values())} videos, {demo.classes} classes, "
              f"{demo.frames} frames, {size_mb:.0f} MB)")
        split = _time_split(demo_dir, 500)
        print("demo stages, s per 1k videos:", split)

        meta = json.loads((demo_dir / "synthetic.json").read_text())
        kinds = meta["kinds"]
        c = demo.classes
        results = {}
        for name, loader in (("video_lr", video_level), ("order_aware_halves_lr", halves)):
            t = time.perf_counter()
            train, valid1, valid2 = (loader(demo_dir, part, c) for part in ("train1", "validate1", "validate2"))
            model, epoch = logistic_regression(train, valid1, args.epochs, args.seed)
            results[name] = {**evaluate(model, *valid2, kinds), "best_epoch": epoch}
            results[name]["seconds"] = round(time.perf_counter() - t, 1)
            print(f"{name}: GAP@20 on validate2 = {results[name]['gap20']:.4f}  "
                  f"mean AP by kind {results[name]['mean_ap_by_kind']}  ({results[name]['seconds']} s)")

        with np.load(demo_dir / "ground_truth.npz") as gt:
            in_part = np.isin(gt["file_index"], np.flatnonzero(gt["splits"] == "validate2"))
            true, written = gt["true_labels"][in_part], gt["labels"][in_part]
        results["ceiling_true_labels_gap20"] = round(ceiling_gap(true, written, c), 4)
        print(f"ceiling (true labels as scores): GAP@20 on validate2 = {results['ceiling_true_labels_gap20']:.4f}")

        out = {
            "machine": {"platform": platform.platform(), "python": platform.python_version(),
                        "torch": torch.__version__},
            "tiny": {"seconds": round(tiny.seconds, 3), "videos": sum(tiny.videos.values()), "frames": tiny.frames},
            "demo": {"seconds": round(demo.seconds, 2), "videos": demo.videos, "classes": c, "frames": demo.frames,
                     "megabytes": round(size_mb), "stages": split},
            "label_kinds": {k: len(v) for k, v in kinds.items()},
            "epochs": args.epochs,
            **results,
        }
        assert set(kinds) == set(KINDS)
        path = Path(__file__).parent / "results" / "synthetic.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {path}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
