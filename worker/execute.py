"""What a task does with its run: claim it, run it through ``y8m_models`` with a reporter beside it, write
the outcome back.

* **Claim** (one write transaction): a run already finished, cancelled, still waiting for its inputs or
  running in a live process elsewhere is not started again (a duplicate or late message is harmless).
* **Reporter** (a thread): every ``Y8M_HEARTBEAT_SECONDS`` it writes the heartbeat, the progress (step,
  loss, examples/s) and the new lines of the run's ``metrics.jsonl`` as metric rows (a batch per beat; a
  resumed run's repeated steps overwrite their rows), and reads the cancel flag. Training checks that flag at
  every step (``_Control``); a run whose row another process took over (after this one was taken for dead)
  stops too, so two processes never train one run directory.
* **Execute**: train, stack and merge runs are the pipeline's jobs (``y8m_models.executor.Executor``) with their
  inputs' folders from the database; a run that was interrupted resumes from its checkpoint (its folder
  holds ``run.json`` and ``checkpoint.pt``). Predict runs predict a trained run on a split.
* **Outcome**: succeeded with its scores per split and artifacts, then the runs that were waiting for it are
  sent (``runs.dispatch``); or failed with a readable error (the traceback in ``RUN_DIR/error.log``) and the
  runs reading it failed with it; or cancelled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from db.engine import get_engine, writing
from db.models import FINISHED, Run
from db.queries import add_event, clock, set_artifacts, set_scores, set_status, upsert_metrics
from db.settings import Settings
from worker.processes import process_alive, worker_name
from worker.runs import count_parameters_apart
from worker.sweeps import OBJECTIVE, advance_of_run

log = logging.getLogger("y8m.worker")

SCORE_KEYS = ("gap", "hit_at_1", "perr", "map")


class RunCancelled(Exception):
    """The run's cancel flag was seen."""


class RunTakenOver(Exception):
    """Another process runs this run now (this one was taken for dead): stop without writing anything."""


# ------------------------------------------------------------------------------------------ the reporter

def metric_points(line: dict[str, Any], step: int) -> list[tuple[str, int, float]]:
    """A metrics.jsonl line as (name, step, value) points: training lines give loss, lr, examples_per_second;
    evaluation lines ``<split>/gap`` and the rest (at their step, else ``step``)."""
    at = int(line.get("step", step))
    if "split" in line:
        return [(f"{line['split']}/{k}", at, float(line[k])) for k in SCORE_KEYS if line.get(k) is not None]
    return [(k, at, float(line[k])) for k in ("loss", "lr", "examples_per_second") if line.get(k) is not None]


