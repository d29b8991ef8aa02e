"""``y8m train``, ``y8m eval``, ``y8m predict``: one configuration's run directory, start to submission."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from y8m_models.cli.common import (
    DEFAULTS,
    AsInCode,
    BudgetOption,
    CompileOption,
    DeterministicOption,
    DeviceOption,
    LoaderWorkersOption,
    OldCode,
    OldWorkers,
    PrecisionOption,
    PresetOption,
    SeedOption,
    app,
    as_in_code,
    budget_bytes,
    fail,
    loader_workers,
    preset_or_default,
    renamed,
    resolve_device,
    run_options,
)
from y8m_models.limits import MAX_INT32
from y8m_models.options import RunOptions
from y8m_models.overrides import parse_overrides


def parse_set(pairs: list[str] | None) -> dict:
    """``--set key=value`` pairs (``y8m_models.overrides``), or the command's exit naming the bad one."""
    try:
        return parse_overrides(pairs or [])
    except ValueError as exc:
        raise fail(f"--set {exc}") from None


@app.command("train")
def train(
    config: Annotated[str, typer.Option("--config", help="paper number (18), slug (chaining_cnn) or a saved "
                                        "variant's name")],
    data: Annotated[Path, typer.Option(help="dataset directory (frame/ and video/ with the Table 1 files)")],
    preset: PresetOption = None,
    out: Annotated[Path | None, typer.Option(help="run directory (default: $Y8M_HOME/runs/SLUG-PRESET-sSEED, a "
                                             "variant's NAME-PRESET-sSEED)")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, max=MAX_INT32,
                                                        help="stop after this many steps")] = None,
    epochs: Annotated[float | None, typer.Option(help="default: the configuration's")] = None,
    seed: SeedOption = DEFAULTS.seed,
    resume: Annotated[bool, typer.Option("--resume", help="continue the run in --out from its checkpoint")] = False,
    code: AsInCode = False,
    old_code: OldCode = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override: key=value (repeatable)")] = None,
    num_classes: Annotated[int | None, typer.Option(help="default: the dataset's vocabulary.csv")] = None,
    eval_every: Annotated[int | None, typer.Option(help="score validate1 every N steps (default: every half epoch); "
                                                   "the best weights are kept")] = None,
    loader_workers_: LoaderWorkersOption = DEFAULTS.loader_workers,
    old_workers: OldWorkers = None,
    device: DeviceOption = DEFAULTS.device,
    compile_: CompileOption = DEFAULTS.compile,
    nproc: Annotated[int, typer.Option("--nproc", help="training processes (DDP through torchrun): one per GPU "
                                       "of this machine; on the CPU, gloo")] = 1,
    precision: PrecisionOption = DEFAULTS.precision,
    deterministic: DeterministicOption = DEFAULTS.deterministic,
) -> None:
    """Train one single-model configuration; print its validate1 GAP (last and best) as JSON. A resumed run
    keeps the precision and determinism it was created with."""
    import os
    import sys

    from tqdm import tqdm

    from y8m_models.train import Callback

    class _Progress(Callback):
        """The tqdm bar: step, loss, learning rate."""

        def __init__(self, bar: tqdm):
            self.bar = bar

        def on_step(self, state, loss, learning_rate: float) -> None:
            self.bar.n = state.step
            if state.step % 20 == 1:  # float(loss) waits for the device: not at every step
                self.bar.set_postfix(loss=f"{float(loss):.3f}", lr=f"{learning_rate:.2g}", refresh=False)
            self.bar.update(0)

    from y8m_models.configs import ConfigError, get_config
    from y8m_models.experiment import RunError, create_run, train_run
    from y8m_models.numerics import Numerics

    if nproc < 1:
        raise fail(f"--nproc must be at least 1, not {nproc}")
    options = run_options(preset=preset_or_default(preset), seed=seed, max_steps=max_steps, epochs=epochs,
                          as_in_code=as_in_code(code, old_code), overrides=parse_set(set_), eval_every=eval_every,
                          loader_workers=loader_workers(loader_workers_, old_workers), device=device,
                          compile=compile_, precision=precision, deterministic=deterministic)
    try:
        config, options, name = _variant_of(config, options)
        if nproc > 1:  # before anything is written
            _check_processes(nproc, options, config)
        if out is None:
            home = Path(os.environ.get("Y8M_HOME", "var"))
            out = home / "runs" / f"{name or get_config(config).slug}-{options.preset}-s{seed}"
        o = options
        run = create_run(config, data, out, preset=o.preset, seed=o.seed, steps=o.max_steps, epochs=o.epochs,
                         as_in_code=o.as_in_code, overrides=o.overrides, num_classes=num_classes, resume=resume,
                         numerics=Numerics.from_options(o))
        typer.echo(f"training {run.config.name} ({o.preset}) for {run.steps} steps into {run.dir}", err=True)
        if nproc > 1:
            raise typer.Exit(_distributed(run, nproc, o, resume))
        with tqdm(total=run.steps, initial=0, unit="step", dynamic_ncols=True, file=sys.stderr) as bar:
            result = train_run(run, resume=resume, device=resolve_device(o.device), eval_every=o.eval_every,
                               checkpoint_every=o.checkpoint_every, num_workers=o.loader_workers, compile=o.compile,
                               callbacks=(_Progress(bar),))
    except (RunError, ConfigError) as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps({"run": str(run.dir), **result}))


