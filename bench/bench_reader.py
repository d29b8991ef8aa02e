"""Frame-level read throughput: y8m's reader vs the `tfrecord` package, in one run (a benchmark, not a test).

Both sides produce what a model needs from each record: float32 [300, 1152] dequantized, zero-padded
frames, num_frames and multi-hot labels. Ours verifies every CRC; the `tfrecord` package checks none.
Figures are printed and written to bench/results/reader.json; compare ratios, not absolute numbers.

    python bench/bench_reader.py [--videos 2000] [--files 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from y8m_models.data.dataset import YT8MDataset, to_device
from y8m_models.data.records import decode_frame, dequantize
from y8m_models.data.tfrecord import TFRecordFile, build_index
from y8m_models.data.writer import RecordWriter

NUM_CLASSES = 3862
BATCH = 64


def make_files(out: Path, videos: int, files: int, seed: int = 0) -> list[Path]:
    """Frame-level files with YouTube-8M-like lengths (mean ~210 frames, some beyond 300)."""
    rng = np.random.default_rng(seed)
    paths = []
    per_file = videos // files
    for f in range(files):
        path = out / f"train{f:02d}.tfrecord"
        with RecordWriter(path, "frame") as w:
            for k in range(per_file):
                t = int(np.clip(rng.normal(210, 70), 1, 360))
                labels = rng.choice(NUM_CLASSES, size=int(rng.integers(1, 6)), replace=False)
                w.write(f"{f}-{k}", sorted(labels.tolist()),
                        (rng.integers(0, 256, (t, 1024), np.uint8), rng.integers(0, 256, (t, 128), np.uint8)))
        paths.append(path)
    return paths


def tfrecord_package(paths: list[Path], compression: str | None = None, to_float: bool = False) -> int:
    """The `tfrecord` package's sequence_loader, turned into the same arrays per record: padded uint8
    codes [300, 1152] (or float32 dequantized with ``to_float``) and multi-hot labels."""
    from tfrecord.reader import sequence_loader

    n = 0
    for path in paths:
        for context, features in sequence_loader(str(path), None, {"labels": "int"}, {"rgb": "byte", "audio": "byte"},
                                                 compression_type=compression):
            codes = np.zeros((300, 1152), np.uint8)
            lengths = []
            for name, col in (("rgb", 0), ("audio", 1024)):
                frames = features[name][:300]
                if frames:
                    codes[: len(frames), col: col + len(frames[0])] = np.stack([np.frombuffer(x, np.uint8)
                                                                               for x in frames])
                lengths.append(len(frames))
            if to_float:
                x = dequantize(codes)
                x[lengths[0]:, :1024] = 0.0
                x[lengths[1]:, 1024:] = 0.0
            labels = np.zeros(NUM_CLASSES, np.uint8)
            labels[context["labels"]] = 1
            n += 1
    return n


_LOADERS: dict = {}


def ours(paths: list[Path], workers: int = 0, to_float: bool = False, batch_size: int = BATCH) -> int:
    """Our loader's output (uint8 batches, dequantized on the model's device), or with ``to_float``
    the float32 model input computed on the CPU by to_device. With workers, the DataLoader is kept
    between repeats (persistent workers), so the best repeat excludes process start-up."""
    if workers:
        key = (tuple(paths), workers, batch_size)
        if key not in _LOADERS:
            dataset = YT8MDataset(paths, "frame", NUM_CLASSES, batch_size=batch_size)
            _LOADERS[key] = DataLoader(dataset, batch_size=None, num_workers=workers, persistent_workers=True)
        batches = iter(_LOADERS[key])
    else:
        batches = iter(YT8MDataset(paths, "frame", NUM_CLASSES, batch_size=batch_size))
    n = 0
    for batch in batches:
        if to_float:
            to_device(batch)
        n += len(batch["video_ids"])
    return n


def stage(paths: list[Path], decode: bool) -> int:
    """Only the framing (every payload's CRC: the cold read of each record), or with ``decode`` also the
    protobuf walk to zero-copy frame views; no batching."""
    n = 0
    for path in paths:
        file = TFRecordFile(path)
        file.prefetch(0, len(file))
        for i in range(len(file)):
            payload = file.payload(i)
            if decode:
                decode_frame(payload, num_classes=NUM_CLASSES)
            n += 1
    return n


def timed(fn, repeat: int) -> tuple[float, int]:
    """Best records/s over ``repeat`` runs (the file cache is warm after the first)."""
    best, n = 0.0, 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "reader.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="y8m-bench-reader-"))
    os.environ["Y8M_CACHE_DIR"] = str(tmp / "cache")
    try:
        plain = make_files(tmp / "plain", args.videos, args.files)
        gz = []
        for p in plain:
            (tmp / "gzip").mkdir(exist_ok=True)
            target = tmp / "gzip" / (p.name + ".gz")
            with open(p, "rb") as src, gzip.open(target, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst)
            gz.append(target)
        size_mb = sum(p.stat().st_size for p in plain) / 2**20
        t0 = time.perf_counter()
        for p in plain:
            build_index(p, use_cache=False)
        index_s = time.perf_counter() - t0

        results = {}
        cases = {
            "stage_crc_only": lambda: stage(plain, decode=False),
            "stage_crc_decode": lambda: stage(plain, decode=True),
            "tfrecord_package": lambda: tfrecord_package(plain),
            "ours": lambda: ours(plain),
            "ours_batch32": lambda: ours(plain, batch_size=32),
            "ours_batch128": lambda: ours(plain, batch_size=128),
            "ours_2_workers": lambda: ours(plain, workers=2),
            "tfrecord_package_gzip": lambda: tfrecord_package(gz, "gzip"),
            "ours_gzip": lambda: ours(gz),
            "tfrecord_package_float32": lambda: tfrecord_package(plain, to_float=True),
            "ours_float32": lambda: ours(plain, to_float=True),
        }
        for name, fn in cases.items():
            rate, n = timed(fn, args.repeat)
            results[name] = {"records_per_s": round(rate, 1), "records": n}
            print(f"{name:<24} {rate:>10.0f} records/s")
        rate = {k: v["records_per_s"] for k, v in results.items()}
        ratios = {
            "ours_vs_tfrecord": rate["ours"] / rate["tfrecord_package"],
            "ours_gzip_vs_tfrecord_gzip": rate["ours_gzip"] / rate["tfrecord_package_gzip"],
            "ours_float32_vs_tfrecord_float32": rate["ours_float32"] / rate["tfrecord_package_float32"],
            "two_workers_vs_one": rate["ours_2_workers"] / rate["ours"],
        }
        for name, value in ratios.items():
            print(f"{name:<28} {value:.2f}x")
        stages_us = {"crc": 1e6 / rate["stage_crc_only"], "decode": 1e6 / rate["stage_crc_decode"]
                     - 1e6 / rate["stage_crc_only"], "batch_copy_and_rest": 1e6 / rate["ours"]
                     - 1e6 / rate["stage_crc_decode"], "total": 1e6 / rate["ours"]}
        print("us per record: " + ", ".join(f"{k} {v:.1f}" for k, v in stages_us.items()))
        report = {
            "benchmark": "frame-level records to padded uint8 codes [300,1152] + multi-hot labels (the loader output; "
            "dequantized on the model's device), and to float32 on the CPU; CRCs verified by ours only",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
            "data": {"videos": args.videos, "files": args.files, "megabytes": round(size_mb, 1),
                     "mean_frames": 210},
            "index_build_s_per_1000_records": round(index_s / args.videos * 1000, 4),
            "results": results,
            "ratios": {k: round(v, 2) for k, v in ratios.items()},
            "us_per_record": {k: round(v, 1) for k, v in stages_us.items()},
            "goal": "ours_vs_tfrecord >= 8",
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
        print(f"index build: {report['index_build_s_per_1000_records']} s per 1000 records; wrote {args.out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
