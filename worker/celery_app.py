"""The Celery app, configured from environment variables only (``db.settings``).

Embedded default: broker ``filesystem://`` (folders under ``$Y8M_HOME/broker``; revoke and ping work through
its control folder). Several machines: ``Y8M_BROKER_URL=redis://...``. JSON only, never pickle. Task results
are not stored: the run store is the record (a second copy in a result backend would be one more thing to
keep consistent), so no result backend is configured.

Workers and torch (ARCHITECTURE.md): prefork with one process per GPU and a fresh child per run
(``y8m worker`` passes ``-P prefork -c 1 --max-tasks-per-child 1``), late acks, prefetch 1, reject on a lost
child (Redis puts the message back). The parent never imports torch (a forked child deadlocks if the parent
ran a torch op): ``worker.tasks`` imports the training code inside the task.

Task events (what flower shows, ``docker-compose.yml``) are sent with Redis (or any network broker), not with the
embedded folder broker: there nothing watches them, and each would be one more file written per task.
"""

from __future__ import annotations

from functools import cache

from celery import Celery

from db.settings import Settings

QUEUES = ("gpu", "cpu")
# A run's kind -> (task name, queue). Stacking trains a small model (gpu); a merge averages top-k lists (cpu).
ROUTES = {"train": ("y8m.train", "gpu"), "stack": ("y8m.stack", "gpu"), "merge": ("y8m.merge", "cpu"),
          "predict": ("y8m.predict", "gpu")}
# Redis redelivers an unacknowledged message after this; it must exceed the longest run (the recovery loop, not
# redelivery, recovers runs whose worker died).
VISIBILITY_TIMEOUT = 30 * 24 * 3600
# Brokers whose workers and senders emit no task events (see the docstring).
NO_EVENTS = ("filesystem://", "memory://")


def make_celery(settings: Settings) -> Celery:
    app = Celery("y8m")
    events = not settings.broker_url.startswith(NO_EVENTS)
    options: dict = {"visibility_timeout": VISIBILITY_TIMEOUT}
    if settings.broker_url.startswith("filesystem://"):
        folder = settings.home / "broker"
        for sub in ("queue", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        options = {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
                   "control_folder": str(folder / "control"), "store_processed": False, "polling_interval": 0.5}
    app.conf.update(
        broker_url=settings.broker_url, broker_transport_options=options, broker_connection_retry_on_startup=True,
        task_serializer="json", accept_content=["json"], result_serializer="json", task_ignore_result=True,
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_default_queue="gpu", worker_hijack_root_logger=False, worker_redirect_stdouts=False,
        worker_send_task_events=events, task_send_sent_event=events, imports=("worker.tasks",))
    return app


@cache
def celery_for(settings: Settings) -> Celery:
    """The app for these settings (the API sends with the caller's; tests switch brokers between tests)."""
    return make_celery(settings)


celery = celery_for(Settings.from_env())
