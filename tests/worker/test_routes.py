"""Every kind of run is sent to a task the workers register, on a queue they listen to."""

from __future__ import annotations

from db.models import KINDS
from worker.celery_app import QUEUES, ROUTES
from worker.tasks import celery


def test_every_kind_of_run_has_a_registered_task() -> None:
    assert set(ROUTES) == set(KINDS)
    assert {name for name, _ in ROUTES.values()} <= set(celery.tasks)
    assert {queue for _, queue in ROUTES.values()} <= set(QUEUES)
    assert ROUTES["merge"] == ("y8m.merge", "cpu")
    assert "y8m.stack" in celery.tasks  # it takes the merges queued before y8m.merge, too
