"""The models beyond the paper in ensembles (issue 20): WILLOW's gated NetVLAD (#81), NeXtVLAD (#85) and the
Transformer (#88) stacked class-wise (#75's method), that stack read by a cascade (#2 with the stack's predictions
as its input, #47's way), and #85 distilled from the stack; through the pipeline on micro data, a few steps each."""

from __future__ import annotations

from pathlib import Path

from y8m_models.configs.schema import Variant
from y8m_models.configs.variants import compose
from y8m_models.data.synthetic import generate
from y8m_models.executor import Executor
from y8m_models.options import RunOptions
from y8m_models.pipeline import Refs, plan, run_plan
from y8m_models.store import read_predictions


def test_models_beyond_the_paper_are_stack_members_cascade_inputs_and_distilled(tmp_path: Path) -> None:
    data, out = tmp_path / "micro", tmp_path / "runs"
    generate(data, preset="micro", seed=4)
    made = {name: Variant(name=name, base=base, overrides=changes) for name, (base, changes) in {
        "beyond": compose("classwise", ["81", "85", "88"]),
        "beyond-cascade": compose("cascade", ["2", "beyond"]),
        "beyond-distilled": compose("distillation", ["85"], teacher="beyond"),
    }.items()}
    options = RunOptions(max_steps=6)  # the plan's job keys and the runs' step cap
    jobs = plan(list(made.values()), data, options, refs=Refs(variant=made.get))
    by_number = {job.number for job in jobs.jobs if job.kind == "train"}
    assert {81, 85, 88, 2} <= by_number
    executor = Executor(data, lambda job: out / job.name, 60, options, log=lambda line: None)
    results = run_plan(jobs, out, executor, log=lambda line: None)
    stack = results["beyond"]
    assert len(stack["member_gap"]) == 3 and stack["gap"]["validate2"] >= max(stack["member_gap"].values()) - 0.002
    cascade, distilled = jobs.targets["beyond-cascade"], jobs.targets["beyond-distilled"]
    assert cascade.streams == (jobs.targets["beyond"],) and distilled.teacher is jobs.targets["beyond"]
    for name in ("beyond-cascade", "beyond-distilled"):
        assert 0 < results[name]["gap"]["validate2"] <= 1
    # the stack predicted what its readers need: train1 for the teacher's soft targets and the cascade's training,
    # validate1 and validate2 for the cascade's validation and scores
    stored = {split for split in ("train1", "validate1", "train2", "validate2")
              if (out / jobs.targets["beyond"].name / "predictions" / split).exists()}
    assert {"train1", "validate1", "validate2"} <= stored
    assert len(read_predictions(out / jobs.targets["beyond"].name / "predictions" / "train1").ids) > 0
