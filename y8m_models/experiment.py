"""A run directory and what a user does with one: train a configuration, evaluate it on a split, predict a
split into the prediction store and, for the test split, a submission CSV.

``RUN_DIR/``: ``run.json`` (the frozen configuration and what the run was asked: data, preset, seed,
steps, overrides, classes), ``metrics.jsonl`` (one JSON object per line: training progress every few steps,
then evaluations), ``checkpoint.pt`` (``y8m_models.train``; to resume), ``best.pt`` (the weights with the
best validate1 GAP, the paper's checkpoint selection; used by eval and predict), ``predictions/<split>/``
(``store.py``), ``attention/<split>.npz``.

Bad input stops before any training with a message naming what is wrong: a missing data directory, a
split without files, a configuration whose input level does not match the data, a class count that is
unknown, an output directory that cannot be written or already holds another run.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from y8m_models import atomic
from y8m_models.configs import ConfigError, Configuration, resolve
from y8m_models.configs.build import build_model, parameter_count
from y8m_models.configs.schema import SingleModel
from y8m_models.data.dataset import detect_level, read_record
from y8m_models.data.errors import Y8MDataError
from y8m_models.data.layout import YOUTUBE_8M, FeatureLayout, check_same, find_layout
from y8m_models.data.splits import PAPER_GLOBS, split_files
from y8m_models.data.tfrecord import TFRecordFile
from y8m_models.data.vocabulary import find_vocabulary, read_vocabulary, resolve_num_classes
from y8m_models.distributed import barrier, current
from y8m_models.metrics import evaluate
from y8m_models.models import ModelInputs
from y8m_models.numerics import Numerics
from y8m_models.store import PredictionLookup, PredictionWriter, StoreError, read_predictions
from y8m_models.train import CHECKPOINT, Callback, Predictions, SideInputs, TrainState, fit, predict

RUN_FILE, METRICS_FILE, BEST = "run.json", "metrics.jsonl", "best.pt"


class RunError(ValueError):
    """Input that a run cannot start from; the message names the file, folder, split or option."""


@dataclass(frozen=True)
class Run:
    """A run directory's frozen description (``run.json``)."""

    dir: Path
    config: Configuration
    data: Path
    preset: str
    seed: int
    steps: int
    num_classes: int
    # Other runs this one reads: "init" (a run directory whose checkpoint it continues),
    # "teacher" (a run directory: distillation targets on train1), "streams" (run directories: the cascade
    # input), "example_weights" (an .npz of ensemble.weights.ExampleWeights).
    inputs: dict[str, Any] = field(default_factory=dict)
    numerics: Numerics = Numerics()  # how it trains and predicts: precision, determinism
    features: FeatureLayout = YOUTUBE_8M  # the dataset's feature names and widths it trains on (data.layout)

    @property
    def model(self):
        return self.config.model

    def side_inputs(self) -> SideInputs:
        """What training reads beside the records: loss weights, the teacher's train1 predictions, the
        cascade streams' train1 predictions."""
        from y8m_models.ensemble.weights import ExampleWeights

        weights = self.inputs.get("example_weights")
        teacher = self.inputs.get("teacher")
        boost = self.model.cascade is not None and self.model.cascade.boost_from_stream
        return SideInputs(ExampleWeights.load(weights) if weights else None,
                          _lookup([teacher], "train1") if teacher else None, self.cascade("train1"), boost)

    def cascade(self, split: str) -> PredictionLookup | None:
        """The cascade streams' predictions on ``split`` (None without a cascade input)."""
        streams = self.inputs.get("streams")
        return _lookup(streams, split) if streams else None

    def files(self, split: str) -> list[Path]:
        """The split's record files; ``RunError`` where the dataset's features are no longer those it trained on."""
        level = self.model.level
        try:
            check_same(self.features, find_layout(self.data / level), level, self.config.name, self.data)
        except Y8MDataError as exc:
            raise RunError(str(exc)) from None
        return _files(self.data, level, split)

    def model_inputs(self) -> ModelInputs:
        vocabulary = find_vocabulary(self.data / self.model.level)
        verticals = (torch.from_numpy(read_vocabulary(vocabulary).vertical_matrix()).float()
                     if vocabulary else None)
        return ModelInputs(self.num_classes, self.features.spec(self.model.level).sizes, vertical_matrix=verticals,
                           cascade=self.model.cascade)

    def build(self, inputs: ModelInputs | None = None) -> torch.nn.Module:
        return build_model(self.model, inputs or self.model_inputs())

    def log(self, record: dict[str, Any]) -> None:
        log_metric(self.dir, record)


