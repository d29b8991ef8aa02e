"""What the pages read, cached: the run store's queries (``db.queries``) and the artifact files (attention
dumps, stacking weights, prediction stores, synthetic thumbnails). Loaders return plain data (dicts, lists,
arrays, DataFrames); the pages turn it into widgets and ``app.components`` figures. Nothing here trains or
writes, except ``engine()``'s first call, which brings the schema to its newest revision and syncs the numbered
configurations (``worker.runs.prepare``; that reads the configuration registry), and the Runs page's downloads,
made in temporary folders (``export_model`` runs ``y8m export`` in a process of its own). "Try a video" reads its
extractions' folders (``$Y8M_HOME/extractions``: ``worker.extract``)."""

from __future__ import annotations

import io
import json
import subprocess
import tempfile
import zipfile
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import selectinload

from app.components import frames, ranking
from db import queries
from db.engine import reading
from db.models import Run, Sweep, SweepTrial
from db.settings import Settings
from y8m_models.configs.registry import in_paper
from y8m_models.sizes import SIZE_LIMIT_2018, weight_bytes

SORTS = {"newest": Run.id.desc(), "oldest": Run.id.asc(), "start time": Run.started_at.desc(),
         "configuration": Run.number.asc()}


@st.cache_resource
def engine() -> Engine:
    from worker.store import prepare

    return prepare(Settings.from_env())


def settings() -> Settings:
    return Settings.from_env()


@st.cache_data(ttl=3600)
def configurations() -> list[dict[str, Any]]:
    with reading(engine()) as s:
        return [{"number": c.number, "slug": c.slug, "title": c.title, "section": c.section,
                 "paper_section": c.paper_section, "kind": c.kind, "level": c.level or "ensemble",
                 "paper_gap": c.paper_gap, "paper_private_gap": c.paper_private_gap}
                for c in queries.configurations(s)]


@st.cache_data(ttl=2)
def variants() -> list[dict[str, Any]]:
    """The saved variants: name, base (number, slug), changed values, note, who saved it, the run that froze it."""
    with reading(engine()) as s:
        return [{"name": v.name, "number": v.number, "slug": v.slug, "overrides": v.overrides, "note": v.note,
                 "created_by": v.created_by, "frozen_by": v.frozen_by} for v in queries.variants(s)]


@st.cache_data(ttl=5)
def datasets() -> list[dict[str, Any]]:
    with reading(engine()) as s:
        return [{"id": d.id, "name": d.name, "path": d.path, "classes": d.num_classes, "synthetic": d.synthetic,
                 "splits": d.splits, "created": d.created_at} for d in queries.datasets(s)]


RUN_COLUMNS = ["id", "status", "#", "configuration", "kind", "dataset", "preset", "seed", "tags", "sweep · trial",
               "progress", "step", "loss", "validate1 GAP", "validate2 GAP", "parameters", "started", "error",
               "archived"]


@st.cache_data(ttl=2)
def runs_table(status: tuple[str, ...] = (), number: int | None = None, dataset_id: int | None = None,
               sort: str = "newest", limit: int = 500, *, tags: tuple[str, ...] = (), search: str = "",
               where: tuple[str, ...] = (), archived: bool | None = False) -> pd.DataFrame:
    """The runs as a table: newest ``limit`` after the filters, sorted (GAP sorts the loaded rows); a run's size
    is its parameters with those of every run it needs to predict (``queries.sizes``). ``tags``, ``search`` and
    ``where`` (``key OP value`` lines ``curation.ValueFilter.parse`` takes) keep the runs ``curation.matches``;
    ``archived``: False hides the archived runs, None shows them too. A sweep's trial names its sweep and number."""
    from worker.curation import ValueFilter, matches

    filters = [ValueFilter.parse(line) for line in where]
    with reading(engine()) as s:
        query = queries.runs_query(status or None, None if number is None else [number], dataset_id,
                                   archived).options(selectinload(Run.scores))
        if sort in SORTS:
            query = query.order_by(None).order_by(SORTS[sort], Run.id.desc())
        if tags or search or filters:  # in Python: tags are JSON, the values the frozen configuration's
            found = list(islice((r for r in s.scalars(query) if matches(r, tags, search, filters)), limit))
        else:
            found = list(s.scalars(query.limit(limit)))
        size = queries.sizes(s, [r.id for r in found])
        trials = {run_id: f"{name} · {n}" for run_id, name, n in s.execute(
            select(SweepTrial.run_id, Sweep.name, SweepTrial.number).join(Sweep, Sweep.id == SweepTrial.sweep_id)
            .where(SweepTrial.run_id.in_([r.id for r in found])))}
        rows = [{"id": r.id, "status": r.status, "#": r.number,
                 "configuration": f"{r.slug} · {r.variant.name}" if r.variant else r.slug, "kind": r.kind,
                 "dataset": r.dataset.name, "preset": r.preset, "seed": r.seed, "tags": list(r.tags),
                 "sweep · trial": trials.get(r.id),
                 "progress": (r.step / r.steps) if r.steps else (1.0 if r.status == "succeeded" else 0.0),
                 "step": r.step, "loss": r.loss, "validate1 GAP": r.gap("validate1"),
                 "validate2 GAP": r.gap("validate2"), "parameters": size[r.id], "started": r.started_at,
                 "error": r.error, "archived": r.archived_at}
                for r in found]
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    if sort == "validate2 GAP":
        frame = frame.sort_values("validate2 GAP", ascending=False, na_position="last")
    return frame


