"""Tags, notes, archiving and deleting runs, and finding them by tag, text and configuration values: through the
run API and ``y8m runs``. Deleting keeps what is kept whole: a run others read goes only with its readers, an active
run is refused, the rows and the folder go together, a sweep's trial keeps its value without its run."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from tests.worker.conftest import Backend
from y8m_models.options import RunOptions

LR = "model.training.learning_rate"


def _app():
    from worker.cli import app

    return app


def _cli(*args: str) -> object:
    return CliRunner().invoke(_app(), list(args))


def _finish(run_ids: list[int], gap: float = 0.5) -> None:
    """The runs as a worker leaves them: succeeded, scored, a folder with a file."""
    from db.engine import writing
    from db.models import Run
    from db.queries import add_event, set_scores, upsert_metrics
    from db.settings import Settings
    from worker.store import prepare

    settings = Settings.from_env()
    with writing(prepare()) as s:
        for run_id in run_ids:
            run = s.get(Run, run_id)
            run.status = "succeeded"
            set_scores(s, run_id, {"validate2": {"gap": gap}, "validate1": {"gap": gap}})
            upsert_metrics(s, run_id, [("loss", 1, 1.0)])
            add_event(s, run_id, "succeeded")
            folder = settings.artifacts / run.artifact_dir
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "best.pt").write_bytes(b"x" * 1000)


def test_tags_notes_text_and_values_find_runs_and_archived_runs_hide(env: Backend) -> None:
    from db.engine import reading
    from db.queries import best_scores
    from worker.runs import list_runs, submit
    from worker.store import prepare

    fast = submit("1", env.data, RunOptions(overrides={LR: 0.01})).targets[1]
    slow = submit("1", env.data, RunOptions(overrides={LR: 0.0005})).targets[1]
    _finish([fast], 0.6)
    _finish([slow], 0.4)
    assert _cli("runs", "tag", f"{fast},{slow}", "--add", "lr-sweep").exit_code == 0
    tagged = _cli("runs", "tag", str(fast), "--add", "best", "--remove", "nothing")
    assert tagged.stdout.strip() == f"run {fast}: best, lr-sweep"
    assert _cli("runs", "note", str(slow), "Too slow: the loss hardly moves").exit_code == 0

    def ids(*args: str) -> list[int]:
        result = _cli("runs", "list", "--json", *args)
        assert result.exit_code == 0, result.stderr
        return [r["id"] for r in json.loads(result.stdout)]

    assert ids("--tag", "lr-sweep") == [slow, fast] and ids("--tag", "lr-sweep", "--tag", "best") == [fast]
    assert ids("--search", "HARDLY") == [slow] and ids("--search", "chaining_video") == [slow, fast]
    assert ids("--where", f"{LR}<0.001") == [slow] and ids("--where", f"{LR} >= 0.001") == [fast]
    assert ids("--where", f"{LR}=0.01", "--tag", "lr-sweep") == [fast]
    assert ids("--where", "model.no.such<1") == []
    assert ids("--where", "seed=0", "--where", "preset=tiny") == [slow, fast]
    shown = _cli("runs", "show", str(slow)).stdout
    assert "tags: lr-sweep; note: Too slow: the loss hardly moves" in shown

    archived = _cli("runs", "archive", str(fast))
    assert archived.stdout.strip() == f"archived: {fast}"
    assert ids() == [slow] and ids("--archived") == [slow, fast]
    assert [r["archived"] for r in list_runs(archived=True)] == [False, True]
    with reading(prepare()) as s:  # the leaderboard's best run is no archived one
        assert {run_id for *_, run_id in best_scores(s)} == {slow}
    assert _cli("runs", "archive", str(fast), "--undo").stdout.strip() == f"unarchived: {fast}"
    assert ids() == [slow, fast]

    queued = submit("2", env.data, RunOptions()).targets[2]
    for args, says in [
        (["runs", "tag", str(fast), "--add", "Best!"], "tag 'Best!': 1 to 40 of a-z 0-9"),
        (["runs", "tag", "999", "--add", "x"], "no run 999"),
        (["runs", "tag", "5-x", "--add", "x"], "'5-x' is not a run id or a range"),
        (["runs", "list", "--where", f"{LR}~1"], f"--where '{LR}~1': write key OP value"),
        (["runs", "list", "--tag", "A B"], "tag 'A B'"),
        (["runs", "note", str(fast), "x" * 10_001], f"run {fast}: a note of 10,001 characters, more than 10,000"),
        (["runs", "archive", str(queued)], f"run {queued} is not finished: cancel it or let it end first"),
    ]:
        result = _cli(*args)
        assert result.exit_code == 2 and f"error: {says}" in result.stderr, (args, result.stderr)


def test_delete_takes_a_run_with_its_readers_rows_and_folder_and_refuses_the_rest(env: Backend) -> None:
    from db.engine import reading, writing
    from db.models import Artifact, Metric, Run, RunEvent, Score, SweepTrial
    from db.settings import Settings
    from worker.runs import submit
    from worker.store import prepare
    from worker.sweeps import SweepRequest, create_sweep, show_sweep
    from y8m_models.configs.space import SearchSpace
    from y8m_models.sizes import human

    settings = Settings.from_env()
    stack = submit("75", env.data, RunOptions())
    stack_id = stack.targets[75]
    members = [r for r in stack.created if r != stack_id]  # #2 is reused from the test above (its run queued)
    _finish(stack.created)
    member_dir = settings.artifacts / f"runs/{members[0]}"
    assert member_dir.is_dir()

    refused = _cli("runs", "delete", str(members[0]), "--yes")
    assert refused.exit_code == 2 and re.search(rf"run {members[0]} is read by run {stack_id} \(as member \d\): "
                                                rf"delete run {stack_id} with it", refused.stderr)
    dry = _cli("runs", "delete", f"{members[0]}-{stack_id}")
    assert dry.exit_code == 0 and dry.stdout.strip() == (
        f"would delete run {', '.join(map(str, [*members, stack_id]))} and {len(members) + 1} folder(s), "
        f"{human(1000 * (len(members) + 1))}; --yes deletes them")
    assert member_dir.is_dir()

    sweep_id = create_sweep(SweepRequest("1", str(env.data), SearchSpace.from_ranges([f"{LR}=0.001:0.1:log"]),
                                         n_trials=1))
    trial_run = show_sweep(sweep_id)["trials"][0]["run"]
    with writing(prepare()) as s:
        s.get(SweepTrial, (sweep_id, 0)).state, s.get(SweepTrial, (sweep_id, 0)).value = "complete", 0.5
    assert _cli("runs", "delete", str(trial_run), "--yes").stderr.strip() == (
        f"error: run {trial_run} is not finished: cancel it first (`y8m runs cancel`)")
    _finish([trial_run])

    gone = _cli("runs", "delete", *map(str, [*members, stack_id, trial_run]), "--yes")
    assert gone.exit_code == 0 and gone.stdout.startswith(f"deleted run {members[0]}, "), gone.stderr
    assert not member_dir.exists() and not list(member_dir.parent.glob(".deleting-*"))
    with reading(prepare()) as s:
        for table in (Run, Score, Metric, RunEvent, Artifact):
            left = {r.run_id if table is not Run else r.id for r in s.query(table)}
            assert not left & {*members, stack_id, trial_run}, table
        trial = s.get(SweepTrial, (sweep_id, 0))
        assert (trial.run_id, trial.state, trial.value) == (None, "complete", 0.5)
    assert show_sweep(sweep_id)["best"]["run"] is None


def test_a_run_a_saved_variant_names_as_a_member_is_kept(env: Backend) -> None:
    from worker.runs import submit

    member = submit("2", env.data, RunOptions(seed=7)).targets[2]
    _finish([member])
    made = _cli("ensemble", "create", "--name", "keeps-a-run", "--method", "mean", "--members", f"1,run:{member}")
    assert made.exit_code == 0, made.stderr
    refused = _cli("runs", "delete", str(member), "--yes")
    assert refused.exit_code == 2 and f"error: run {member} is a member of variant 'keeps-a-run'" in refused.stderr
    assert _cli("runs", "list", "--json", "--where", "dataset=tiny", "--where", "seed=7").stdout.count('"id"') == 1
