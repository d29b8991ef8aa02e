"""Benchmark (not a test): ``y8m data convert`` records per second (issue 21).

Videos of ``--frames`` frames with YouTube-8M's widths (rgb 1024 + audio 128, uniform in [-2, 2]) as a folder of
``.npz`` files, a Parquet table (one row per frame) and an HDF5 file, each converted into the YouTube-8M layout;
seconds, videos/s and frames/s per input format, and the peak resident memory of this process. Printed and written
to JSON.

    python bench/bench_convert.py --videos 200 --frames 60
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "results" / "convert.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import h5py
    import pyarrow as pa
    import pyarrow.parquet as pq

    from y8m_models.data.convert import convert

    rng = np.random.default_rng(0)
    videos = {f"v{i:05d}": {"rgb": rng.uniform(-2, 2, (args.frames, 1024)).astype(np.float32),
                            "audio": rng.uniform(-2, 2, (args.frames, 128)).astype(np.float32)}
              for i in range(args.videos)}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        labels = root / "labels.csv"
        labels.write_text("video_id,labels\n" + "".join(f"{v},{i % 50}\n" for i, v in enumerate(videos)))
        (root / "npz").mkdir()
        for video, arrays in videos.items():
            np.savez(root / "npz" / f"{video}.npz", **arrays)
        pq.write_table(pa.table({
            "video_id": [v for v in videos for _ in range(args.frames)],
            "frame": [t for _ in videos for t in range(args.frames)],
            "rgb": [row.tolist() for a in videos.values() for row in a["rgb"]],
            "audio": [row.tolist() for a in videos.values() for row in a["audio"]]}), root / "f.parquet")
        with h5py.File(root / "f.h5", "w") as handle:
            for video, arrays in videos.items():
                group = handle.create_group(video)
                for name, array in arrays.items():
                    group.create_dataset(name, data=array)
        for source, names in ((root / "npz", ["rgb", "audio"]), (root / "f.parquet", ["rgb", "audio"]),
                              (root / "f.h5", ["rgb", "audio"])):
            out = root / f"out-{source.name}"
            start = time.perf_counter()
            done = convert(source, labels, out, names=names)
            seconds = time.perf_counter() - start
            size = sum(p.stat().st_size for p in out.rglob("*.tfrecord"))
            row = {"input": source.suffix or "npz folder", "videos": args.videos, "frames": done.frames,
                   "seconds": round(seconds, 2), "videos_per_second": round(args.videos / seconds, 1),
                   "frames_per_second": round(done.frames / seconds), "output_bytes": size}
            rows.append(row)
            print(f"{row['input']:<12} {seconds:7.2f} s  {row['videos_per_second']:8.1f} videos/s  "
                  f"{row['frames_per_second']:9,} frames/s  {size / 1e6:7.1f} MB written", flush=True)
            shutil.rmtree(out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MB (the inputs held in memory for the run)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows,
                                    "peak_mb": round(peak)}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