def _variant_of(config: str, options: RunOptions) -> tuple[str, RunOptions, str | None]:
    """``--config NAME`` of a saved variant: its base, with its values under the command's ``--set``, and its
    name (None with a --set on top: that is not the variant); any other configuration as it is."""
    from y8m_models.configs.variants import find

    variant = find(config)
    if variant is None:
        return config, options, None
    overrides = {**variant.overrides, **options.overrides}
    return (str(variant.base), options.model_copy(update={"overrides": overrides}),
            None if options.overrides else variant.name)


def _check_processes(nproc: int, options: RunOptions, config: str) -> None:
    """``--nproc N``: a GPU for each process where they train on CUDA, and a part of every batch for each."""
    import torch

    from y8m_models.configs import resolve
    from y8m_models.distributed import check_batch

    if options.device.startswith("cuda:"):
        raise fail(f"--device {options.device} --nproc {nproc}: each process trains on a GPU of its own (cuda:0 "
                   f"to cuda:{nproc - 1}); say --device cuda, and choose the GPUs with CUDA_VISIBLE_DEVICES")
    if resolve_device(options.device).startswith("cuda") and nproc > torch.cuda.device_count():
        raise fail(f"--nproc {nproc}: this machine has {torch.cuda.device_count()} CUDA device(s); use at most that "
                   "many, or --device cpu")
    model = resolve(config, options.preset, options.as_in_code, options.overrides).model
    if model is not None:  # an ensemble is refused by create_run, with its own message
        try:
            check_batch(model.training.batch_size, nproc)
        except ValueError as exc:
            raise fail(f"--nproc {nproc}: {exc}") from None


def _distributed(run, nproc: int, options: RunOptions, resume: bool) -> int:
    """``--nproc N``: the run trained by N processes (``y8m_models.cli.torchrun``); torchrun's exit code."""
    from y8m_models.cli.torchrun import launch

    typer.echo(f"{nproc} processes (DDP), each reading 1/{nproc} of every batch of "
               f"{run.model.training.batch_size}", err=True)
    return launch(run.dir, nproc, device=options.device, resume=resume, eval_every=options.eval_every,
                  checkpoint_every=options.checkpoint_every, num_workers=options.loader_workers,
                  compile=options.compile)


