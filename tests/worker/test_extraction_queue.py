"""Extractions sent to the workers (issue 21): ``y8m data extract --queue cpu`` writes an extraction's folder and a
worker on the cpu queue extracts it (embedded default and Redis + PostgreSQL); one sent again after it finished is not
done twice; runs that cannot be tried are refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from db.settings import Settings
from tests.worker.conftest import wait_for
from worker.cli import app
from worker.extract import resend, run_dir_of
from worker.runs import SubmitError
from worker.tasks import celery
from y8m_models.features.extraction import read_state
from y8m_models.features.sample_video import write_video


def test_the_extract_task_is_registered() -> None:
    assert "y8m.extract" in celery.tasks


def test_a_worker_runs_a_queued_extraction(env, workers, tmp_path: Path) -> None:
    write_video(tmp_path / "videos" / "one.mp4", 2.0)
    write_video(tmp_path / "videos" / "two.mp4", 3.0, audio=False)
    workers.start("cpu")
    sent = CliRunner().invoke(app, ["data", "extract", str(tmp_path / "videos"), str(tmp_path / "data"),
                                    "--random-weights", "--rgb-width", "8", "--queue", "cpu"])
    assert sent.exit_code == 0, sent.output
    folder = Path(sent.stdout.strip())
    assert folder.parent == env.home / "extractions"
    assert json.loads((folder / "extraction.json").read_text())["out"] == str(tmp_path / "data")
    state = wait_for(lambda: read_state(folder) if read_state(folder)["state"] in ("succeeded", "failed") else None,
                     120, "the extraction", interval=0.5)
    assert state["state"] == "succeeded", state.get("error")
    assert state["videos"] == {"one": {"frames": 2, "audio": True}, "two": {"frames": 3, "audio": False}}
    made = json.loads((tmp_path / "data" / "extract.json").read_text())
    assert made["options"]["rgb_width"] == 8 and sorted(made["videos"]) == ["one", "two"]
    finished = (folder / "result.json").stat().st_mtime_ns
    resend(folder)  # a finished extraction sent again is not extracted again
    wait_for(lambda: workers.logs().count("] succeeded in") >= 2, 60, "the second message's task to end")
    assert (folder / "result.json").stat().st_mtime_ns == finished


def test_what_a_worker_would_refuse_is_refused_before_anything_is_sent(env, tmp_path: Path) -> None:
    settings = Settings.from_env()
    with pytest.raises(SubmitError, match="run 999999 does not exist"):
        run_dir_of(999999, settings)
    write_video(tmp_path / "videos" / "one.mp4", 1.0)
    before = sorted((env.home / "extractions").glob("*"))
    runner = CliRunner()
    bad = runner.invoke(app, ["data", "extract", str(tmp_path / "videos"), str(env.home / "x"), "--queue", "tpu"])
    assert bad.exit_code == 2 and "--queue 'tpu': one of gpu, cpu" in bad.stderr
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "extract.json").write_text("{}")
    bad = runner.invoke(app, ["data", "extract", str(tmp_path / "videos"), str(tmp_path / "taken"), "--queue", "cpu"])
    assert bad.exit_code == 2 and "taken: exists and is not an empty folder" in bad.stderr
    (tmp_path / "videos" / "two.mp4").write_bytes(b"not a video")
    bad = runner.invoke(app, ["data", "extract", str(tmp_path / "videos"), str(tmp_path / "new"), "--queue", "cpu"])
    assert bad.exit_code == 2 and "two.mp4: not a video PyAV can open" in bad.stderr
    bad = runner.invoke(app, ["data", "extract", str(tmp_path / "videos" / "one.mp4"), str(tmp_path / "new"),
                              "--queue", "cpu", "--device", "cpu"])
    assert bad.exit_code == 2 and "the worker takes its own device" in bad.stderr
    assert sorted((env.home / "extractions").glob("*")) == before  # nothing was written, nothing sent
