"""Benchmark (not a test): the oracles of a synthetic dataset, for the `paper` preset of issue 15: how much each
of the paper's mechanisms is worth on it, measured with logistic regressions that are given the mechanism (and
the ground truth, which the generator keeps).

- ``video_lr``: [mean_rgb; mean_audio] as the video-level files hold them (what a video-level model sees).
- ``content_lr``: the same means over the informative frames only (ground truth: filler removed): what ignoring
  filler frames (attention pooling, Table 7) is worth at most to a mean.
- ``halves_lr``: [mean of the first half; mean of the second half] of the frames: sees order (order-defined
  label pairs, the frame models' advantage, Tables 2-7), scored on the order labels.
- ``rgb_lr`` / ``audio_lr``: one stream's means alone, scored on the audio-only labels (Table 4's case).
- the share of filler frames, the share of true labels dropped from the written ones (Table 11's case), and the
  ceiling (the true labels as scores against the written ones).

GAP@20 and per-kind mean AP on validate2; regressions trained on train1 (best epoch on validate1).

    python bench/bench_paper_data.py --data /tmp/paper0      # y8m data synth /tmp/paper0 --preset paper
    # results in bench/results/paper_data.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_synthetic import (  # noqa: E402
    MAX_FRAMES,
    _files,
    _multi_hot,
    _normalize,
    ceiling_gap,
    evaluate,
    logistic_regression,
)

from y8m_models.data.records import decode_frame, dequantize  # noqa: E402
from y8m_models.data.tfrecord import TFRecordFile  # noqa: E402

OUT = Path(__file__).parent / "results" / "paper_data.json"


def features(dataset: Path, part: str, classes: int, informative: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per video of ``part``: every representation the oracles read, and the labels."""
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("video", "content", "halves", "rgb", "audio")}
    labels = []
    for path in _files(dataset, "frame", part):
        for _, payload in TFRecordFile(path).payloads():
            rec = decode_frame(payload)
            rgb, audio = (dequantize(f[:MAX_FRAMES]) for f in rec.features)
            frames = np.concatenate([rgb, audio], axis=1)
            keep = informative[rec.video_id][: len(frames)]
            content = frames[keep] if keep.any() else frames
            mid = max(1, len(frames) // 2)
            second = frames[mid:] if len(frames) > 1 else frames
            rows["video"].append(_normalize(frames.mean(0)[None])[0])
            rows["content"].append(_normalize(content.mean(0)[None])[0])
            rows["halves"].append(np.concatenate([_normalize(frames[:mid].mean(0)[None])[0],
                                                  _normalize(second.mean(0)[None])[0]]))
            rows["rgb"].append(_normalize(rgb.mean(0)[None])[0])
            rows["audio"].append(_normalize(audio.mean(0)[None])[0])
            labels.append(rec.labels)
    out = {k: np.stack(v).astype(np.float32) for k, v in rows.items()}
    out["labels"] = _multi_hot(labels, classes)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    meta = json.loads((args.data / "synthetic.json").read_text())
    classes, kinds = meta["classes"], meta["kinds"]
    with np.load(args.data / "ground_truth.npz") as gt:
        informative = {vid: ~u for vid, u in zip(gt["ids"], gt["uninformative"], strict=True)}
        frames = np.minimum(gt["num_frames"], MAX_FRAMES)
        uninformative = sum(int(u[:n].sum()) for u, n in zip(gt["uninformative"], frames, strict=True))
        true, written = gt["true_labels"], gt["labels"]
        dropped = 1 - (written >= 0).sum() / (true >= 0).sum()
        in_v2 = np.isin(gt["file_index"], np.flatnonzero(gt["splits"] == "validate2"))
        true_v2, written_v2 = true[in_v2], written[in_v2]
    start = time.perf_counter()
    parts = {part: features(args.data, part, classes, informative) for part in ("train1", "validate1", "validate2")}
    print(f"read the frames of train1, validate1, validate2: {time.perf_counter() - start:.1f} s")
    results: dict = {"data": str(args.data), "preset": meta["preset"], "seed": meta["seed"], "classes": classes,
                     "videos": meta["videos"], "label_kinds": {k: len(v) for k, v in kinds.items()},
                     "filler_share": round(uninformative / int(frames.sum()), 4),
                     "dropped_label_share": round(float(dropped), 4)}
    for name in ("video", "content", "halves", "rgb", "audio"):
        train, valid1, valid2 = ((p[name], p["labels"]) for p in parts.values())
        model, epoch = logistic_regression(train, valid1, args.epochs)
        results[f"{name}_lr"] = {**evaluate(model, *valid2, kinds), "best_epoch": epoch}
        print(f"{name}_lr: GAP@20 {results[f'{name}_lr']['gap20']:.4f}, mean AP by kind "
              f"{results[f'{name}_lr']['mean_ap_by_kind']}", flush=True)
    results["ceiling_true_labels_gap20"] = round(ceiling_gap(true_v2, written_v2, classes), 4)
    print(f"filler share {results['filler_share']}, dropped labels {results['dropped_label_share']}, ceiling "
          f"{results['ceiling_true_labels_gap20']}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(OUT.read_text()) if OUT.exists() else {}
    saved[f"{meta['preset']}-{meta['seed']}"] = results
    OUT.write_text(json.dumps(saved, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