class Reporter(threading.Thread):
    """Heartbeat, progress, metric rows and the cancel flag, in one write per beat (see the module)."""

    def __init__(self, engine: Engine, run_id: int, folder: Path, me: str, interval: float):
        super().__init__(name=f"y8m-reporter-{run_id}", daemon=True)
        self.engine, self.run_id, self.folder, self.me, self.interval = engine, run_id, folder, me, interval
        self.cancelled, self.taken_over, self._stop_event = threading.Event(), threading.Event(), threading.Event()
        self.progress: dict[str, Any] = {}
        self.notes: list[tuple[str, str]] = []  # events to write at the next beat
        self._offset, self._known_steps = 0, None
        self._lock = threading.Lock()
        self._advancing: threading.Thread | None = None

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.flush()
            except Exception:  # a lost connection must not kill the run: the next beat tries again
                log.exception("run %s: heartbeat failed", self.run_id)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.flush()
        if self._advancing is not None:
            self._advancing.join(timeout=30)

    def _new_lines(self) -> tuple[list[dict[str, Any]], int]:
        """The complete lines after the offset, and the offset after them (kept once they are written)."""
        path = self.folder / "metrics.jsonl"
        if not path.exists():
            return [], self._offset
        with open(path, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        complete = data[:data.rfind(b"\n") + 1]  # a line being written is read at the next beat
        lines = [json.loads(line) for line in complete.decode().splitlines() if line.strip()]
        return lines, self._offset + len(complete)

    def _steps(self) -> int | None:
        """The run's step count from its run.json (written when training starts; fixed from then on)."""
        if self._known_steps is None:
            with contextlib.suppress(OSError, ValueError, KeyError):  # not written yet
                self._known_steps = int(json.loads((self.folder / "run.json").read_text())["steps"])
        return self._known_steps

    def flush(self) -> None:
        with self._lock:
            progress = dict(self.progress)
            lines, offset = self._new_lines()
            points = [p for line in lines for p in metric_points(line, progress.get("step", 0))]
            speeds = [line["examples_per_second"] for line in lines if "examples_per_second" in line]
            if speeds:
                progress["examples_per_second"] = speeds[-1]
            with writing(self.engine) as s:
                run = s.get(Run, self.run_id)
                if run.status != "running" or run.worker != self.me:
                    self.taken_over.set()
                    return
                upsert_metrics(s, self.run_id, points)
                while self.notes:
                    add_event(s, self.run_id, *self.notes.pop(0))
                run.heartbeat_at = clock(s)
                run.steps = self._steps() or run.steps
                for key in ("step", "loss", "examples_per_second"):
                    if key in progress:  # the loss may be a device tensor (train.Callback): read here, once a beat
                        setattr(run, key, float(progress[key]) if key == "loss" else progress[key])
                if run.cancel_requested:
                    self.cancelled.set()
            self._offset = offset  # committed: a failed beat reads the same lines again
        if any(name == f"{OBJECTIVE}/gap" for name, _, _ in points) and not (
                self._advancing and self._advancing.is_alive()):
            # a trial's new validate1 GAP: it may be pruned now; decided beside the beats, which must not wait for it
            self._advancing = threading.Thread(target=_advance_sweeps, args=(self.run_id,), daemon=True,
                                               name=f"y8m-advance-{self.run_id}")
            self._advancing.start()


def _advance_sweeps(run_id: int) -> None:
    """The sweeps this run is a trial of decide what its news means (``worker.sweeps``); a failure there must not
    stop the run, and the workers' recovery loop decides later."""
    try:
        advance_of_run(run_id)
    except Exception:
        log.exception("run %s: its sweeps could not be advanced", run_id)


def _control(reporter: Reporter) -> Any:
    from y8m_models.ensemble.stacking import StackCallback

    class _Control(StackCallback):
        """Training's callback: progress for the reporter; stops at a step once cancel is asked."""

        first = True

        def on_step(self, state: Any, loss: Any, learning_rate: float) -> None:
            if self.first and state.step > 1 and "step" not in reporter.progress:
                reporter.notes.append(("resumed", f"from the checkpoint of step {state.step - 1}"))
            self.first = False
            reporter.progress.update(step=state.step, loss=loss)
            if reporter.cancelled.is_set():
                raise RunCancelled
            if reporter.taken_over.is_set():
                raise RunTakenOver

    return _Control()


# --------------------------------------------------------------------------------------------- claiming

def _claim(engine: Engine, run_id: int, me: str, settings: Settings) -> dict[str, Any] | None:
    """Mark the run running in this process, or say why not (None)."""
    with writing(engine) as s:
        run = s.get(Run, run_id, with_for_update=True)
        if run is None:
            log.warning("run %s: not in the database; message dropped", run_id)
            return None
        if run.status in FINISHED or run.status == "waiting":
            log.info("run %s is %s: not started", run_id, run.status)
            return None
        if run.status == "running" and run.worker != me:
            age = (clock(s) - run.heartbeat_at).total_seconds() if run.heartbeat_at else None
            fresh = age is not None and age < settings.stale_seconds
            if fresh and process_alive(run.worker) is not False:  # a dead pid only speeds the take-over up
                log.info("run %s runs in %s: not started twice", run_id, run.worker)
                return None
        if run.cancel_requested:
            from worker.schedule import fail_readers

            set_status(s, run_id, "cancelled", expected=(run.status,), finished_at=clock(s))
            fail_readers(s, run_id, "cancelled", None)
            return None
        run.status, run.worker, run.heartbeat_at = "running", me, clock(s)
        run.attempts += 1
        run.started_at = run.started_at or run.heartbeat_at
        add_event(s, run_id, "running", f"attempt {run.attempts} in {me}")
        inputs = [{"role": link.role, "position": link.position, "id": link.input_id, "key": link.input.key,
                   "job": link.input.job, "dir": link.input.artifact_dir} for link in run.inputs]
        return {"id": run.id, "kind": run.kind, "job": run.job, "options": run.options, "dir": run.artifact_dir,
                "preset": run.preset, "data": run.dataset.path, "num_classes": run.dataset.num_classes,
                "inputs": inputs, "attempt": run.attempts}


# ------------------------------------------------------------------------------------------- executing

def _execute(claimed: dict[str, Any], folder: Path, settings: Settings, reporter: Reporter) -> list[dict[str, Any]]:
    """Run it; returns the metrics.jsonl lines of other folders to score it by (predict runs)."""
    from y8m_models.executor import Executor
    from y8m_models.options import RunOptions
    from y8m_models.pipeline import job_from_spec
    from y8m_models.train import select_device

    options = claimed["options"]
    if claimed["kind"] == "predict":
        from y8m_models.experiment import open_run, predict_run

        source = settings.artifacts / claimed["inputs"][0]["dir"]
        # "csv": the key of runs queued before the option was named "submission"
        wanted = options.get("submission", options.get("csv"))
        submission = folder / "submission.csv" if wanted else None
        predict_run(open_run(source), options["split"], submission, options.get("attention_videos"),
                    device=str(select_device(options.get("device", "auto"))))
        return []
    folders = {i["key"]: settings.artifacts / i["dir"] for i in claimed["inputs"]}
    inputs = {i["key"]: job_from_spec(i["job"]) for i in claimed["inputs"]}
    job = job_from_spec(claimed["job"], inputs)
    folders[job.key] = folder
    executor = Executor(Path(claimed["data"]), lambda j: folders[j.key], claimed["num_classes"],
                        RunOptions.from_stored(options),
                        callbacks=(_control(reporter),), log=log.info)
    executor(job, folder)
    return []


def scores_of(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Final scores per split from metrics.jsonl: validate1 at the best GAP (the selected checkpoint's), every
    other split its last evaluation."""
    out: dict[str, dict[str, Any]] = {}
    for line in lines:
        split = line.get("split")
        if split is None:
            continue
        if split == "validate1" and split in out and out[split]["gap"] >= line["gap"]:
            continue
        out[split] = {"gap": line["gap"], "step": line.get("step"),
                      **{k: line.get(k) for k in ("hit_at_1", "perr", "map", "n_videos")}}
    return out


def artifacts_of(folder: Path, root: Path) -> list[tuple[str, str, str, int]]:
    """(kind, split, path relative to ``root``, bytes) of what a run directory holds."""
    named = {"checkpoint.pt": "checkpoint", "best.pt": "best", "stack.pt": "stack", "run.json": "run",
             "stacking_weights.npz": "stacking_weights", "example_weights.npz": "example_weights",
             "metrics.jsonl": "metrics", "submission.csv": "submission", "error.log": "error_log"}
    found = [(kind, "", folder / name) for name, kind in named.items() if (folder / name).exists()]
    for sub, kind in (("predictions", "predictions"), ("attention", "attention")):
        for path in sorted((folder / sub).glob("[!.]*")) if (folder / sub).is_dir() else []:  # not staging
            found.append((kind, path.name.removesuffix(".npz"), path))

    def size(path: Path) -> int:
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size

    return [(kind, split, str(path.relative_to(root)), size(path)) for kind, split, path in found]


def readable(exc: BaseException) -> str:
    """The message a user sees: input errors as they are (they name the file, split or option), anything
    else with its type."""
    from y8m_models.configs import ConfigError
    from y8m_models.data.errors import Y8MDataError
    from y8m_models.experiment import RunError
    from y8m_models.store import StoreError

    if isinstance(exc, RunError | ConfigError | StoreError | Y8MDataError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def execute_run(run_id: int) -> str:
    """Claim, execute and record run ``run_id``; returns its final status (or why it was not started)."""
    from worker.schedule import dispatch, fail_readers

    count_parameters_apart(False)  # a trial this run's sweep asks is counted here: the parent forked this process
    settings = Settings.from_env()
    engine = get_engine(settings.database_url)
    me = worker_name()
    claimed = _claim(engine, run_id, me, settings)
    if claimed is None:
        return "not started"
    folder = settings.artifacts / claimed["dir"]
    folder.mkdir(parents=True, exist_ok=True)
    log.info("run %s (%s): attempt %s in %s", run_id, claimed["kind"], claimed["attempt"], folder)
    reporter = Reporter(engine, run_id, folder, me, settings.heartbeat_seconds)
    reporter.start()
    status, error = "succeeded", None
    try:
        _execute(claimed, folder, settings, reporter)
    except RunTakenOver:
        reporter.stop()
        log.warning("run %s: another process runs it now; this one stops", run_id)
        return "taken over"
    except RunCancelled:
        status = "cancelled"
    except Exception as exc:  # recorded for the user; the worker goes on with the next run
        status, error = "failed", readable(exc)
        (folder / "error.log").write_text(traceback.format_exc())
        log.error("run %s failed: %s", run_id, error)
    reporter.stop()
    from y8m_models.experiment import RunError, read_metrics

    try:
        lines = read_metrics(folder)
    except RunError as exc:  # a damaged line: the scores cannot be trusted
        lines, status, error = [], "failed", str(exc)
    with writing(engine) as s:
        now = clock(s)
        ended = {"cancel_requested": False} if status == "succeeded" else {}  # a late cancel or prune changed nothing
        if not set_status(s, run_id, status, expected=("running",), match={"worker": me}, finished_at=now,
                          error=error, heartbeat_at=now, **ended):
            return "taken over"
        if status == "succeeded":
            set_scores(s, run_id, scores_of(lines))
        set_artifacts(s, run_id, artifacts_of(folder, settings.artifacts))
        for source in claimed["inputs"]:  # a predict run, or a reused member predicting a split it lacked
            set_artifacts(s, source["id"], artifacts_of(settings.artifacts / source["dir"], settings.artifacts))
        if status != "succeeded":
            fail_readers(s, run_id, status, error)
    if status == "succeeded":
        dispatch(settings)
    _advance_sweeps(run_id)
    return status
