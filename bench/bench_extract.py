"""Benchmark (not a test): ``y8m data extract`` on the CPU (issue 21).

Videos of ``--seconds`` seconds (``--width`` x ``--height`` at ``--fps``, moving shapes with a tone, written with
PyAV's mpeg4 and AAC) extracted as YouTube-8M's features: 1 frame per second through Inception-v3 (299 x 299),
0.96 s log-mel patches through VGGish, PCA fitted on them, 8-bit codes, thumbnails. Random weights (none can be
downloaded here): the networks cost the same with any weights. Seconds per video, split into decode (and
thumbnails), image network, audio (decode, log-mel, VGGish), PCA and writing; frames per second of video; the peak
resident memory. Printed and written to JSON.

    python bench/bench_extract.py --videos 3 --seconds 60
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "results" / "extract.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import torch

    from y8m_models.features.extract import ExtractOptions, extract
    from y8m_models.features.sample_video import write_video

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        start = time.perf_counter()
        for n in range(args.videos):
            write_video(root / "videos" / f"v{n}.mp4", args.seconds, fps=args.fps, width=args.width,
                        height=args.height, scene_seconds=5.0 + n)
        written = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (root / "videos").iterdir())
        print(f"wrote {args.videos} videos of {args.seconds:.0f} s ({args.width}x{args.height} at {args.fps} fps, "
              f"{size / 1e6:.1f} MB) in {written:.1f} s", flush=True)
        done = extract([root / "videos"], root / "data", options=ExtractOptions(random_weights=True, rgb_width=64))
    seconds = done.seconds
    per_video = {k: round(v / args.videos, 2) for k, v in seconds.items()}
    frames = done.frames
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    realtime = args.seconds * args.videos / seconds["total"]
    print(f"{frames} frames in {seconds['total']:.1f} s: {seconds['total'] / args.videos:.1f} s per video of "
          f"{args.seconds:.0f} s ({frames / seconds['total']:.2f} frames/s, {realtime:.2f} s of video per s)")
    for stage in ("decode", "image", "audio", "pca", "write"):
        print(f"  {stage:<7} {per_video[stage]:7.2f} s per video  {seconds[stage] / seconds['total']:6.1%}")
    print(f"peak resident memory {peak:.0f} MB (torch threads {torch.get_num_threads()})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
        "videos": args.videos, "seconds_of_video": args.seconds, "size": [args.width, args.height], "fps": args.fps,
        "frames": frames, "seconds": {k: round(v, 2) for k, v in seconds.items()}, "per_video": per_video,
        "frames_per_second": round(frames / seconds["total"], 3), "peak_mb": round(peak)}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