@app.command("eval")
def eval_(
    run_dir: Annotated[Path, typer.Argument(help="a run directory, or a model file of `y8m export`")],
    split: Annotated[str, typer.Option(help="train1, validate1, train2, validate2 or test")] = "validate2",
    data: Annotated[Path | None, typer.Option(help="an exported model's dataset (default: the one it trained on)")] = (
        None),
    as_json: Annotated[bool, typer.Option("--json")] = False,
    device: DeviceOption = DEFAULTS.device,
) -> None:
    """GAP@20, Hit@1, PERR and mAP of a trained run on a split (predictions kept in the store); of an exported
    model file, on a split of its dataset or ``--data`` (nothing written)."""
    from y8m_models.experiment import RunError, evaluate_run, open_run

    try:
        if run_dir.is_file():
            from y8m_models.export import evaluate_exported

            result = evaluate_exported(run_dir, split, data)
        else:
            result = evaluate_run(open_run(run_dir), split, device=resolve_device(device))
    except (RunError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(f"{split}: GAP {result['gap']:.4f}  Hit@1 {result['hit_at_1']:.4f}  PERR {result['perr']:.4f}  "
                   f"mAP {result['map']:.4f}  ({result['n_videos']} videos)")


@app.command("export")
def export(
    run_dir: Annotated[Path, typer.Argument(help="a trained run directory")],
    out: Annotated[Path, typer.Argument(help="the model file to write")],
    dtype: Annotated[str | None, typer.Option(show_default=False, help="fp32, fp16 or int8 (weights of 2+ "
                                              "dimensions, one scale per row); default: int8, or with --budget "
                                              "the widest that fits")] = None,
    budget: BudgetOption = None,
    split: Annotated[str | None, typer.Option(help="score the export and the run's float32 weights here; "
                                                   "'none' to skip")] = "validate2",
) -> None:
    """One self-contained file: the run's weights (chosen on validate1) in fp32, fp16 or int8, its configuration
    and its dataset's vocabulary, loadable with torch.load(weights_only=True); its GAP beside the float32
    weights'. With --budget the file is written only where it fits."""
    from y8m_models.experiment import RunError, open_run, trained_model
    from y8m_models.export import ExportError, export_run, load_exported, scores_of
    from y8m_models.sizes import SIZE_LIMIT_2018, weight_bytes

    limit = budget_bytes(budget)
    try:
        run = open_run(run_dir)
        dtype, size = export_run(run, dtype, out, limit)
        exported = load_exported(out)
        parameters = sum(p.numel() for p in exported.model.parameters())
        fits = "fits" if size <= SIZE_LIMIT_2018 else "is over"
        typer.echo(f"{out}: {dtype}, {size:,} bytes ({parameters:,} parameters, "
                   f"{weight_bytes(parameters)['fp32']:,} bytes in fp32); "
                   + (f"fits the budget of {budget}; " if limit is not None else "")
                   + f"{fits} the 2018 challenge's 1 GB")
        if split and split != "none":
            exact = scores_of(trained_model(run, "cpu").eval(), run.config, run.features, run.data, split,
                              run.num_classes, run.numerics)["gap"]
            small = scores_of(exported.model, exported.config, exported.features, run.data, split,
                              run.num_classes)["gap"]
            typer.echo(f"{split} GAP: fp32 {exact:.4f}, {dtype} {small:.4f} ({small - exact:+.4f})")
    except (RunError, ExportError) as exc:
        raise fail(str(exc)) from None


@app.command("predict")
def predict(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    split: Annotated[str, typer.Option(help="the split to predict")] = "test",
    submission: Annotated[Path | None, typer.Option(help="also write a Kaggle submission CSV here")] = None,
    attention_videos: Annotated[str | None, typer.Option(help="dump these videos' attention weights: ID,ID")] = None,
    data: Annotated[Path | None, typer.Option(help="another dataset with the same features and classes (your own "
                                              "videos, say): its --split into --submission only")] = None,
    device: DeviceOption = DEFAULTS.device,
    csv: Annotated[Path | None, typer.Option(hidden=True, help="the old --submission")] = None,
) -> None:
    """Predict a split into the run's prediction store (and a submission CSV, and attention dumps); with --data,
    a split of another dataset with the same features into a submission CSV."""
    from y8m_models.experiment import RunError, open_run, predict_dataset, predict_run

    submission = submission or renamed("--csv", "--submission", csv)
    if data is not None:
        if submission is None or attention_videos:
            raise fail("--data predicts into --submission CSV only (no store, no attention dumps): give --submission")
        try:
            count = predict_dataset(open_run(run_dir), data, split, submission, device=resolve_device(device))
        except RunError as exc:
            raise fail(str(exc)) from None
        typer.echo(f"{count} videos of {data} ({split}): top 20 labels in {submission}")
        return
    try:
        videos = [v for v in attention_videos.split(",") if v] if attention_videos else None
        folder = predict_run(open_run(run_dir), split, submission, videos, device=resolve_device(device))
    except RunError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"predictions in {folder}" + (f", submission in {submission}" if submission else ""))
