"""Running one job of the pipeline's DAG (``y8m_models.pipeline``) in its folder ``OUT/<slug>-<hash>``.

* ``train``: a single model (a configuration, or a bagging/boosting/stacking member) as an ``experiment``
  run directory: its bootstrap or boosting weights first (``example_weights.npz``), the folders of the runs it
  reads, its inputs (base checkpoint, teacher, cascade streams), training with validate1 selection, then
  predictions on the splits its consumers read, and its GAP on validate2.
* ``stack``: the combiner trained on the members' train2 predictions, its checkpoint chosen on validate2
  (catalog §4.13), then the stacked predictions on the splits the consumers read; ``stack.pt``, the learned
  weights for the dashboard's heatmaps (``stacking_weights.npz``) and every member's validate2 GAP beside the
  ensemble's.
* ``merge`` (#80): the two ensembles' top-k tags averaged (``ensemble.merge``), on each split needed.

Members are joined with the labels and the video-level features **by video id** (``row_of``); a member
without predictions for a split, or holding other videos, stops with an error naming it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from y8m_models import atomic
from y8m_models.configs.schema import Reweighting
from y8m_models.data.dataset import YT8MDataset, to_device
from y8m_models.data.splits import split_files
from y8m_models.ensemble.merge import merge_top_k
from y8m_models.ensemble.stacking import (
    StoreStackData,
    build_stack,
    export_weights,
    fit_stack,
    predict_stack,
)
from y8m_models.ensemble.weights import ExampleWeights, boosting_weights, bootstrap_weights, example_errors
from y8m_models.experiment import (
    RunError,
    create_run,
    epoch_steps,
    evaluate_run,
    log_metric,
    open_run,
    predict_run,
    score_record,
    train_run,
)
from y8m_models.metrics import Evaluator
from y8m_models.numerics import Numerics
from y8m_models.options import RunOptions
from y8m_models.pipeline import Job
from y8m_models.store import PredictionWriter, StoreError, common_classes, join, read_predictions
from y8m_models.train import CHECKPOINT, Callback, select_device

ATTENTION_VIDEOS = 20  # validate2 videos whose attention weights a train job keeps (models with attention)


class Executor:
    """``executor(job, folder) -> results``: the callable ``pipeline.run_plan`` calls for each job."""

    def __init__(self, data: Path, folder: Callable[[Job], Path], num_classes: int, options: RunOptions, *,
                 callbacks: tuple[Callback, ...] = (), log: Callable[[str], None] = print):
        """``folder(job)``: where a job's run directory is (``OUT/<slug>-<hash>`` for ``y8m reproduce``, the
        database run's folder in a worker); ``options``: how the runs it creates train (their device, step cap,
        cadences, loader workers, numerics; a run it continues keeps its own numerics); ``callbacks``:
        training's (``train.Callback``: progress, cancel), also given to the stacking combiner's loop."""
        self.data, self.folder, self.num_classes, self.options = data, folder, num_classes, options
        self.device, self.numerics = str(select_device(options.device)), Numerics.from_options(options)
        self.callbacks, self.log = callbacks, log
        self._splits: dict[tuple[str, bool], tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}

    def __call__(self, job: Job, folder: Path) -> dict[str, Any]:
        return {"train": self._train, "stack": self._stack, "merge": self._merge}[job.kind](job, folder)

    def stored(self, job: Job, split: str) -> Path:
        """The store of ``job``'s predictions on ``split``. A training run reused from an earlier plan (same
        content hash) may not have predicted this split, which its new reader needs: it predicts it now from
        its selected weights. (Stack and merge jobs carry their splits in their hash: ``pipeline.plan``.)"""
        folder = self.folder(job) / "predictions" / split
        if job.kind != "train" or (folder / "meta.json").exists() or not (self.folder(job) / "run.json").exists():
            return folder
        with open(self.folder(job) / f".predict-{split}.lock", "w") as lock:  # one reader predicts, others wait
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / "meta.json").exists():
                self.log(f"  {job.name}: predicting {split} (reused from a run that did not need it)")
                predict_run(open_run(self.folder(job)), split, device=self.device)
        return folder

    # ------------------------------------------------------------------------------------- the records

    def split(self, split: str, features: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(video ids [N], labels [N, C] float32, video-level features [N, D] or None) of a split, read once
        from the video-level files (the frame-level ones hold the same labels, not the mean features)."""
        if not features and (split, True) in self._splits:  # read with the features already
            return self._splits[split, True]
        if (split, features) not in self._splits:
            levels = [lv for lv in ("video", "frame") if split_files(self.data, lv).get(split)]
            if not levels or (features and levels[0] != "video"):
                raise RunError(f"no {'video-level ' if features else ''}{split} files under {self.data} "
                               "(attention weighted stacking reads the videos' mean features)")
            data = YT8MDataset(split_files(self.data, levels[0])[split], levels[0], self.num_classes,
                               batch_size=1024, max_frames=1)
            ids, labels, x = [], [], []
            for batch in DataLoader(data, batch_size=None):
                inputs = to_device(batch) if features else None
                ids.extend(batch["video_ids"])
                labels.append(batch["labels"].float().numpy())
                if features:
                    x.append(inputs["features"].numpy())
            self._splits[split, features] = (np.array(ids), np.concatenate(labels),
                                             np.concatenate(x) if features else None)
        return self._splits[split, features]

    # --------------------------------------------------------------------------------------- train jobs

    def _train(self, job: Job, folder: Path) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        if job.init:
            inputs["init"] = str(self.folder(job.init))
        if job.teacher:
            self.stored(job.teacher, "train1")
            inputs["teacher"] = str(self.folder(job.teacher))
        if job.streams:
            for stream in job.streams:
                for split in {"train1", "validate1", *job.splits}:
                    self.stored(stream, split)
            inputs["streams"] = [str(self.folder(s)) for s in job.streams]
        if job.weights:
            inputs["example_weights"] = str(self._example_weights(job, folder))
        model = job.config.model
        steps = epoch_steps(model, split_files(self.data, model.level)["train1"], self.num_classes, job.epochs)
        o = self.options
        steps = min(steps, o.max_steps) if o.max_steps else steps
        if job.init:
            steps += open_run(self.folder(job.init)).steps
        run = create_run(job.config, self.data, folder, preset=o.preset, seed=job.seed, steps=steps,
                         num_classes=self.num_classes, inputs=inputs, resume=True, numerics=self.numerics)
        train_run(run, resume=(folder / CHECKPOINT).exists(), device=self.device,
                  eval_every=o.eval_every and min(o.eval_every, steps), checkpoint_every=o.checkpoint_every,
                  num_workers=o.loader_workers, compile=o.compile, callbacks=self.callbacks)
        gaps = {}
        for split in sorted(job.splits):
            if split == "validate2":  # with the attention of its first videos (the dashboard's gallery)
                gaps[split] = evaluate_run(run, split, device=self.device, attention_first=ATTENTION_VIDEOS)["gap"]
            else:
                predict_run(run, split, device=self.device)
        return {"gap": gaps, "steps": run.steps}

    def _example_weights(self, job: Job, folder: Path) -> Path:
        """Bagging: the bootstrap counts of the train1 videos. Boosting: Eq. 6 from the previous member's
        train1 errors and weights (member 1: none, W_0 = 1)."""
        path = folder / "example_weights.npz"
        if path.exists():
            return path
        ids, labels, _ = self.split("train1")
        if job.weights[0] == "bootstrap":
            bootstrap_weights(list(ids), job.weights[1]).save(path)
            return path
        previous, rule = job.previous, job.weights[2]
        before = self.folder(previous)
        _, scores = join([read_predictions(self.stored(previous, "train1"))], [previous.name],
                                  video_ids=list(ids))
        weights = (ExampleWeights.load(before / "example_weights.npz")
                   if (before / "example_weights.npz").exists() else ExampleWeights.uniform(list(ids)))
        new = boosting_weights(weights.values_for(list(ids)), example_errors(scores[:, 0], labels),
                               Reweighting.model_validate(rule), np.random.default_rng([job.seed, 6]))
        ExampleWeights(list(ids), new).save(path)
        return path

    # ------------------------------------------------------------------------------------ stack, merge

    def _members(self, job: Job, split: str, features: bool = False) -> StoreStackData:
        """The members' stored predictions on ``split`` joined to the split's videos by id (read per batch)."""
        ids, labels, x = self.split(split, features)
        try:
            stored = [read_predictions(self.stored(m, split)) for m in job.members]
            common_classes(stored, [m.name for m in job.members])
            rows = []
            for member, s in zip(job.members, stored, strict=True):
                try:
                    rows.append(s.row_of(list(ids)))
                except StoreError as exc:
                    raise StoreError(f"{member.name}: {exc}") from None
        except StoreError as exc:
            raise RunError(f"{job.config.name} on {split}: {exc}") from None
        return StoreStackData(stored, np.stack(rows), x if x is not None else np.zeros((len(ids), 1), np.float32),
                              labels)

    def _write(self, folder: Path, split: str, batches: Iterator[np.ndarray]) -> None:
        ids = list(self.split(split)[0])
        with PredictionWriter(folder / "predictions" / split, self.num_classes) as writer:
            lo = 0
            for scores_BC in batches:
                writer.add(ids[lo:lo + len(scores_BC)], scores_BC)
                lo += len(scores_BC)

    def _stack(self, job: Job, folder: Path) -> dict[str, Any]:
        combiner = job.config.ensemble.combiner
        features = combiner.kind == "attention"
        train, validate = self._members(job, "train2", features), self._members(job, "validate2", features)
        n, m, c, d = train.shape
        stack = build_stack(combiner, m, c, d, seed=job.seed)
        result = fit_stack(stack, combiner, train, validate, seed=job.seed, eval_every=100, device=self.device,
                           callbacks=self.callbacks)
        names = [j.name for j in job.members]
        chosen = "stack" if result.member is None else f"{names[result.member]} alone"
        atomic.save_torch({"model": stack.state_dict(), "best_step": result.best_step, "chosen": chosen},
                          folder / "stack.pt")
        exported = export_weights(stack, validate, videos=range(min(20, validate.shape[0])), device=self.device)
        atomic.save_npz(folder / "stacking_weights.npz", members=np.array(names),
                        videos=self.split("validate2")[0][:20], **exported)
        gaps = {}
        for split in sorted(job.splits):
            data = validate if split == "validate2" else self._members(job, split, features)
            evaluator = Evaluator(self.num_classes)
            self._write(folder, split, _scored(predict_stack(stack, data, device=self.device), evaluator))
            if split == "validate2":
                gaps[split] = _log_scores(folder, split, evaluator, result.steps)
        members = dict(zip(names, result.member_gaps, strict=True))
        start = "its own initialisation" if result.start is None else f"{names[result.start]} (best on train2)"
        self.log(f"  {job.config.name}: validate2 GAP {gaps.get('validate2', float('nan')):.4f} ({chosen}; started "
                 f"at {start}); members " + ", ".join(f"{g:.4f}" for g in members.values()))
        return {"gap": gaps, "member_gap": members, "best_step": result.best_step, "steps": result.steps,
                "chosen": chosen, "start": None if result.start is None else names[result.start]}

    def _merge(self, job: Job, folder: Path) -> dict[str, Any]:
        ens = job.config.ensemble

        def merged(data: StoreStackData) -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for batch in data.batches(4096):
                P_BMC = batch.P_BMC.numpy()
                yield merge_top_k(P_BMC[:, 0], P_BMC[:, 1], ens.top_k, ens.missing), batch.labels_BC.numpy()

        gaps = {}
        for split in sorted(job.splits):
            evaluator = Evaluator(self.num_classes)
            self._write(folder, split, _scored(merged(self._members(job, split)), evaluator))
            if split == "validate2":
                gaps[split] = _log_scores(folder, split, evaluator)
        return {"gap": gaps}


def _log_scores(folder: Path, split: str, evaluator: Evaluator, step: int | None = None) -> float:
    """The evaluation as a line of ``folder/metrics.jsonl`` (as a training run logs its own); returns the GAP."""
    result = evaluator.result().to_dict()
    log_metric(folder, score_record(split, result, step))
    return result["gap"]


def _scored(batches: Iterator[tuple[np.ndarray, np.ndarray]], evaluator: Evaluator) -> Iterator[np.ndarray]:
    """The scores of (scores, labels) batches, each also scored by ``evaluator`` on its way to the store."""
    for scores_BC, labels_BC in batches:
        evaluator.update(scores_BC, labels_BC)
        yield scores_BC
