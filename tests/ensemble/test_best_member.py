"""Issue 15's rule on real members: at the tiny preset on `y8m data synth --preset micro` (several seeds), every
learned stacking method's validate2 GAP is at least its best member's minus 0.002. The members are #75's
(#2, #10, #18, #25) trained by the pipeline; the class-wise stack is #75 itself, the linear and attention ones
(#79's combiner at the tiny preset) are fitted on the same members' stored predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from y8m_models.configs import resolve
from y8m_models.configs.schema import Combiner
from y8m_models.data.synthetic import generate
from y8m_models.ensemble.stacking import TensorStackData, build_stack, fit_stack, member_gaps
from y8m_models.executor import Executor
from y8m_models.options import RunOptions
from y8m_models.pipeline import plan, run_plan
from y8m_models.store import read_predictions


def _stack_data(executor: Executor, members: list[Path], split: str) -> TensorStackData:
    ids, labels, x = executor.split(split, features=True)
    stored = [read_predictions(m / "predictions" / split) for m in members]
    P_NMC = np.stack([s.dense(s.row_of(list(ids))) for s in stored], axis=1)
    return TensorStackData(P_NMC, x, labels)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_learned_stack_is_below_its_best_member(tmp_path: Path, seed: int) -> None:
    data, out = tmp_path / "tiny", tmp_path / "runs"
    generate(data, preset="micro", seed=seed)
    jobs = plan([75], data, RunOptions(max_steps=40))
    executor = Executor(data, lambda job: out / job.name, 60, RunOptions(), log=lambda line: None)
    classwise = run_plan(jobs, out, executor, log=lambda line: None)[75]
    best = max(classwise["member_gap"].values())
    print(f"seed {seed}: members {sorted(round(g, 4) for g in classwise['member_gap'].values())}; "
          f"classwise {classwise['gap']['validate2']:.4f} ({classwise['chosen']})")
    assert classwise["gap"]["validate2"] >= best - 0.002

    members = [out / job.name for job in jobs.jobs if job.kind == "train"]
    train, validate = _stack_data(executor, members, "train2"), _stack_data(executor, members, "validate2")
    assert max(member_gaps(validate)) == pytest.approx(best, abs=1e-6)
    tiny_classwise = resolve(75, "tiny").ensemble.combiner
    for combiner in (Combiner(kind="linear", training=tiny_classwise.training), resolve(79, "tiny").ensemble.combiner):
        n, m, c, d = train.shape
        result = fit_stack(build_stack(combiner, m, c, d), combiner, train, validate, eval_every=10)
        print(f"seed {seed}: {combiner.kind} {result.best_gap:.4f} (start {result.start}, member {result.member})")
        assert result.best_gap >= best - 0.002, (combiner.kind, result.best_gap, best)
