"""The ensemble pipeline: which runs a configuration needs, in which order, which predictions each writes, and
reuse by content hash; then `y8m reproduce` end to end on the micro synthetic dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from y8m_models.cli import app
from y8m_models.experiment import open_run
from y8m_models.options import RunOptions
from y8m_models.pipeline import Job, Plan, job_spec, plan

DATA = Path("/nonexistent/dataset")  # planning reads no data


def _by_number(p: Plan) -> dict[int, Job]:
    return {j.number: j for j in p.jobs if j.number is not None}


def _topological(p: Plan) -> None:
    seen: set[str] = set()
    for job in p.jobs:
        assert all(d.key in seen for d in job.inputs), job.name
        seen.add(job.key)


def test_cascade_47_needs_75_which_needs_its_four_members() -> None:
    p = plan([47], DATA)
    _topological(p)
    jobs = _by_number(p)
    assert [j.number for j in p.jobs] == [2, 10, 18, 25, 75, 47]
    assert jobs[75].kind == "stack" and [m.number for m in jobs[75].members] == [2, 10, 18, 25]
    assert jobs[47].streams == (jobs[75],) and jobs[47].kind == "train"
    # #47 trains on #75's train1 predictions, is selected on validate1 and scored on validate2: #75 predicts
    # those, so its members do too, besides the train2/validate2 the stacking itself reads.
    assert {"train1", "validate1", "validate2"} <= jobs[75].splits
    assert {"train1", "validate1", "train2", "validate2"} <= jobs[2].splits
    assert jobs[47].splits == {"validate2", "test"}


def test_79_stacks_74_configurations_and_shares_every_run() -> None:
    p = plan([79], DATA, test_split=False)
    _topological(p)
    jobs = _by_number(p)
    assert [m.number for m in jobs[79].members] == list(range(1, 75))
    assert len({j.key for j in p.jobs}) == len(p.jobs)  # one job per content hash
    # #75 is a stacking member of #79, the teacher of #39-#46 and the cascade input of #47-#56; #76 stacks #2,
    # #10, #18, #25 and #47-#50 and feeds #57-#74: one job each.
    assert jobs[39].teacher is jobs[75] and jobs[47].streams[0] is jobs[75]
    assert [m.number for m in jobs[76].members] == [2, 10, 18, 25, 47, 48, 49, 50] and jobs[76].members[0] is jobs[2]
    assert jobs[57].streams[0] is jobs[76] and jobs[73].streams == (jobs[76], jobs[71], jobs[72])
    assert jobs[56].streams == (jobs[75], jobs[6])  # #56 copies the infrequent labels from #6
    # bagging/boosting members and the bases are jobs of their own; #29's inline members too
    assert len(jobs[28].members) == 8 and len({m.seed for m in jobs[28].members}) == 8
    assert [m.config.slug for m in jobs[29].members][:2] == ["chaining_video_variants_x4_1",
                                                             "chaining_video_variants_x4_2"]
    boosting = jobs[32].members
    assert all(m.init is boosting[0].init for m in boosting) and boosting[0].init is not None
    assert boosting[0].weights is None and boosting[1].previous is boosting[0]  # W_0 = 1, then member k's errors
    assert boosting[0].previous is None and boosting[0] in boosting[1].inputs
    assert job_spec(boosting[1])["inputs"]["previous"] == boosting[0].key  # the run store's role "previous"
    assert "train1" in boosting[0].splits and "train1" not in boosting[-1].splits


def test_the_hash_reuses_shared_runs_and_changes_with_what_determines_them() -> None:
    a, b = plan([75], DATA), plan([47], DATA)
    assert [j.key for j in a.jobs][:4] == [j.key for j in b.jobs][:4]  # the members
    # #75 as #47's cascade input also predicts train1 and validate1: another stack job over the same members
    assert a.jobs[4].key != b.jobs[4].key and b.jobs[4].splits > a.jobs[4].splits
    assert plan([75, 47], DATA).jobs[4].key == b.jobs[4].key
    assert plan([75], DATA, RunOptions(seed=1)).jobs[0].key != a.jobs[0].key
    assert plan([75], DATA, RunOptions(preset="small")).jobs[0].key != a.jobs[0].key
    assert plan([75], DATA, RunOptions(max_steps=5)).jobs[-1].key != a.jobs[-1].key
    coded = plan([28], DATA, RunOptions(as_in_code=True))  # the code's members are another model
    assert coded.jobs[0].key != plan([28], DATA).jobs[0].key


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from y8m_models.data.synthetic import generate

    out = tmp_path_factory.mktemp("reproduce") / "tiny"
    generate(out, preset="micro", seed=2)
    return out


def _reproduce(data: Path, out: Path, configs: str) -> list[dict]:
    result = CliRunner().invoke(app, ["reproduce", "--configs", configs, "--data", str(data), "--out", str(out),
                                      "--preset", "tiny", "--max-steps", "4", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_reproduce_runs_stacking_distillation_and_cascade_then_reuses(tiny: Path, tmp_path: Path) -> None:
    """#75 (class-wise stacking of #2, #10, #18, #25), #39 (#2's model distilled from #75) and #47 (#2 with #75's
    predictions as input), at the tiny preset with 4 steps per training run."""
    rows = _reproduce(tiny, tmp_path, "75,39,47")
    assert [(r["number"], r["split"]) for r in rows] == [(75, "validate2"), (39, "validate2"), (47, "validate2")]
    assert all(0 < r["gap"] <= 1 for r in rows)
    stack = next(tmp_path.glob("ensemble4-*"))
    weights = __import__("numpy").load(stack / "stacking_weights.npz")
    assert weights["class_weights"].shape == (4, 60) and len(weights["members"]) == 4
    cascade = next(tmp_path.glob("cascade75_chaining_video-*"))
    assert json.loads((cascade / "run.json").read_text())["inputs"]["streams"] == [f"../{stack.name}"]
    assert open_run(cascade).inputs["streams"] == [str(stack)]  # relative to the run: the tree may move
    # a second invocation reuses every run; a job whose done.json is gone runs again, alone
    (stack / "done.json").unlink()
    again = CliRunner().invoke(app, ["reproduce", "--configs", "75,39,47", "--data", str(tiny), "--out",
                                     str(tmp_path), "--preset", "tiny", "--max-steps", "4", "--device", "cpu",
                                     "--json"])
    assert again.exit_code == 0, again.output
    assert again.output.count("reused") == 6 and json.loads(again.stdout.strip().splitlines()[-1]) == rows


def test_reproduce_bagging_and_boosting(tiny: Path, tmp_path: Path) -> None:
    """#28 (8 bootstrap members of #2, averaged) and #32 (a base, then 8 members reweighted by Eq. 6)."""
    import numpy as np

    rows = _reproduce(tiny, tmp_path, "28,32")
    assert [r["number"] for r in rows] == [28, 32] and all(0 < r["gap"] <= 1 for r in rows)
    bags = [np.load(p)["weights"] for p in sorted(tmp_path.glob("bagging_chaining_video_m2_*/example_weights.npz"))]
    assert len(bags) == 8 and all(w.sum() == len(w) for w in bags) and not np.array_equal(bags[0], bags[1])
    boosted = sorted(tmp_path.glob("boosting_chaining_video_clip_m2_*/example_weights.npz"))
    assert len(boosted) == 7  # member 1 trains under W_0 = 1
    w = np.load(boosted[0])["weights"]
    assert w.mean() == pytest.approx(1.0) and w.std() > 0


