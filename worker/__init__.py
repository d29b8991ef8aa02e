"""Celery workers and the run API: ``runs`` (submit, list, show, cancel, predict), ``schedule`` (the DAG's
dispatch and the recovery loop), ``sweeps`` (hyper-parameter searches whose trials are runs), ``celery_app``
(configured from the environment only), ``tasks`` (thin: a run id in, the run out), ``execute`` (what a task does
with its run), ``cli`` (``y8m runs ...``, ``y8m sweep``, ``y8m worker``)."""
