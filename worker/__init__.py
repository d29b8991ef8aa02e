"""Celery workers and the run API: ``runs`` (submit, list, show, cancel, predict; the DAG's dispatch and the
sweeper), ``celery_app`` (configured from the environment only), ``tasks`` (thin: a run id in, the run out),
``execute`` (what a task does with its run), ``cli`` (``y8m runs ...``, ``y8m worker``)."""
