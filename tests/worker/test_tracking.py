"""Runs exported to MLflow and TensorBoard, read back with their own readers (MLflow's client on the SQLite store an
export folder gets, TensorBoard's event accumulator): identity, configuration as parameters, every metric by step,
final scores, tags and note; a second export skips what is there."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.worker.conftest import Backend
from y8m_models.options import RunOptions

LR = "model.training.learning_rate"


def _app():
    from worker.cli import app

    return app


def _finished_run(env: Backend) -> int:
    """A #1 run as a worker leaves it: succeeded, loss and validate1 GAP by step, scores, its files."""
    from db.engine import writing
    from db.models import Run, utcnow
    from db.queries import set_scores, upsert_metrics
    from db.settings import Settings
    from worker.curation import set_note, tag_runs
    from worker.runs import submit
    from worker.store import prepare

    run_id = submit("1", env.data, RunOptions(overrides={LR: 0.003}, seed=4)).targets[1]
    with writing(prepare()) as s:
        run = s.get(Run, run_id)
        run.status, run.started_at, run.finished_at = "succeeded", utcnow(), utcnow()
        upsert_metrics(s, run_id, [("loss", step, 10.0 / step) for step in (1, 2, 3)] +
                       [("validate1/gap", 2, 0.25), ("validate1/gap", 3, 0.5)])
        set_scores(s, run_id, {"validate1": {"gap": 0.5, "hit_at_1": 0.6, "step": 3},
                               "validate2": {"gap": 0.45, "hit_at_1": 0.55, "step": 3}})
        folder = Settings.from_env().artifacts / run.artifact_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"steps": 3}))
    tag_runs([run_id], ["best"])
    set_note(run_id, "lr 3e-3 looks right")
    return run_id


def test_a_run_exported_to_mlflow_reads_back_with_mlflows_client(env: Backend, tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    from worker.runs import show

    run_id = _finished_run(env)
    out = tmp_path / "mlflow"
    result = CliRunner().invoke(_app(), ["runs", "export", str(run_id), "--mlflow", str(out)])
    assert result.exit_code == 0 and result.stdout.strip() == "exported 1 run(s), 0 already there", result.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("y8m").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == f"{run_id} chaining_video_relabel"
    assert run.data.params[LR] == "0.003" and run.data.params["options.seed"] == "4"
    assert run.data.params["model.architecture"] == show(run_id)["config"]["model"]["architecture"]
    assert run.data.tags["y8m.run_id"] == str(run_id) and run.data.tags["y8m.tags"] == "best"
    assert run.data.tags["mlflow.note.content"] == "lr 3e-3 looks right"
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [(1, 10.0), (2, 5.0),
                                                                                                (3, 10.0 / 3)]
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "validate1/gap")] == [(2, 0.25),
                                                                                                         (3, 0.5)]
    assert run.data.metrics["final/validate2/gap"] == 0.45 and run.data.metrics["final/validate1/hit_at_1"] == 0.6
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["run.json"]
    again = CliRunner().invoke(_app(), ["runs", "export", "--mlflow", str(out), "--tag", "best"])
    assert again.stdout.strip() == "exported 0 run(s), 1 already there" and "already in sqlite" in again.stderr


def test_a_run_exported_to_tensorboard_reads_back_with_its_event_accumulator(env: Backend, tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_id = _finished_run(env)
    result = CliRunner().invoke(_app(), ["runs", "export", str(run_id), "--tensorboard", str(tmp_path / "tb")])
    assert result.exit_code == 0, result.stderr
    (folder,) = (tmp_path / "tb").iterdir()
    assert folder.name == f"run-{run_id}-chaining_video_relabel"
    events = EventAccumulator(str(folder))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("validate1/gap")] == [(2, 0.25), (3, 0.5)]
    assert [e.step for e in events.Scalars("loss")] == [1, 2, 3]
    assert events.Scalars("final/validate2/gap")[0].value == 0.44999998807907104  # float32
    assert {"configuration/text_summary", "note/text_summary"} <= set(events.Tags()["tensors"])
    again = CliRunner().invoke(_app(), ["runs", "export", str(run_id), "--tensorboard", str(tmp_path / "tb")])
    assert again.stdout.strip() == "exported 0 run(s), 1 already there"


def test_export_names_what_is_wrong(env: Backend, tmp_path) -> None:
    for args, says in [(["runs", "export", "1"], "give one of --mlflow URI|FOLDER and --tensorboard FOLDER"),
                       (["runs", "export", "999", "--tensorboard", str(tmp_path)], "no run 999"),
                       (["runs", "export", "--tensorboard", str(tmp_path), "--tag", "nothing-so"],
                        "no run to export")]:
        result = CliRunner().invoke(_app(), args)
        assert result.exit_code == 2 and f"error: {says}" in result.stderr, (args, result.stderr)


def test_an_export_that_stopped_part_way_is_made_again(env: Backend, tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    from worker.tracking import tracking_uri

    run_id = _finished_run(env)
    uri, _ = tracking_uri(str(tmp_path / "mlflow"))
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("y8m")
    client.create_run(experiment, tags={"y8m.run_id": str(run_id)})  # created, then the export died
    (tmp_path / "tb" / f"run-{run_id}-chaining_video_relabel.partial").mkdir(parents=True)  # the same in TensorBoard
    for target in (["--mlflow", str(tmp_path / "mlflow")], ["--tensorboard", str(tmp_path / "tb")]):
        result = CliRunner().invoke(_app(), ["runs", "export", str(run_id), *target])
        assert result.stdout.strip() == "exported 1 run(s), 0 already there", result.stderr
    (run,) = client.search_runs([experiment])
    assert run.data.tags["y8m.exported"] == "1" and run.data.metrics["final/validate2/gap"] == 0.45
    assert [p.name for p in (tmp_path / "tb").iterdir()] == [f"run-{run_id}-chaining_video_relabel"]
