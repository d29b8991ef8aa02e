"""Benchmark (not a test): does every single model learn? Each of #1-#27 and the Table 2 baselines at the tiny
preset, trained for a few hundred steps on the synthetic ``easy`` dataset (3,000 videos, 16 classes, a third
of the labels defined by frame order), scored on validate2 before and after: GAP@20, and the mean average
precision over the order labels (where a video-level model cannot do better than telling "A and B" apart
from neither).

    python bench/bench_learning.py                    # 300 steps each; results in bench/results/learning.json
    python bench/bench_learning.py --steps 1000 --configs 3,16
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from y8m_models.configs import all_configurations, get_config, resolve, single_models  # noqa: E402
from y8m_models.data.splits import split_files  # noqa: E402
from y8m_models.data.synthetic import generate  # noqa: E402
from y8m_models.data.vocabulary import read_vocabulary  # noqa: E402
from y8m_models.metrics import class_average_precision, evaluate  # noqa: E402
from y8m_models.models import ModelInputs, build_architecture  # noqa: E402
from y8m_models.train import predict, train_steps  # noqa: E402

OUT = ROOT / "bench" / "results" / "learning.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--configs", default=None, help="numbers or slugs (default: #1-#27 and the baselines)")
    args = parser.parse_args()
    configs = ([get_config(k) for k in args.configs.split(",")] if args.configs else
               [c for c in all_configurations(baselines=True) if c.number is None or c.number <= 29])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "easy"
        generate(data, preset="easy", seed=3)
        meta = json.loads((data / "synthetic.json").read_text())
        classes, order = meta["classes"], meta["kinds"]["order"]
        verticals = torch.from_numpy(read_vocabulary(data / "vocabulary.csv").vertical_matrix()).float()
        inputs = ModelInputs(classes, vertical_matrix=verticals)
        for config in configs:
            for label, model in single_models(resolve(config, "tiny")):
                parts = split_files(data, model.level)
                torch.manual_seed(0)
                net = build_architecture(model.architecture, model.params, inputs)
                out = predict(net, model, parts["validate2"], classes)
                before = evaluate(out.scores.numpy(), out.labels.numpy()).gap
                start = time.perf_counter()
                losses = train_steps(net, model, parts["train1"], classes, args.steps, vertical_matrix=verticals)
                seconds = time.perf_counter() - start
                out = predict(net, model, parts["validate2"], classes)
                p, y = out.scores, out.labels
                row = {"label": label, "level": model.level, "steps": args.steps, "gap_before": before,
                       "gap_after": evaluate(p.numpy(), y.numpy()).gap,
                       "order_map": class_average_precision(p.numpy(), y.numpy(), order),
                       "loss_first": float(np.mean(losses[:20])), "loss_last": float(np.mean(losses[-20:])),
                       "train_seconds": seconds}
                rows.append(row)
                print(f"{label:<46} {model.level:<6} GAP {before:.3f} -> {row['gap_after']:.3f}  order mAP "
                      f"{row['order_map']:.3f}  loss {row['loss_first']:.2f} -> {row['loss_last']:.2f}  "
                      f"{seconds:6.1f} s", flush=True)
                OUT.parent.mkdir(parents=True, exist_ok=True)
                OUT.write_text(json.dumps({"steps": args.steps, "rows": rows}, indent=1))  # after every model
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
