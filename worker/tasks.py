"""The tasks: a run id in; the run is re-read from the database, refused when it is already finished or
running elsewhere, executed (``worker.execute``) and its outcome written back. They never wait on another
task: a run whose inputs are not done is not sent (``worker.runs.dispatch``)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from pathlib import Path

from celery.signals import task_received, worker_ready

from worker.celery_app import ROUTES, celery

log = logging.getLogger("y8m.worker")
RUN_TASKS = {task for task, _ in ROUTES.values()}


def _execute(run_id: int) -> str:
    """The run, in this pool process. A prefork pool process is daemonic, and Python refuses a daemonic process
    children: the run's DataLoader reader processes (``--loader-workers N``) could not start. Unmarked here: the pool
    process runs one task and exits (``--max-tasks-per-child 1``), and the readers end with their loader or,
    when this process is killed, on their own (torch's workers watch their parent)."""
    from worker.execute import execute_run

    multiprocessing.current_process()._config["daemon"] = False
    return execute_run(run_id)


@celery.task(name="y8m.train")
def train(run_id: int) -> str:
    """A single model (a configuration or an ensemble member): train, select on validate1, predict."""
    return _execute(run_id)


@celery.task(name="y8m.stack")
def stack(run_id: int) -> str:
    """An ensemble's combiner over its members' predictions (and a merge queued before ``y8m.merge``)."""
    return _execute(run_id)


@celery.task(name="y8m.merge")
def merge(run_id: int) -> str:
    """Two ensembles' top-k lists merged (#80)."""
    return _execute(run_id)


@celery.task(name="y8m.predict")
def predict(run_id: int) -> str:
    """A trained run's predictions on a split (and a submission CSV, attention dumps)."""
    return _execute(run_id)


@celery.task(name="y8m.extract")
def extract(folder: str) -> str:
    """Videos into features (and a trained run's predictions on them): an extraction's folder
    (``worker.extract``)."""
    from y8m_models.features.extraction import run_extraction
    from y8m_models.train import select_device

    multiprocessing.current_process()._config["daemon"] = False
    run_extraction(Path(folder), device=str(select_device()))
    return "succeeded"


# ------------------------------------------------------------------------------------ the worker process

_RECOVERY_LOCK = threading.Lock()
# No child is forked while the recovery loop holds a database connection or the logging lock.
os.register_at_fork(before=_RECOVERY_LOCK.acquire, after_in_parent=_RECOVERY_LOCK.release,
                    after_in_child=_RECOVERY_LOCK.release)


@worker_ready.connect
def _start_recovery(**_: object) -> None:
    """On start (runs a killed worker left ``running`` resume now) and every ``Y8M_STALE_SECONDS / 2``: the runs
    whose worker died, then the sweeps."""
    from db.settings import Settings
    from worker.runs import count_parameters_apart
    from worker.schedule import recover
    from worker.sweeps import advance_all

    interval = Settings.from_env().stale_seconds / 2
    count_parameters_apart()  # a sweep's new trial is counted in a helper: this process forks runs, it loads no torch

    def loop() -> None:
        while True:
            with _RECOVERY_LOCK:
                try:
                    recover()
                except Exception:  # the database may be away for a while; the next pass tries again
                    log.exception("recovery failed")
            try:  # sweeps whose news no run's worker reported (a worker killed mid-trial); the lock per sweep
                advance_all(guard=_RECOVERY_LOCK)
            except Exception:
                log.exception("advancing the sweeps failed")
            time.sleep(interval)

    threading.Thread(target=loop, name="y8m-recovery", daemon=True).start()


@task_received.connect
def _taken(request: object, **_: object) -> None:
    """In the worker process, as a message is taken: the run is recorded as taken by it (``schedule.take``),
    so that a kill before its child claims the run does not leave it queued for ever."""
    from db.settings import Settings
    from worker.processes import worker_name
    from worker.schedule import take

    name, args = getattr(request, "name", ""), getattr(request, "args", ())
    if not (name in RUN_TASKS and args):  # an extraction is no run
        return
    with _RECOVERY_LOCK:
        try:
            take(Settings.from_env(), int(args[0]), worker_name())
        except Exception:  # the database may be away: the child's claim is what counts
            log.exception("run %s: could not record its message as taken", args[0])