def _lookup(run_dirs: list[str], split: str) -> PredictionLookup:
    try:
        return PredictionLookup([read_predictions(Path(d) / "predictions" / split) for d in run_dirs],
                                [Path(d).name for d in run_dirs])
    except StoreError as exc:
        raise RunError(f"cannot read the {split} predictions this run needs: {exc}") from None


def _files(data: Path, level: str, split: str) -> list[Path]:
    files = split_files(data, level).get(split)
    if files is None:
        raise RunError(f"unknown split {split!r}; splits are {', '.join(PAPER_GLOBS)}")
    if not files:
        raise RunError(f"no {split} files ({PAPER_GLOBS[split]}) under {data / level}")
    return files


def epoch_steps(model: SingleModel, train_files: list[Path], num_classes: int, epochs: float | None = None) -> int:
    """Steps of ``epochs`` (default: the model's) over the train1 records at the model's batch size."""
    from y8m_models.data.dataset import YT8MDataset

    records = YT8MDataset(train_files, model.level, num_classes).num_records
    total = epochs if epochs is not None else model.training.epochs
    return max(1, round(total * records / model.training.batch_size))


def create_run(config_key: int | str | Configuration, data: Path, out: Path, *, preset: str = "tiny",
               seed: int = 0, steps: int | None = None, epochs: float | None = None, as_in_code: bool = False,
               overrides: dict[str, Any] | None = None, num_classes: int | None = None,
               resume: bool = False, inputs: dict[str, Any] | None = None, numerics: Numerics = Numerics()) -> Run:
    """Check everything a training run needs and write ``run.json`` (or, with ``resume``, read it back).
    ``config_key``: a configuration to resolve, or one already resolved (an ensemble member); ``inputs``: the
    other runs it reads (the ensemble pipeline's; see ``Run.inputs``); ``numerics``: its precision and
    determinism, kept in ``run.json`` so that its resumptions, evaluations and predictions use them too."""
    if resume and (out / RUN_FILE).exists():
        return open_run(out)
    try:
        config = (config_key if isinstance(config_key, Configuration)
                  else resolve(config_key, preset, as_in_code, overrides))
    except ConfigError as exc:
        raise RunError(str(exc)) from None
    if config.model is None:
        raise RunError(f"{config.name} is not a single model: ensembles run with `y8m reproduce`")
    if (config.model.cascade is not None or config.model.distillation is not None) and inputs is None:
        raise RunError(f"{config.name} reads other configurations' predictions (cascade or distillation): it "
                       "runs with `y8m reproduce`")
    level = config.model.level
    if not data.is_dir():
        raise RunError(f"data directory {data} does not exist")
    train_files = _files(data, level, "train1")
    found = detect_level(train_files[0])
    if found != level:
        raise RunError(f"{config.name} reads {level}-level features but {train_files[0]} holds {found}-level "
                       "records")
    try:
        classes = resolve_num_classes(train_files, num_classes)  # --num-classes, else vocabulary.csv's
    except ValueError as exc:
        raise RunError(str(exc)) from None
    if num_classes is not None:
        vocabulary = find_vocabulary(train_files[0].parent)
        listed = read_vocabulary(vocabulary).num_classes if vocabulary else num_classes
        if listed != num_classes:
            raise RunError(f"--num-classes {num_classes} does not match {vocabulary} ({listed} classes)")
    if classes is None:
        raise RunError(f"cannot tell the number of classes: no vocabulary.csv under {data}; pass --num-classes")
    try:  # the features and labels the model is built for: names, sizes, label range
        layout = find_layout(train_files[0].parent)
        read_record(TFRecordFile(train_files[0]), 0, level, layout.spec(level), classes)
    except Y8MDataError as exc:
        raise RunError(f"{config.name} cannot read {train_files[0]}: {exc}") from None
    try:  # a model with one width per feature part (#9, #10, WILLOW's) on data of another number of parts
        parameter_count(config.model, classes, layout)
    except ValueError as exc:
        raise RunError(f"{config.name} cannot be built for {data}'s {level}-level features "
                       f"{layout.describe(level)}: {exc}") from None
    if steps is None:
        steps = epoch_steps(config.model, train_files, classes, epochs)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if (out / RUN_FILE).exists():
            raise RunError(f"{out} already holds a run ({RUN_FILE}); pass --resume to continue it or choose "
                           "another --out")
        run = Run(out, config, data.resolve(), preset, seed, steps, classes, inputs or {}, numerics, layout)
        atomic.write_text(out / RUN_FILE, json.dumps({
            "config": config.model_dump(mode="json"), "data": str(run.data), "preset": preset, "seed": seed,
            "steps": steps, "num_classes": classes, "as_in_code": as_in_code, "overrides": overrides or {},
            "inputs": _input_paths(run.inputs, lambda p: os.path.relpath(p, out)), "numerics": numerics.options(),
            "features": layout.to_json(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1))
    except OSError as exc:
        raise RunError(f"cannot write the run directory {out}: {exc}") from None
    return run


def open_run(run_dir: Path) -> Run:
    try:
        meta = json.loads((run_dir / RUN_FILE).read_text())
    except OSError:
        raise RunError(f"{run_dir} is not a run directory (no {RUN_FILE})") from None
    # a run.json written before datasets recorded their features trained on YouTube-8M's
    try:
        features = (FeatureLayout.from_json(meta["features"], f"{run_dir / RUN_FILE} (its features)")
                    if "features" in meta else YOUTUBE_8M)
    except Y8MDataError as exc:
        raise RunError(str(exc)) from None
    return Run(run_dir, Configuration.model_validate(meta["config"]), Path(meta["data"]), meta["preset"],
               meta["seed"], meta["steps"], meta["num_classes"],
               _input_paths(meta.get("inputs", meta.get("links", {})), lambda p: os.path.normpath(run_dir / p)),
               Numerics.from_options(meta.get("numerics", {})), features)


def _input_paths(inputs: dict[str, Any], convert: Callable[[str], str]) -> dict[str, Any]:
    """``convert`` applied to each path of ``Run.inputs`` (``"links"`` in a run.json written before). run.json
    holds them relative to the run directory, so that a tree of runs reads the same wherever it is mounted (the
    workers' shared artifacts volume)."""
    return {key: [convert(p) for p in value] if isinstance(value, list) else convert(value)
            for key, value in inputs.items()}


class MetricsLog(Callback):
    """Training progress into metrics.jsonl every ``every`` steps: step, examples, loss (mean since the last
    line), learning rate, examples/s."""

    def __init__(self, run: Run, every: int = 10):
        self.run, self.every = run, every
        self.losses: list[float] = []
        self.clock, self.examples = time.perf_counter(), 0

    def on_step(self, state: TrainState, loss: float | torch.Tensor, learning_rate: float) -> None:
        self.losses.append(loss)
        if state.step % self.every == 0 or state.step == self.run.steps:
            now = time.perf_counter()
            mean = float(torch.stack([torch.as_tensor(x, dtype=torch.float32) for x in self.losses]).mean())
            self.run.log({"step": state.step, "examples": state.examples, "loss": mean, "lr": learning_rate,
                          "examples_per_second": (state.examples - self.examples) / (now - self.clock)})
            self.losses, self.clock, self.examples = [], now, state.examples


class SelectOnValidate1(Callback):
    """Every ``every`` steps and at the end: GAP on validate1 (the paper's checkpoint selection); the best
    weights so far go to ``best.pt``, which ``eval`` and ``predict`` use."""

    def __init__(self, run: Run, model: torch.nn.Module, every: int, device: str):
        self.run, self.model, self.every, self.device = run, model, every, device
        # A resumed run competes with the scores it logged before the restart.
        previous = [m for m in read_metrics(run.dir) if m.get("split") == "validate1"]
        best = max(previous, key=lambda m: m["gap"], default={"gap": -1.0, "step": None})
        self.best_gap, self.best_step = best["gap"], best["step"]
        self.last: dict[str, Any] = {}

    def on_step(self, state: TrainState, loss: float, learning_rate: float) -> None:
        if state.step % self.every == 0 or state.step == self.run.steps:
            self.last = evaluate_run(self.run, "validate1", device=self.device, model=self.model,
                                     step=state.step)
            if self.last["gap"] > self.best_gap:
                self.best_gap, self.best_step = self.last["gap"], state.step
                atomic.save_torch({"model": self.model.state_dict(), "step": state.step, "gap": self.best_gap},
                                  self.run.dir / BEST)


def evaluation_steps(run: Run) -> int:
    """How often a run scores validate1 unless told (``--eval-every``): every half epoch of train1 at its batch
    size, so a run of the paper's 5 epochs is scored ~10 times and keeps the weights of its plateau where it then
    overfits (BENCHMARKS.md, "Schedules for small data": every family plateaus in ~5 epochs of the paper
    dataset; #2 and #25 fall after)."""
    return epoch_steps(run.model, run.files("train1"), run.num_classes, 0.5)


def train_run(run: Run, *, resume: bool = False, callbacks: tuple[Callback, ...] = (),
              device: str = "cpu", eval_every: int | None = None, checkpoint_every: int = 500, num_workers: int = 0,
              compile: bool = False) -> dict[str, Any]:
    """Train to ``run.steps`` (continuing from the checkpoint with ``resume``), scoring validate1 every
    ``eval_every`` steps (default: ``evaluation_steps``) and at the end; returns the last validate1 scores and
    the best step (under DDP, on rank 0; the other ranks return the step only)."""
    torch.manual_seed(run.seed)
    run.numerics.apply()  # before the model is built and moved (fit applies it again: it may be called alone)
    main = current().main  # under DDP, rank 0 alone writes and reports
    init = run.inputs.get("init")
    fresh = bool(init) and not (run.dir / CHECKPOINT).exists()  # an ensemble member continues its base's
    barrier()  # under DDP every rank has looked before rank 0 writes
    if fresh:
        if main:
            copy = run.dir / f".{CHECKPOINT}.init"
            shutil.copyfile(Path(init) / CHECKPOINT, copy)
            copy.replace(run.dir / CHECKPOINT)
        barrier()
        resume = True
    inputs = run.model_inputs()
    model = run.build(inputs).to(device)
    own: list[Callback] = [MetricsLog(run), *callbacks] if main else []
    selector = None
    if main and split_files(run.data, run.model.level).get("validate1"):
        selector = SelectOnValidate1(run, model, eval_every or evaluation_steps(run), device)
        own.insert(1, selector)
    state = fit(model, run.model, run.files("train1"), run.num_classes, run.dir, run.steps, seed=run.seed,
                resume=resume, checkpoint_every=checkpoint_every, callbacks=tuple(own), device=device,
                num_workers=num_workers, compile=compile, numerics=run.numerics,
                side=run.side_inputs(),
                vertical_matrix=None if inputs.vertical_matrix is None else inputs.vertical_matrix.to(device))
    result: dict[str, Any] = {"step": state.step}
    if selector is not None:
        result.update({**selector.last, "best_step": selector.best_step, "best_gap": selector.best_gap})
    return result


def trained_model(run: Run, device: str) -> torch.nn.Module:
    """The weights chosen on validate1 (``best.pt``), else the last checkpoint's."""
    path = next((p for p in (run.dir / BEST, run.dir / CHECKPOINT) if p.exists()), None)
    if path is None:
        raise RunError(f"{run.dir} has no {CHECKPOINT}: train it first (`y8m train ... --out {run.dir}`)")
    model = run.build()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
    return model.to(device)


def _predict_into_store(run: Run, split: str, model: torch.nn.Module, device: str,
                        attention_of: set[str] | None = None, attention_first: int = 0) -> Predictions:
    out = predict(model, run.model, run.files(split), run.num_classes, device=device, attention_of=attention_of,
                  cascade=run.cascade(split), attention_first=attention_first, numerics=run.numerics)
    with PredictionWriter(run.dir / "predictions" / split, run.num_classes) as writer:
        writer.add(out.ids, out.scores)
    return out


def evaluate_run(run: Run, split: str, *, device: str = "cpu", model: torch.nn.Module | None = None,
                 step: int | None = None, attention_first: int = 0) -> dict[str, Any]:
    """GAP@20, Hit@1, PERR and mAP on ``split``; the predictions go to the store; a line in metrics.jsonl;
    with ``attention_first``, the attention dump of the split's first videos where the model has attention
    (``save_attention``: the dashboard's gallery)."""
    out = _predict_into_store(run, split, model if model is not None else trained_model(run, device), device,
                              attention_first=attention_first)
    if out.attention:
        save_attention(run, split, out, list(out.attention))
    record = score_record(split, evaluate(out.scores.numpy(), out.labels.numpy()).to_dict(), step)
    run.log(record)
    return record


def score_record(split: str, result: dict[str, Any], step: int | None = None) -> dict[str, Any]:
    """A metrics.jsonl line of an evaluation: the split, its step (where there is one) and the scores."""
    return {"split": split, **({"step": step} if step is not None else {}),
            **{k: result[k] for k in ("gap", "hit_at_1", "perr", "map", "n_videos")}}


def predict_run(run: Run, split: str, submission: Path | None = None, attention_videos: list[str] | None = None, *,
                device: str = "cpu") -> Path:
    """The model's predictions on ``split`` into the store (and a submission CSV); the attention weights of
    ``attention_videos`` into ``RUN_DIR/attention/<split>.npz`` (the dashboard's frame gallery). Returns the
    store folder."""

    from y8m_models.submission import write_submission

    out = _predict_into_store(run, split, trained_model(run, device), device, set(attention_videos or ()))
    if submission is not None:
        write_submission(submission, out.ids, out.scores.numpy(), top_k=min(20, run.num_classes))
    if attention_videos:
        missing = [v for v in attention_videos if v not in out.ids]
        if missing:
            raise RunError(f"--attention-videos: {', '.join(missing[:5])} not in the {split} split")
        if not out.attention:
            raise RunError(f"{run.config.name} ({run.model.architecture}) has no attention weights to dump")
        save_attention(run, split, out, attention_videos)
    return run.dir / "predictions" / split


def predictions_on(run: Run, data: Path, split: str, *, attention_of: set[str] | None = None,
                   device: str = "cpu") -> Predictions:
    """The run's model on ``split`` of another dataset with the same features and classes (a user's own videos,
    say), with the attention of the videos ``attention_of`` where the model has attention; the run's own store is
    not touched. ``RunError`` naming what does not match."""
    level = run.model.level
    if run.model.cascade is not None:
        raise RunError(f"{run.config.name} reads other runs' predictions on its own dataset; it predicts only there")
    try:
        check_same(run.features, find_layout(data / level), level, run.config.name, data)
        theirs, ours = find_vocabulary(data / level), find_vocabulary(run.data / level)
        if theirs and ours:  # the same classes in the same order, or the scores would name other labels
            names, own = read_vocabulary(theirs).names, read_vocabulary(ours).names
            if names != own:
                k = next((i for i, (a, b) in enumerate(zip(names, own, strict=False)) if a != b), min(len(names),
                                                                                                   len(own)))
                raise RunError(f"{run.config.name} predicts the classes of {ours}; {theirs} differs from them at "
                               f"Index {k} ({len(own)} and {len(names)} classes): convert the data with "
                               f"--vocabulary {ours}")
        files = _files(data, level, split)
        return predict(trained_model(run, device), run.model, files, run.num_classes, device=device,
                       attention_of=attention_of, numerics=run.numerics)
    except RunError:
        raise
    except (Y8MDataError, ValueError) as exc:  # a vocabulary, a record or labels beyond the run's classes
        raise RunError(str(exc)) from None


def predict_dataset(run: Run, data: Path, split: str, submission: Path, *, device: str = "cpu") -> int:
    """``predictions_on``'s top 20 per video into the Kaggle CSV ``submission``. Returns the videos predicted."""
    from y8m_models.submission import write_submission

    out = predictions_on(run, data, split, device=device)
    write_submission(submission, out.ids, out.scores.numpy(), top_k=min(20, run.num_classes))
    return len(out.ids)


def save_attention(run: Run, split: str, out: Predictions, videos: list[str]) -> Path:
    """``RUN_DIR/attention/<split>.npz`` for the dashboard's frame gallery, per video: ``weights/<id>``
    [num_frames, K], ``sketch/<id>`` [num_frames, 32] (``Predictions.sketches``) and ``labels/<id>`` (its
    class indices)."""
    import numpy as np

    row = {vid: i for i, vid in enumerate(out.ids)}
    arrays = {}
    for vid in videos:
        arrays[f"weights/{vid}"] = out.attention[vid].numpy()
        if vid in out.sketches:
            arrays[f"sketch/{vid}"] = out.sketches[vid].numpy().astype(np.float16)
        arrays[f"labels/{vid}"] = np.flatnonzero(out.labels[row[vid]].numpy() > 0).astype(np.int32)
    (run.dir / "attention").mkdir(exist_ok=True)
    path = run.dir / "attention" / f"{split}.npz"
    atomic.save_npz(path, **arrays)
    return path


def log_metric(folder: Path, record: dict[str, Any]) -> None:
    """``record`` as the next line of ``folder/metrics.jsonl``. A cut last line (its writer was killed mid-line,
    or the disk was full) is cut off first, so the file goes on as whole lines; a full disk is ``DiskFull``."""
    path = folder / METRICS_FILE
    line = (json.dumps(record) + "\n").encode()
    try:
        with open(path, "a+b") as out:
            end = out.seek(0, os.SEEK_END)
            if end:
                out.seek(end - 1)
                if out.read(1) != b"\n":
                    out.seek(0)
                    out.truncate(out.read().rfind(b"\n") + 1)
            out.write(line)
            out.flush()
    except OSError as exc:
        atomic.raise_if_full(exc, path)
        raise


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The lines of ``run_dir/metrics.jsonl``, without a cut last line (``log_metric`` removes it at the next
    write). RunError naming the file and line where a whole line is not JSON: the file is damaged."""
    path = run_dir / METRICS_FILE
    if not path.exists():
        return []
    *whole, _cut = path.read_bytes().split(b"\n")  # _cut: b"" when the file ends with a newline
    records = []
    for number, line in enumerate(whole, 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise RunError(f"{path}, line {number}: not a JSON line ({exc}); the file is damaged") from None
    return records
