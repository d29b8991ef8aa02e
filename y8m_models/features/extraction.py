"""An extraction: videos to turn into a dataset, as a folder a worker runs (the ``y8m.extract`` task, on the
``cpu`` or ``gpu`` queue), and optionally a trained run's predictions on them: what the dashboard's "Try a video"
page sends. Importable without torch (the page reads it); running one imports the extractor.

``FOLDER/extraction.json`` (``write_extraction``) names the videos, the dataset to write, the options, and the run
to predict with; the worker writes ``FOLDER/progress.json`` as it goes and ``FOLDER/result.json`` at the end: the
dataset, and per video its frames and top labels with their scores; the attention weights of models that have
them in ``FOLDER/attention.npz`` (``weights/<id>`` [frames, K]). One sent again (its worker was killed) goes on
where the extractor's per-video cache stopped, and a finished one is not done twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from y8m_models import atomic
from y8m_models.features.options import EXTRACT_FILE, ExtractOptions, Progress

EXTRACTION_FILE, PROGRESS_FILE, RESULT_FILE = "extraction.json", "progress.json", "result.json"
ATTENTION_FILE = "attention.npz"
DATA_DIR = "data"
TOP_K = 20


def write_extraction(folder: Path, videos: list[Path], options: ExtractOptions, *, out: Path | None = None,
                     run_dir: Path | None = None, labels: Path | None = None, vocabulary: Path | None = None,
                     ratios: tuple[float, ...] | None = None, seed: int = 0) -> Path:
    """``folder/extraction.json``; the dataset goes to ``out`` (default ``folder/data``). With ``run_dir`` the
    videos are extracted as that run's dataset was (``ExtractOptions.like``; ``options`` gives the device only)
    and predicted."""
    def absolute(path: Path | str | None) -> str | None:  # a worker runs elsewhere: no path relative to here
        return str(Path(path).resolve()) if path else None

    folder.mkdir(parents=True, exist_ok=True)
    options = replace(options, weights=absolute(options.weights), audio_weights=absolute(options.audio_weights),
                      pca=absolute(options.pca))
    request = {"videos": [absolute(v) for v in videos], "options": asdict(options),
               "out": absolute(out or folder / DATA_DIR), "run_dir": absolute(run_dir), "labels": absolute(labels),
               "vocabulary": absolute(vocabulary), "ratios": list(ratios) if ratios else None, "seed": seed,
               "created": time.time()}
    atomic.write_text(folder / EXTRACTION_FILE, json.dumps(request, indent=1))
    return folder


def _tell(folder: Path, state: str, **fields: Any) -> None:
    atomic.write_text(folder / PROGRESS_FILE, json.dumps({"state": state, "updated": time.time(), **fields}))


def read_state(folder: Path) -> dict[str, Any]:
    """The extraction's progress (``state``: queued, extracting, predicting, succeeded, failed), with its result
    once it has succeeded."""
    out: dict[str, Any] = {"state": "queued"}
    for name in (PROGRESS_FILE, RESULT_FILE):
        try:
            out.update(json.loads((folder / name).read_text(encoding="utf-8")))
        except FileNotFoundError:
            continue
    if (folder / RESULT_FILE).is_file():  # its worker may have stopped between the result and saying so
        out["state"] = "succeeded"
    return out


def run_extraction(folder: Path, device: str | None = None) -> dict[str, Any]:
    """Extract (and predict) as ``folder/extraction.json`` says, on ``device`` where given (else its own); the
    result, also in ``folder/result.json``. Errors are written to ``progress.json`` (state failed) and raised."""
    if (folder / RESULT_FILE).is_file():  # sent again after it finished
        _tell(folder, "succeeded")
        return json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    request = json.loads((folder / EXTRACTION_FILE).read_text(encoding="utf-8"))
    try:
        result = _run(folder, request, device)
    except Exception as exc:
        _tell(folder, "failed", error=str(exc))
        raise
    atomic.write_text(folder / RESULT_FILE, json.dumps(result, indent=1))
    _tell(folder, "succeeded")
    return result


def _made_by(data: Path, request: dict[str, Any]) -> bool:
    """``data`` is the dataset of this extraction (written before its worker stopped): the same video files. One
    of other videos is not taken for it (``extract`` refuses to write over it)."""
    try:
        made = json.loads((data / EXTRACT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    from y8m_models.features.video import video_files

    wanted = sorted(str(p.resolve()) for p in video_files([Path(v) for v in request["videos"]]))
    return sorted(v["file"] for v in made.get("videos", {}).values()) == wanted


def _run(folder: Path, request: dict[str, Any], device: str | None) -> dict[str, Any]:
    from y8m_models.data.vocabulary import find_vocabulary
    from y8m_models.features.extract import extract  # torch: only where an extraction runs

    options = ExtractOptions(**request["options"])
    if device:
        options = replace(options, device=device)
    run = vocabulary = None
    if request["run_dir"]:
        from y8m_models.experiment import open_run

        run = open_run(Path(request["run_dir"]))
        options = ExtractOptions.like(run.data, device=options.device)
        vocabulary = find_vocabulary(run.data / run.model.level)
    elif request["vocabulary"]:
        vocabulary = Path(request["vocabulary"])

    def progress(p: Progress) -> None:
        _tell(folder, "extracting", video=p.video, index=p.index, videos=p.videos, frames=p.frames, stage=p.stage)

    data = Path(request["out"])
    if not _made_by(data, request):  # sent again after its dataset was written: goes on from there
        labels = Path(request["labels"]) if request["labels"] else None
        ratios = tuple(request["ratios"]) if request.get("ratios") else None
        extract([Path(v) for v in request["videos"]], data, labels=labels, vocabulary=vocabulary, options=options,
                ratios=ratios, seed=request.get("seed", 0), progress=progress)
    made = json.loads((data / EXTRACT_FILE).read_text(encoding="utf-8"))
    result: dict[str, Any] = {"dataset": str(data), "videos": {v: {"frames": d["frames"], "audio": d["audio"]}
                                                                for v, d in made["videos"].items()}}
    if run is None:
        return result
    _tell(folder, "predicting", run=str(request["run_dir"]))
    from y8m_models.data.vocabulary import read_vocabulary
    from y8m_models.experiment import predictions_on

    out = predictions_on(run, data, "test", attention_of=set(result["videos"]), device=options.device)
    names = list(read_vocabulary(vocabulary).names) if vocabulary else []
    scores = out.scores.numpy()
    for row, vid in enumerate(out.ids):
        top = np.argsort(-scores[row], kind="stable")[:min(TOP_K, scores.shape[1])]
        result["videos"][vid]["top"] = [{"class": int(c), "name": names[c] if c < len(names) else str(int(c)),
                                         "score": float(scores[row, c])} for c in top]
    if out.attention:
        atomic.save_npz(folder / ATTENTION_FILE, **{f"weights/{v}": w.numpy() for v, w in out.attention.items()})
        result["attention"] = ATTENTION_FILE
    result["run"] = {"dir": str(request["run_dir"]), "name": run.config.name}
    return result
