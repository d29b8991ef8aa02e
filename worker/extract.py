"""Extractions sent to the workers (``y8m data extract --queue``, the dashboard's "Try a video"): a folder under
``$Y8M_HOME/extractions`` (``y8m_models.features.extraction``) and a ``y8m.extract`` message naming it, on the
``cpu`` or ``gpu`` queue. An extraction is not a run (it trains and scores nothing); its folder is its record.
One whose worker was killed is sent again with ``resend`` and goes on at the next video."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from db.engine import get_engine, reading
from db.models import Run
from db.settings import Settings
from worker.celery_app import QUEUES, celery_for
from worker.runs import SubmitError
from y8m_models import atomic
from y8m_models.features.extraction import write_extraction
from y8m_models.features.options import EXTRACT_FILE, ExtractOptions

TASK = "y8m.extract"
EXTRACTIONS_DIR = "extractions"
QUEUE_FILE = "queue"


def extractions_dir(settings: Settings) -> Path:
    return settings.home / EXTRACTIONS_DIR


def new_extraction_dir(settings: Settings) -> Path:
    """A fresh folder for an extraction (its uploads go in too)."""
    folder = extractions_dir(settings) / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True)
    return folder


def run_dir_of(run_id: int, settings: Settings) -> Path:
    """A succeeded single-model training run's folder, whose dataset ``y8m data extract`` made."""
    with reading(get_engine(settings.database_url)) as s:
        run = s.get(Run, run_id)
        if run is None:
            raise SubmitError(f"run {run_id} does not exist")
        if run.kind != "train" or run.status != "succeeded":
            raise SubmitError(f"run {run_id} is a {run.status} {run.kind} run: pick a succeeded training run")
        if (run.config.get("model") or {}).get("cascade"):  # a train run is a single model
            raise SubmitError(f"run {run_id} ({run.slug}) reads other runs' predictions, which new videos do not "
                              "have: pick a single model without a cascade input")
        folder, dataset = settings.artifacts / run.artifact_dir, Path(run.dataset.path)
    if not (dataset / EXTRACT_FILE).is_file():
        raise SubmitError(f"run {run_id} was trained on {dataset}, which y8m data extract did not make: videos cannot "
                          "be turned into the features it reads")
    return folder


def submit(videos: list[Path], options: ExtractOptions, *, folder: Path | None = None, out: Path | None = None,
           run_id: int | None = None, labels: Path | None = None, vocabulary: Path | None = None,
           ratios: tuple[float, ...] | None = None, seed: int = 0, queue: str = "cpu",
           settings: Settings | None = None) -> Path:
    """Write the extraction (into ``folder``, or a new one) and send it to ``queue``; returns its folder. What the
    worker would refuse at once is refused here, before anything is sent: another queue, a run that cannot be
    tried, an ``out`` that is not new (or empty), a name that is no video file or a file PyAV cannot open."""
    from y8m_models.data.errors import Y8MDataError
    from y8m_models.features.video import check_video, video_files

    settings = settings or Settings.from_env()
    if queue not in QUEUES:
        raise SubmitError(f"--queue {queue!r}: one of {', '.join(QUEUES)}")
    if out is not None and not atomic.new_or_empty(out):
        raise SubmitError(f"{out}: exists and is not an empty folder: choose a new one")
    try:
        for path in video_files(list(videos)):
            check_video(path)
    except Y8MDataError as exc:
        raise SubmitError(str(exc)) from None
    run_dir = run_dir_of(run_id, settings) if run_id is not None else None
    folder = write_extraction(folder or new_extraction_dir(settings), videos, options, out=out, run_dir=run_dir,
                              labels=labels, vocabulary=vocabulary, ratios=ratios, seed=seed)
    (folder / QUEUE_FILE).write_text(queue)
    resend(folder, settings)
    return folder


def queue_of(folder: Path) -> str:
    """The queue an extraction was sent to."""
    path = folder / QUEUE_FILE
    return path.read_text().strip() if path.is_file() else "cpu"


def resend(folder: Path, settings: Settings | None = None) -> None:
    """Send the extraction's message (again): one whose worker stopped goes on where its cache stopped."""
    settings = settings or Settings.from_env()
    celery_for(settings).send_task(TASK, args=[str(folder)], queue=queue_of(folder))
