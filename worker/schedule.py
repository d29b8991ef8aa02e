"""Scheduling around the tasks: ``dispatch`` (queue and send the runs whose inputs all succeeded; end those
whose inputs failed), ``fail_readers`` and ``recover`` (runs whose worker died: sent again to resume from their
checkpoint, or ended). Every move is a guarded UPDATE (``db.queries.set_status``), so several workers may
dispatch and recover at once; messages are sent after the commit that queued their runs, and a message sent
twice is harmless (a run is claimed once)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from db.engine import get_engine, writing
from db.models import ACTIVE, Run, RunLink
from db.queries import add_event, clock, readers, ready_runs, set_status
from db.settings import Settings
from worker.celery_app import ROUTES, celery_for
from worker.processes import process_alive, worker_name

log = logging.getLogger("y8m.worker")

Waiting = aliased(Run)
MAX_ATTEMPTS = 5  # a run that takes its worker down this many times (out of memory, a crash) fails


# ----------------------------------------------------------------------------------------------- sending

def _send(settings: Settings, runs: list[tuple[int, str]]) -> list[int]:
    """Send (run id, kind) after the commit that queued them (a task never sees an uncommitted run), then
    record each message's id. A broker that is away leaves the rest without one: the recovery loop sends runs
    that are queued or interrupted without a message id (a message sent twice is harmless: a run is claimed
    once). Returns the runs sent."""
    app = celery_for(settings)
    sent: dict[int, str] = {}
    try:
        for run_id, kind in runs:
            name, queue = ROUTES[kind]
            sent[run_id] = app.send_task(name, args=[run_id], queue=queue).id
    except Exception as exc:  # kombu's errors vary by transport; the runs wait for the next recovery pass
        log.warning("broker unreachable, %d run(s) left for the recovery loop: %s", len(runs) - len(sent), exc)
    if sent:
        with writing(get_engine(settings.database_url)) as s:
            for run_id, task_id in sent.items():
                s.execute(update(Run).where(Run.id == run_id).values(celery_id=task_id))
    return list(sent)


def dispatch(settings: Settings | None = None) -> list[int]:
    """Queue and send every waiting run whose inputs all succeeded, and end those whose inputs failed or
    were cancelled; returns the runs sent."""
    settings = settings or Settings.from_env()
    engine = get_engine(settings.database_url)
    queued: list[tuple[int, str]] = []
    with writing(engine) as s:
        for run in ready_runs(s):
            if set_status(s, run.id, "queued", expected=("waiting",), celery_id=None, worker=None, heartbeat_at=None):
                queued.append((run.id, run.kind))
        for source in s.scalars(select(Run).join(RunLink, RunLink.input_id == Run.id).join(
                Waiting, Waiting.id == RunLink.run_id).where(Waiting.status == "waiting",
                                                             Run.status.in_(("failed", "cancelled")))).unique():
            fail_readers(s, source.id, source.status, source.error)
    return _send(settings, queued)


WAITING_FOR_CLAIM = ("queued", "interrupted")  # the statuses of a run whose message is in the broker or taken


def take(settings: Settings, run_id: int, me: str) -> bool:
    """Worker process ``me`` has taken run ``run_id``'s message and hands it to a child, which claims the run
    (marks it ``running``). Recorded as the run's worker and heartbeat, so that a worker killed in between is
    seen by the recovery loop: no broker gives such a message back in time (the folder broker deletes a message
    when it is taken; Redis puts an unacknowledged one back after ``VISIBILITY_TIMEOUT``). True when the run
    was still waiting for its claim."""
    with writing(get_engine(settings.database_url)) as s:
        taken = s.execute(update(Run).where(Run.id == run_id, Run.status.in_(WAITING_FOR_CLAIM))
                          .values(worker=me, heartbeat_at=clock(s)).execution_options(synchronize_session=False))
        if taken.rowcount == 1:
            add_event(s, run_id, "taken", f"message taken by {me}")
        return taken.rowcount == 1


def fail_readers(session: Any, run_id: int, status: str, error: str | None) -> list[int]:
    """The unfinished runs that read run ``run_id`` (directly or not) end too: it failed or was cancelled."""
    ended = []
    for run in readers(session, [run_id]):
        reason = f"input run {run_id} {status}" + (f": {error}" if error else "")
        new = "cancelled" if status == "cancelled" else "failed"
        if set_status(session, run.id, new, expected=ACTIVE, finished_at=clock(session), error=reason):
            ended.append(run.id)
    return ended


# ------------------------------------------------------------------------------------- the recovery loop

def recover(settings: Settings | None = None) -> dict[str, list[int]]:
    """Runs whose worker died: ``running`` with a dead process on this host, or with no heartbeat for
    ``Y8M_STALE_SECONDS`` from any host. Each is marked ``interrupted`` and sent again (it resumes from its
    checkpoint), or ``cancelled`` when cancel had been asked. Runs whose message a worker took and died with
    before claiming them (``take``), judged the same way, are sent again. Then ``dispatch``. Safe to run in several
    workers at once (each move is a guarded update)."""
    settings = settings or Settings.from_env()
    engine = get_engine(settings.database_url)
    me = worker_name()
    resend: list[tuple[int, str]] = []
    cancelled: list[int] = []  # cancel asked, or too many attempts: ended
    with writing(engine) as s:
        now = clock(s)  # the heartbeats' clock: the database's
        for run in s.scalars(select(Run).where(Run.status == "running").order_by(Run.id)).all():
            stale = run.heartbeat_at is None or now - run.heartbeat_at > timedelta(seconds=settings.stale_seconds)
            if not stale and process_alive(run.worker) is not False:  # a dead pid only speeds this up
                continue
            held = {"worker": run.worker, "heartbeat_at": run.heartbeat_at}  # unless it was claimed meanwhile
            beat = f" (last heartbeat {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC)" if run.heartbeat_at else ""
            seen = f"worker {run.worker} stopped at step {run.step}{beat}"
            if run.cancel_requested or run.attempts >= MAX_ATTEMPTS:
                new, why = (("cancelled", seen) if run.cancel_requested else
                            ("failed", f"{seen}; {run.attempts} attempts, each ended by its worker stopping"))
                if set_status(s, run.id, new, expected=("running",), match=held, finished_at=now, error=why):
                    cancelled.append(run.id)
                    fail_readers(s, run.id, new, why)
                continue
            if set_status(s, run.id, "interrupted", expected=("running",), match=held, celery_id=None, worker=None,
                          heartbeat_at=None, error=f"{seen}; sent again by {me} to resume from its last checkpoint"):
                resend.append((run.id, run.kind))
        for run in s.scalars(select(Run).where(Run.status.in_(WAITING_FOR_CLAIM), Run.worker.is_not(None))).all():
            # taken (``take``) by a worker that died before its child claimed the run: its message is gone
            stale = run.heartbeat_at is None or now - run.heartbeat_at > timedelta(seconds=settings.stale_seconds)
            if not stale and process_alive(run.worker) is not False:
                continue
            lost = s.execute(update(Run).where(Run.id == run.id, Run.status == run.status, Run.worker == run.worker,
                                                  Run.heartbeat_at == run.heartbeat_at)
                             .values(celery_id=None, worker=None, heartbeat_at=None)
                             .execution_options(synchronize_session=False))
            if lost.rowcount == 1:
                add_event(s, run.id, run.status, f"worker {run.worker} took its message and stopped before starting "
                          f"it; sent again by {me}")
        unsent = s.execute(select(Run.id, Run.kind).where(Run.status.in_(WAITING_FOR_CLAIM),
                                                          Run.celery_id.is_(None))).all()
    resend += [(run_id, kind) for run_id, kind in unsent if (run_id, kind) not in resend]
    resent = _send(settings, resend)
    log.info("recovery: %d sent again, %d ended", len(resent), len(cancelled))
    return {"resent": resent, "ended": cancelled, "dispatched": dispatch(settings)}