def test_reproduce_rejects_bad_input(tiny: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["reproduce", "--configs", "89", "--data", str(tiny)])
    assert result.exit_code == 2 and "--configs '89': configuration numbers run from 1 to 88" in result.output
    result = CliRunner().invoke(app, ["reproduce", "--configs", "75", "--data", str(tmp_path / "none")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_a_member_without_the_split_predicts_it_or_is_named(tiny: Path, tmp_path: Path) -> None:
    """A member reused from a run that did not need a split (#25 alone, then #75) predicts it from its
    selected weights; one that cannot (no weights left) stops the stack with an error naming it."""
    import shutil

    _reproduce(tiny, tmp_path, "25")
    member = next(tmp_path.glob("multi_attention_pooling_lstm-*"))
    assert not (member / "predictions" / "train2").exists()
    assert _reproduce(tiny, tmp_path, "75")[0]["gap"] > 0  # #25 reused: train2 predicted on demand
    assert (member / "predictions" / "train2" / "meta.json").exists()
    shutil.rmtree(member / "predictions" / "train2")
    for name in ("best.pt", "checkpoint.pt"):
        (member / name).unlink()
    (next(tmp_path.glob("ensemble4-*")) / "done.json").unlink()
    result = CliRunner().invoke(app, ["reproduce", "--configs", "75", "--data", str(tiny), "--out", str(tmp_path),
                                      "--preset", "tiny", "--max-steps", "4", "--device", "cpu"])
    assert result.exit_code == 2
    assert member.name in result.output and "checkpoint.pt" in result.output, result.output


def test_the_80_configurations_job_keys_are_pinned() -> None:
    """The content hashes of every job of #1-#80 at tiny, as stored runs are found by them: a change to the schema
    or the planner that moves one (a new field not in ``schema.ADDED_LATER``) makes every stored run unreachable.
    Pinned on 2026-12-07 (the same digest at a54b031, before #81-#88 and their fields)."""
    import hashlib

    from y8m_models.options import RunOptions
    from y8m_models.pipeline import plan

    keys = sorted({job.key for n in range(1, 81)
                   for job in plan([n], Path("/data/pinned"), RunOptions(preset="tiny")).jobs})
    assert len(keys) == 199
    assert hashlib.sha256(" ".join(keys).encode()).hexdigest() == (
        "b5199cd7451850d65b04d5442c15cbbe4a6b9f7fcd064333203b1571110ea69f")
