"""Benchmark (not a test): every ensemble configuration end to end, and the check that stacking pays.

1. **The walk**: `y8m reproduce --configs 28-80` at the tiny preset on the micro synthetic dataset, every
   training run capped at ``--walk-steps`` steps (the plumbing of all 53 configurations and the ~180 runs
   they need, not the paper's numbers): wall time, jobs, and each configuration's validate2 GAP beside the
   paper's.
2. **#75 beats its best member**: #75 (class-wise stacking of #2, #10, #18, #25) at the tiny preset on the
   ``easy`` synthetic dataset with ``--members-steps`` per member; prints the members' and the stack's
   validate2 GAP and exits 1 if the stack is below the best member.

    python bench/bench_reproduce.py                       # ~10 min on 2 vCPUs
    python bench/bench_reproduce.py --skip-walk
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "reproduce.json"


def _y8m(*args: str) -> subprocess.CompletedProcess:
    code = "from y8m_models.cli import app; app()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, cwd=ROOT)


def walk(tmp: Path, steps: int) -> dict:
    _y8m("data", "synth", str(tmp / "tiny"), "--preset", "micro", "--seed", "3")
    start = time.perf_counter()
    done = _y8m("reproduce", "--configs", "28-80", "--data", str(tmp / "tiny"), "--preset", "tiny",
                "--out", str(tmp / "walk"), "--max-steps", str(steps), "--device", "cpu", "--json")
    seconds = time.perf_counter() - start
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    jobs = sum(1 for line in done.stderr.splitlines() if line.startswith("["))
    print(f"walk #28-#80: {len(rows)} configurations, {jobs} jobs, {seconds:.0f} s")
    for r in rows:
        paper = f"{r['paper_gap']:.4f}" if r["paper_gap"] else "  -   "
        print(f"  #{r['number']:<3} {r['slug']:<40} {r['gap']:.4f}  (paper {paper})")
    return {"seconds": seconds, "jobs": jobs, "rows": rows}


def stack_beats_members(tmp: Path, steps: int) -> dict:
    _y8m("data", "synth", str(tmp / "easy"), "--preset", "easy", "--seed", "3")
    _y8m("reproduce", "--configs", "75", "--data", str(tmp / "easy"), "--preset", "tiny", "--out",
         str(tmp / "easy-runs"), "--max-steps", str(steps), "--device", "cpu", "--json")
    done = json.loads(next((tmp / "easy-runs").glob("ensemble4-*/done.json")).read_text())
    best = max(done["member_gap"].values())
    stacked = done["gap"]["validate2"]
    print(f"#75 on easy, members at {steps} steps: members {', '.join(f'{g:.4f}' for g in done['member_gap'].values())}"
          f"; stacked {stacked:.4f} ({'>=' if stacked >= best else '<'} best member {best:.4f})")
    return {"members": done["member_gap"], "stacked": stacked, "best_member": best, "passed": stacked >= best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--walk-steps", type=int, default=4)
    parser.add_argument("--members-steps", type=int, default=150)
    parser.add_argument("--skip-walk", action="store_true")
    args = parser.parse_args()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_walk:
            result["walk"] = walk(Path(tmp), args.walk_steps)
        result["stack_beats_members"] = stack_beats_members(Path(tmp), args.members_steps)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    print(f"wrote {OUT}")
    if not result["stack_beats_members"]["passed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