@st.cache_data(ttl=5)
def run_tags() -> list[str]:
    """Every tag on a run (archived runs' too), sorted."""
    with reading(engine()) as s:
        return sorted({tag for tags in s.scalars(select(Run.tags)) for tag in tags or ()})


@st.cache_data(ttl=5)
def run_values(run_ids: tuple[int, ...]) -> list[dict[str, Any]]:
    """What ``run_views.parallel_coordinates`` draws of each run, in ``run_ids``' order: its id, its values (the
    configuration or variant, preset, seed and the frozen configuration's ``model`` and ``ensemble``) and its
    validate1 and validate2 GAP."""
    with reading(engine()) as s:
        found = {r.id: r for r in s.scalars(select(Run).where(Run.id.in_(run_ids)).options(selectinload(Run.scores)))}
        return [{"id": r.id, "values": {"configuration": f"{r.slug} · {r.variant.name}" if r.variant else r.slug,
                                        "preset": r.preset, "seed": r.seed, "model": r.config.get("model"),
                                        "ensemble": r.config.get("ensemble")},
                 "validate1 GAP": r.gap("validate1"), "validate2 GAP": r.gap("validate2")}
                for r in (found[i] for i in run_ids if i in found)]


# Downloads of a run's files: served from the dashboard's memory, so each is held to this size (the command line
# has the rest: `y8m export`, `y8m predict --submission`, the run's folder).
DOWNLOAD_LIMIT = 200 * 10**6
EXPORT_SECONDS = 600
CSV_BYTES_PER_PAIR = 16  # "123 0.456789 ": a top-20 CSV's size is estimated from it before it is made


@st.cache_data(ttl=5)
def prediction_stores(run_dir: str) -> list[dict[str, Any]]:
    """The splits of a run folder's prediction store (``y8m_models.store``: ``RUN_DIR/predictions/<split>``): split,
    folder, rows, classes, k (None: dense), the bytes of its files and the estimated bytes of its top-20 CSV; or the
    split and why it cannot be read (``error``)."""
    from y8m_models.store import StoreError, read_predictions

    root, found = Path(run_dir) / "predictions", []
    for folder in sorted(root.iterdir() if root.is_dir() else []):
        if folder.name.startswith(".") or not folder.is_dir():  # a split being written (staging)
            continue
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        try:
            stored = read_predictions(folder)
        except StoreError as exc:
            found.append({"split": folder.name, "folder": str(folder), "bytes": size, "error": str(exc)})
            continue
        top_k = min(20, stored.k or stored.num_classes)
        found.append({"split": folder.name, "folder": str(folder), "rows": stored.rows,
                      "classes": stored.num_classes, "k": stored.k, "bytes": size, "top_k": top_k,
                      "csv_bytes": stored.rows * (20 + top_k * CSV_BYTES_PER_PAIR), "error": None})
    return found


def predictions_zip(folder: str) -> bytes:
    """A stored split's files (meta.json, ids.txt, scores.f16, and a top-k store's indices.i32) as a zip, in a
    folder named after the split: ``y8m_models.store.read_predictions`` reads it once unpacked."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(Path(folder).iterdir()):
            if path.is_file():
                archive.write(path, f"{Path(folder).name}/{path.name}")
    return buffer.getvalue()


class _DenseRows:
    """A stored split read as dense float32 rows a block at a time (``write_submission`` slices its input)."""

    def __init__(self, stored: Any):
        self.stored, self.shape = stored, (stored.rows, stored.num_classes)

    def __getitem__(self, rows: slice) -> np.ndarray:
        return self.stored.dense(rows)


def predictions_csv(folder: str) -> bytes:
    """A stored split as a Kaggle CSV (``y8m_models.submission``) of each video's top 20 classes with their scores
    (fewer where the store keeps fewer)."""
    from y8m_models.store import read_predictions
    from y8m_models.submission import write_submission

    stored = read_predictions(folder)
    with tempfile.TemporaryDirectory(prefix="y8m-top20-") as tmp:
        out = Path(tmp) / "top20.csv"
        write_submission(out, list(stored.ids), _DenseRows(stored), top_k=min(20, stored.k or stored.num_classes))
        return out.read_bytes()


def export_model(run_dir: str, dtype: str) -> tuple[bytes | None, str]:
    """``y8m export RUN_DIR OUT --dtype DTYPE --split none`` in a process of its own (this one never imports torch),
    into a temporary folder: the file's bytes and what the command printed, or None and why not (its error text,
    a time-out, a file over ``DOWNLOAD_LIMIT``)."""
    from worker.local import Y8M
    from y8m_models.sizes import human

    with tempfile.TemporaryDirectory(prefix="y8m-export-") as tmp:
        out = Path(tmp) / f"{Path(run_dir).name}-{dtype}.pt"
        try:
            done = subprocess.run([Y8M, "export", run_dir, str(out), "--dtype", dtype, "--split", "none"],
                                  capture_output=True, text=True, timeout=EXPORT_SECONDS)
        except subprocess.TimeoutExpired:
            return None, f"`y8m export` took more than {EXPORT_SECONDS} s: run it on the command line"
        except OSError as exc:
            return None, f"{Y8M}: cannot be started ({exc.strerror})"
        said = "\n".join(part.strip() for part in (done.stdout, done.stderr) if part.strip()).replace(tmp + "/", "")
        if done.returncode != 0 or not out.is_file():
            return None, said or f"`y8m export` exited with {done.returncode} and wrote nothing"
        if out.stat().st_size > DOWNLOAD_LIMIT:
            return None, (f"the {dtype} export is {human(out.stat().st_size)}, over the dashboard's download limit of "
                          f"{human(DOWNLOAD_LIMIT)}: `y8m export {run_dir} OUT --dtype {dtype}` writes it")
        return out.read_bytes(), said


@st.cache_data(ttl=1)
def run(run_id: int) -> dict[str, Any]:
    from worker.runs import show

    return show(run_id, settings())


@st.cache_data(ttl=2)
def series(run_id: int) -> dict[str, list[tuple[int, float]]]:
    with reading(engine()) as s:
        return queries.metric_series(s, run_id)


@st.cache_data(ttl=5)
def leaderboard(dataset_id: int | None) -> pd.DataFrame:
    """The numbered configurations with the paper's GAPs, our best validate2 / validate1 GAP on a dataset, and the
    paper's and our rank among the configurations with both a paper GAP and one of our validate2 GAPs; each
    saved variant in a row of its own under its base (``#25``, ``multi_ap_lstm · k16``), with its own best run
    and no paper GAP or rank. The best run's size: its parameters and those of every run it needs to predict
    (``queries.sizes``), at its preset, and their bytes in float32."""
    with reading(engine()) as s:
        best, counts = queries.best_scores(s), queries.run_counts(s)
        variant_best, variant_counts = queries.best_scores(s, variants=True), queries.run_counts(s, variants=True)
        saved = [(v.id, v.number, v.slug, v.name) for v in queries.variants(s)]
        size = queries.sizes(s, {run_id for _, d, split, _, run_id in best + variant_best
                                 if d == dataset_id and split == "validate2"})
    ours = {(n, split): (gap, run_id) for n, d, split, gap, run_id in best if d == dataset_id}
    theirs = {(v, split): (gap, run_id) for v, d, split, gap, run_id in variant_best if d == dataset_id}
    # ranked: the paper's 80 only (section B's published scores are on other data)
    paper = {c["number"]: c["paper_gap"] for c in configurations() if in_paper(c["number"])}
    ranks = ranking.paired_ranks({n: (paper.get(n), gap) for (n, split), (gap, _) in ours.items()
                                  if split == "validate2"})
    rows = []
    for c in configurations():
        v2, v1 = ours.get((c["number"], "validate2")), ours.get((c["number"], "validate1"))
        paper_rank, our_rank = ranks.get(c["number"], (None, None))
        rows.append({"#": c["number"], "configuration": c["slug"], "variant": "", "section": c["section"],
                     "level": c["level"],
                     "paper GAP": c["paper_gap"], "paper private LB": c["paper_private_gap"],
                     "our validate2 GAP": v2[0] if v2 else None, "our validate1 GAP": v1[0] if v1 else None,
                     "paper rank": paper_rank, "our rank": our_rank,
                     "runs": counts.get(c["number"], 0), "best run": v2[1] if v2 else None,
                     **_size(size.get(v2[1]) if v2 else None)})
        for vid, _, slug, name in (v for v in saved if v[1] == c["number"]):  # its variants, under it
            v2, v1 = theirs.get((vid, "validate2")), theirs.get((vid, "validate1"))
            rows.append({**rows[-1], "configuration": f"{slug} · {name}", "variant": name, "paper GAP": None,
                         "paper private LB": None, "our validate2 GAP": v2[0] if v2 else None,
                         "our validate1 GAP": v1[0] if v1 else None, "paper rank": None, "our rank": None,
                         "runs": variant_counts.get(vid, 0), "best run": v2[1] if v2 else None,
                         **_size(size.get(v2[1]) if v2 else None)})
    return pd.DataFrame(rows)


def _size(parameters: int | None) -> dict[str, Any]:
    """The leaderboard's size columns of a run of ``parameters`` parameters (None: not known)."""
    fp32 = None if parameters is None else weight_bytes(parameters)["fp32"]
    return {"parameters": parameters, "MB fp32": None if fp32 is None else fp32 / 1e6,
            "fits 1 GB": None if fp32 is None else fp32 <= SIZE_LIMIT_2018}


@st.cache_data(ttl=5)
def runs_with(kind: str) -> list[dict[str, Any]]:
    """Succeeded runs with an artifact of ``kind`` ("attention", "stacking_weights") and its files."""
    with reading(engine()) as s:
        rows = queries.runs_with_artifact(s, kind)
    root = settings().artifacts
    runs: dict[int, dict[str, Any]] = {}
    for run_id, number, slug, variant, folder, dataset, dataset_path, split, path in rows:
        name = f"{slug} · {variant}" if variant else slug
        run = runs.setdefault(run_id, {"id": run_id, "label": f"run {run_id}: #{number or '-'} {name} ({dataset})",
                                       "dataset": dataset_path, "dir": str(root / folder), "files": {}})
        run["files"][split] = str(root / path)
    return list(runs.values())


@st.cache_data
def npz(path: str, mtime: float) -> dict[str, np.ndarray]:
    """An .npz artifact's arrays (``mtime`` keys the cache: a rewritten file is read again)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load_npz(path: str) -> dict[str, np.ndarray]:
    return npz(path, Path(path).stat().st_mtime)


@st.cache_resource
def vocabulary(dataset: str) -> Any:
    """The dataset's ``Vocabulary`` (vocabulary.csv beside a level folder or in the dataset), or None."""
    from y8m_models.data.vocabulary import find_vocabulary, read_vocabulary

    for level in ("video", "frame", ""):
        found = find_vocabulary(Path(dataset) / level) if (Path(dataset) / level).is_dir() else None
        if found:
            return read_vocabulary(found)
    return None


def class_names(dataset: str) -> list[str]:
    found = vocabulary(dataset)
    return list(found.names) if found else []


def class_order(dataset: str, num_classes: int) -> np.ndarray:
    """Class indices, most frequent in train1 first (vocabulary.csv's TrainVideoCount; else by index)."""
    found = vocabulary(dataset)
    counts = found.train_counts if found else None
    if counts is not None and len(counts) == num_classes:
        return np.argsort(-counts, kind="stable")
    return np.arange(num_classes)


@st.cache_data
def uninformative(dataset: str) -> dict[str, np.ndarray]:
    """Synthetic datasets: each video's ground-truth uninformative frames (bool [360]); {} otherwise."""
    path = Path(dataset) / "ground_truth.npz"
    if not path.exists():
        return {}
    with np.load(path) as truth:
        return dict(zip(truth["ids"].tolist(), truth["uninformative"], strict=True))


@st.cache_data
def thumbnail(dataset: str, video_id: str, frame: int) -> bytes | None:
    """A video's frame: a synthetic one's as PNG (regenerated from synthetic.json), the JPEG ``y8m data extract``
    kept of one from a user's videos, else None (YouTube-8M's own data ships no frames)."""
    if not (Path(dataset) / "synthetic.json").exists():
        return extraction_frame(dataset, video_id, frame)
    from y8m_models.data.thumbnails import png_bytes
    from y8m_models.data.thumbnails import thumbnail as draw

    return png_bytes(draw(Path(dataset), video_id, frame, size=96))


@st.cache_data(ttl=30)
def top_predictions(run_dir: str, split: str, video_id: str, k: int = 5) -> list[tuple[int, float]]:
    from y8m_models.store import StoreError, read_predictions

    try:
        stored = read_predictions(Path(run_dir) / "predictions" / split)
        scores = stored.dense(stored.row_of([video_id]))[0]
    except StoreError:
        return []
    top = np.argsort(-scores)[:k]
    return [(int(c), float(scores[c])) for c in top]


# ------------------------------------------------------------------------------------------------ paper sets

def _manifest(name: str) -> Any:
    from worker.paper import manifests

    found = {m.name: m for m in manifests(settings())}
    if name not in found:
        raise KeyError(f"no paper set {name!r} under {settings().artifacts / 'paper'}; sets: {sorted(found)}")
    return found[name]


@st.cache_data(ttl=5)
def paper_sets() -> list[dict[str, Any]]:
    """The paper sets (``worker.paper.manifests``: ``$Y8M_ARTIFACTS/paper/*.json``), newest first: name, dataset,
    created, tables, seeds, preset and how many runs the set asked for. ValueError on a manifest it cannot read."""
    from worker.paper import manifests

    return [{"name": m.name, "dataset": m.dataset, "created": m.created, "tables": list(m.options.tables),
             "seeds": m.options.seeds, "preset": m.options.preset, "runs": len(m.runs)}
            for m in manifests(settings())]


@st.cache_data(ttl=2)
def paper_statuses(name: str) -> dict[int, str]:
    """Each run of the paper set ``name``: its status now."""
    from worker.paper import statuses

    return statuses(_manifest(name).runs.values(), settings())


@st.cache_data(ttl=2)
def paper_report(name: str) -> dict[str, Any]:
    """The paper set's report from the database as it is now (``worker.paper.report``: tables, comparisons,
    summary; ``meta["runs"]``: each row's run name -> run ids, one per seed)."""
    from worker.paper import report

    return report(_manifest(name), settings())


@st.cache_data(ttl=5)
def demo_findings(dataset: str) -> dict[str, Any]:
    """The demo's three findings on a dataset (``worker.paper.demo_findings``) from the database and the runs'
    artifacts as they are now."""
    from worker.paper import demo_findings as findings

    return findings(dataset, settings())


# ---------------------------------------------------------------------------------------------- try a video

@st.cache_data(ttl=5)
def tryable_runs() -> list[dict[str, Any]]:
    """The runs "Try a video" predicts with, newest first: succeeded training runs (single models: a stack cannot
    predict on new videos yet, nor a cascade, which reads other runs' predictions) on a dataset that ``y8m data
    extract`` made, so that a video can be extracted as that dataset's were. Each: id, label (run, configuration
    or variant, dataset; "attention" where the run kept attention weights), its folder, and whether the dataset's
    networks had random weights (testing only)."""
    from y8m_models.data.errors import Y8MDataError
    from y8m_models.features.options import EXTRACT_FILE, ExtractOptions

    with reading(engine()) as s:
        extracted = [d.id for d in queries.datasets(s) if (Path(d.path) / EXTRACT_FILE).is_file()]
        attention = {row[0] for row in queries.runs_with_artifact(s, "attention")}
        rows = sorted(((r.id, r.number, f"{r.slug} · {r.variant.name}" if r.variant else r.slug, r.artifact_dir,
                        r.dataset.name, r.dataset.path)
                       for dataset_id in extracted
                       for r in s.scalars(queries.runs_query(["succeeded"], dataset_id=dataset_id)
                                          .where(Run.kind == "train"))
                       if not (r.config.get("model") or {}).get("cascade")), reverse=True)
    random: dict[str, bool | None] = {}  # by dataset: its networks' weights were random; None: unreadable
    for path in {row[-1] for row in rows}:
        try:
            random[path] = ExtractOptions.like(Path(path)).random_weights
        except Y8MDataError:  # a damaged extract.json: its videos' features cannot be made again
            random[path] = None
    root, runs = settings().artifacts, []
    for run_id, number, name, folder, dataset, path in rows:
        if random[path] is None:
            continue
        runs.append({"id": run_id, "dir": str(root / folder), "random_weights": random[path],
                     "label": f"run {run_id}: #{number or '-'} {name} ({dataset})"
                              + (" · attention" if run_id in attention else "")})
    return runs


@st.cache_data(ttl=2)
def try_extractions(limit: int = 30) -> list[dict[str, Any]]:
    """The newest ``limit`` extractions under ``$Y8M_HOME/extractions`` that predict with a run
    (``worker.extract``), newest first: name (the folder's), folder, videos (file names), the run's folder and the
    queue."""
    from worker.extract import extractions_dir, queue_of
    from y8m_models.features.extraction import EXTRACTION_FILE

    root = extractions_dir(settings())
    found: list[dict[str, Any]] = []
    for folder in sorted(root.iterdir() if root.is_dir() else [], key=lambda p: p.name, reverse=True):
        try:
            request = json.loads((folder / EXTRACTION_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # not an extraction's folder, or one being written
            continue
        if not request.get("run_dir"):  # an extraction alone (y8m data extract --queue): nothing to show here
            continue
        found.append({"name": folder.name, "folder": str(folder), "videos": [Path(v).name for v in request["videos"]],
                      "run_dir": request["run_dir"], "queue": queue_of(folder)})
        if len(found) == limit:
            break
    return found


@st.cache_data(ttl=1)
def extraction_state(folder: str) -> dict[str, Any]:
    """An extraction's progress, and its result once it has succeeded
    (``y8m_models.features.extraction.read_state``)."""
    from y8m_models.features.extraction import read_state

    return read_state(Path(folder))


def extraction_frame(dataset: str, video_id: str, second: int) -> bytes | None:
    """The thumbnail of a video's frame at ``second`` in a dataset ``y8m data extract`` made, or None."""
    from y8m_models.features.options import FRAMES_DIR

    return frames.frame_image(Path(dataset) / FRAMES_DIR, video_id, second)


# --------------------------------------------------------------------------------------------------- sweeps

@st.cache_data(ttl=2)
def sweeps() -> list[dict[str, Any]]:
    """Every sweep, newest first (``worker.sweeps.list_sweeps``): id, name, status, configuration, dataset, budget,
    trials by state, the best trial."""
    from worker.sweeps import list_sweeps

    return list_sweeps(settings())


@st.cache_data(ttl=1)
def sweep(sweep_id: int) -> dict[str, Any]:
    """A sweep with its trials as they are now (``worker.sweeps.show_sweep``); ``SweepError`` for an unknown id."""
    from worker.sweeps import show_sweep

    return show_sweep(sweep_id, settings())


@st.cache_data(ttl=600)
def sweep_importances(sweep_id: int, complete: tuple[int, ...]) -> tuple[dict[str, float], str | None]:
    """Optuna's importance of each varied key for the value over the sweep's complete trials (``complete``, their
    numbers, keys the cache: a new complete trial computes them again), and why they say little where Optuna warns
    (too few trials, equal values), or ({}, why) where there are none."""
    import warnings

    import optuna

    from worker.sweeps import show_sweep, study_of

    if len(complete) < 2:
        return {}, f"parameter importance needs 2 complete trials; this sweep has {len(complete)}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            found = optuna.importance.get_param_importances(study_of(show_sweep(sweep_id, settings())))
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            return {}, f"parameter importance: {exc}"
    said = "; ".join(dict.fromkeys(str(w.message) for w in caught))
    return {k: float(v) for k, v in found.items()}, (f"Optuna: {said}" if said else None)
