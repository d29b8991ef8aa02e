"""``y8m runs ...``, ``y8m worker``, ``y8m paper``, ``y8m configs save`` and ``y8m data extract`` (it may send
to the workers), added to the library's ``y8m``
command line (the console script points here: ``y8m_models`` stays free of the database and the workers), and
the run store attached as where variants are looked up."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from y8m_models.cli import app
from y8m_models.cli.common import (
    DEFAULTS,
    AsInCode,
    BudgetOption,
    CompileOption,
    DeterministicOption,
    LoaderWorkersOption,
    OldCode,
    OldWorkers,
    PrecisionOption,
    PresetOption,
    SeedOption,
    as_in_code,
    budget_bytes,
    fail,
    loader_workers,
    preset_or_default,
    renamed,
    run_options,
)
from y8m_models.cli.configs import configs_app
from y8m_models.cli.data import RATIOS_TEXT, data_app, parse_ratios
from y8m_models.cli.train import parse_set
from y8m_models.configs import variants
from y8m_models.limits import MAX_INT32

runs_app = typer.Typer(help="Runs in the database, executed by workers: submit, list, show, cancel, predict.",
                       no_args_is_help=True)
app.add_typer(runs_app, name="runs")


def _find_variant(name: str):
    """A saved variant of that name, for every command's --config: None where no run store exists yet (a
    typo then gets the registry's "did you mean", and no database is created), a ConfigError naming the store
    where it cannot be read."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from db.settings import Settings
    from worker.variants import get_variant
    from y8m_models.configs import ConfigError

    settings = Settings.from_env()
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).exists()):
        return None
    try:
        return get_variant(name, settings)
    except SQLAlchemyError as exc:
        where = url.render_as_string(hide_password=True)
        raise ConfigError(f"{name!r} is not a configuration, and the run store that keeps the variants could not be "
                          f"read ({where}): {type(exc).__name__}") from None


def _list_variants():
    from worker.variants import list_variants

    return list_variants()


variants.attach(_find_variant, _list_variants)  # every command's --config knows the run store's variants


ensemble_app = typer.Typer(help="Compose ensembles of configurations, saved variants and finished runs.",
                           no_args_is_help=True)
app.add_typer(ensemble_app, name="ensemble")


@ensemble_app.command("create")
def ensemble_create(
    spec: Annotated[Path | None, typer.Argument(
        help="a YAML (or JSON) file with the options below by name: name, method, members, teacher, weight, count, "
             "rule, threshold, set, note, budget")] = None,
    name: Annotated[str | None, typer.Option(help="the ensemble's name (a variant's: k16-stack)")] = None,
    method: Annotated[str | None, typer.Option(help="mean, linear, classwise or attention (stacking), bagging, "
                                               "boosting, distillation, cascade, merge")] = None,
    members: Annotated[str | None, typer.Option(
        help="configurations (18), variants (k16) and finished runs (run:12), comma-separated; bagging/boosting: "
             "the one model; distillation: the student; cascade: the model, then what it reads")] = None,
    teacher: Annotated[str | None, typer.Option(help="distillation: the ensemble it learns from (75, a variant)")] = (
        None),
    weight: Annotated[float | None, typer.Option(help="distillation: the teacher's share of the loss (0.5)")] = None,
    count: Annotated[int | None, typer.Option(help="bagging, boosting: members trained")] = None,
    rule: Annotated[str | None, typer.Option(help="boosting: clip, discard or none")] = None,
    threshold: Annotated[float | None, typer.Option(help="boosting: where weights are clipped or discarded")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="more values: key=value (a combiner's, say)")] = None,
    note: Annotated[str, typer.Option(help="what it is for")] = "",
    replace: Annotated[bool, typer.Option("--replace", help="change the ensemble of this name (refused once run)")] = (
        False),
    data: Annotated[str | None, typer.Option(help="submit it on this dataset (a name or a folder in a data root)")] = (
        None),
    preset: PresetOption = None,
    seed: SeedOption = DEFAULTS.seed,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, max=MAX_INT32,
                                                  help="with --data: stop each training run after N steps")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="with --data: print the plan (runs new and reused); "
                                          "nothing is saved or submitted")] = False,
    budget: BudgetOption = None,
) -> None:
    """Compose an ensemble of configurations, variants and finished runs by a method, saved under a name as the
    variant of the paper's configuration of that method it is (#75 stacking, #78 attention weighted stacking, #28
    bagging, #32 boosting, #80 merge; a distillation or cascade of its model's); rerun by `runs submit --config
    NAME`. With --data it is submitted too; --dry-run shows the plan instead."""
    from worker.runs import SubmitError, preview, submit
    from worker.variants import VariantError, save_variant
    from y8m_models.configs import ConfigError
    from y8m_models.configs.variants import compose

    given = _spec(spec) if spec else {}
    asked = {"name": name, "method": method, "members": members, "teacher": teacher, "weight": weight, "count": count,
             "rule": rule, "threshold": threshold, "note": note or None}
    values = {**given, **{k: v for k, v in asked.items() if v is not None}}
    if not values.get("name") or not values.get("method"):
        raise fail("give --name and --method (or a spec file with them)")
    listed = values.get("members") or []
    listed = [m for m in str(listed).split(",") if m.strip()] if isinstance(listed, str) else list(listed)
    try:
        base, changes = compose(values["method"], listed, teacher=values.get("teacher"),
                                weight=float(values.get("weight", 0.5)), count=values.get("count"),
                                rule=values.get("rule"), threshold=values.get("threshold"),
                                changes={**(values.get("set") or {}), **parse_set(set_)})
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if dry_run and data is None:
        raise fail("--dry-run shows the plan on a dataset: give --data")
    budget = budget if budget is not None else given.get("budget")  # the command line's over the spec file's
    limit = budget_bytes(None if budget is None else str(budget))
    if limit is not None and data is None:
        raise fail(f"--budget {budget}: a model's size depends on the dataset's classes: give --data")
    options = run_options(preset=preset_or_default(preset), seed=seed, max_steps=max_steps) if data else None
    if dry_run or limit is not None:  # the checks of saving, then the plan of the base with the composition's values
        try:
            save_variant(values["name"], str(base), changes, replace=replace, write=False)
            rows = preview(str(base), data, options.model_copy(update={"overrides": changes}), budget=limit)
        except (SubmitError, VariantError) as exc:
            raise fail(str(exc)) from None
    if dry_run:
        for row in rows:
            reuse = f"reuses run {row['reuse']} ({row['reuse_status']})" if row["reuse"] else "new"
            typer.echo(f"{row['kind']:<6} {row['job']:<60} {reuse}")
        return
    try:
        variant = save_variant(values["name"], str(base), changes, note=values.get("note") or "", replace=replace)
    except VariantError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"saved {variant.label}: {values['method']} of {', '.join(map(str, listed))}", err=True)
    if data is None:
        return
    try:
        result = submit(variant.name, data, options, budget=limit)
    except SubmitError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{len(result.created)} run(s) created, {len(result.reused)} reused"
               f"{_fit(result, variant.name, budget)}", err=True)
    typer.echo(str(result.targets[variant.name]))


def _spec(path: Path) -> dict:
    """An ensemble spec file (YAML or JSON): a mapping of ``ensemble create``'s options."""
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise fail(f"{path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise fail(f"{path}: expected a mapping of options (name, method, members, ...)")
    known = {"name", "method", "members", "teacher", "weight", "count", "rule", "threshold", "set", "note", "budget"}
    unknown = sorted(set(loaded) - known)
    if unknown:
        raise fail(f"{path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return loaded


@configs_app.command("save")
def save_variant(
    name: Annotated[str, typer.Argument(help="the variant's name: lower-case letters, digits, - _ . (k16-lr2e-3)")],
    base: Annotated[str, typer.Option("--from", help="paper number (25), slug, or a saved variant's name")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="a changed value: key=value (repeatable), in the "
                                                   "paper's units, as `runs submit --set`")] = None,
    note: Annotated[str, typer.Option(help="what it is for")] = "",
    replace: Annotated[bool, typer.Option("--replace", help="change the variant of this name (refused once a run "
                                          "used it)")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Save a variant: a configuration (or another variant) with changed values, under a name that every
    --config takes (runs submit, reproduce, train), listed by `configs list --variants`."""
    from worker.variants import VariantError
    from worker.variants import save_variant as save

    try:
        variant = save(name, base, parse_set(set_), note=note, replace=replace)
    except VariantError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(variant.model_dump_json())
        return
    changes = " ".join(f"{k}={json.dumps(v)}" for k, v in variant.overrides.items())
    typer.echo(f"saved {variant.label}: {changes}")


@runs_app.command("submit")
def submit(
    config: Annotated[str, typer.Option("--config", help="paper number (18), slug (chaining_cnn), a variant's "
                                        "name, list or range")],
    data: Annotated[str, typer.Option(help="a registered dataset's name, or a dataset directory in a data root")],
    preset: PresetOption = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, max=MAX_INT32,
                                                        help="stop each training run after N steps")] = None,
    epochs: Annotated[float | None, typer.Option(help="default: the configuration's")] = None,
    seed: SeedOption = DEFAULTS.seed,
    code: AsInCode = False,
    old_code: OldCode = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override: key=value (repeatable)")] = None,
    num_classes: Annotated[int | None, typer.Option(help="default: the dataset's vocabulary.csv")] = None,
    eval_every: Annotated[int | None, typer.Option(help="score validate1 every N steps (default: every half epoch); "
                                                   "the best weights are kept")] = None,
    checkpoint_every: Annotated[int, typer.Option(help="checkpoint every N steps (and every 15 min)")] = (
        DEFAULTS.checkpoint_every),
    loader_workers_: LoaderWorkersOption = DEFAULTS.loader_workers,
    old_workers: OldWorkers = None,
    device: Annotated[str, typer.Option(help="auto (the worker's GPU, else CPU), cpu, cuda ...")] = DEFAULTS.device,
    compile_: CompileOption = DEFAULTS.compile,
    precision: PrecisionOption = DEFAULTS.precision,
    deterministic: DeterministicOption = DEFAULTS.deterministic,
    budget: BudgetOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Queue configurations with every run they need; prints the run id of each as the last line. With --budget,
    each configuration (with every run it needs to predict: a stack's members, not a teacher) must fit in it."""
    from worker.runs import SubmitError
    from worker.runs import submit as submit_runs

    options = run_options(preset=preset_or_default(preset), seed=seed, max_steps=max_steps, epochs=epochs,
                          as_in_code=as_in_code(code, old_code), overrides=parse_set(set_), eval_every=eval_every,
                          checkpoint_every=checkpoint_every,
                          loader_workers=loader_workers(loader_workers_, old_workers),
                          device=device, compile=compile_, precision=precision, deterministic=deterministic)
    try:
        result = submit_runs(config, data, options, num_classes=num_classes, budget=budget_bytes(budget))
    except SubmitError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps({"targets": result.targets, "created": result.created, "reused": result.reused,
                               **({"fits": {str(k): {"parameters": p, "dtype": d} for k, (p, d) in
                                            result.fits.items()}} if result.fits else {})}))
        return
    for target, run_id in result.targets.items():
        typer.echo(f"{result.titles[target]}: run {run_id}{_fit(result, target, budget)}", err=True)
    typer.echo(f"{len(result.created)} run(s) created, {len(result.reused)} reused", err=True)
    typer.echo(" ".join(str(r) for r in result.targets.values()))


def _fit(result, target, budget: str | None) -> str:
    """", 12,345,678 parameters: fits 1GB in fp32 (49.4 MB)" where a budget was given."""
    from y8m_models.sizes import human, weight_bytes

    if target not in result.fits:
        return ""
    parameters, dtype = result.fits[target]
    return f", {parameters:,} parameters: fits {budget} in {dtype} ({human(weight_bytes(parameters)[dtype])})"


@runs_app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="only these statuses: running,queued ...")] = None,
    config: Annotated[str | None, typer.Option("--config", help="only runs of these configurations: paper "
                                               "number (18), slug, list or range, as `runs submit`")] = None,
    limit: Annotated[int, typer.Option(help="newest N runs")] = 100,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="only runs with this tag (repeatable: all of "
                                                  "them)")] = None,
    search: Annotated[str | None, typer.Option(help="only runs whose configuration, variant, note or tags hold "
                                               "this text")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", help="only runs whose configuration has key OP "
                                                    "value: model.training.learning_rate<0.001 (OP < <= > >= = !=; "
                                                    "repeatable)")] = None,
    archived: Annotated[bool, typer.Option("--archived", help="archived runs too")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest runs: id, status, configuration, progress, GAP."""
    from db.models import STATUSES
    from worker.curation import CurationError, check_tags
    from worker.runs import list_runs
    from y8m_models.configs import ConfigError, parse_configs

    unknown = [x for x in (status or "").split(",") if x and x not in STATUSES]
    if unknown:
        raise fail(f"--status {', '.join(unknown)}: the statuses are {', '.join(STATUSES)}")
    try:
        configs = None if config is None else parse_configs(config, variants=variants.find)
        tags = check_tags(tag or [])
    except (ConfigError, CurationError) as exc:
        raise fail(str(exc)) from None
    filters = _value_filters(where)
    rows = list_runs(status.split(",") if status else None, configs, limit, tags=tags, search=search, where=filters,
                     archived=archived)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    typer.echo(f"{'id':>5}  {'status':<11} {'#':>3} {'configuration':<44} {'dataset':<10} {'step':>11}  "
               f"{'validate2':>9}")
    for r in rows:
        steps = f"{r['step']}/{r['steps'] or '?'}"
        gap = r["gap"].get("validate2")
        name = f"{r['slug']} · {r['variant']}" if r["variant"] else r["slug"]
        typer.echo(f"{r['id']:>5}  {r['status']:<11} {r['number'] or '':>3} {name[:44]:<44} "
                   f"{r['dataset'][:10]:<10} {steps:>11}  {'' if gap is None else f'{gap:.4f}':>9}")


@runs_app.command("show")
def show(
    run_id: Annotated[int, typer.Argument(help="a run id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Status, progress, scores per split, error, inputs and artifacts of a run."""
    from worker.runs import SubmitError
    from worker.runs import show as show_run

    try:
        info = show_run(run_id)
    except SubmitError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(info))
        return
    typer.echo(f"run {info['id']}: {info['status']}  #{info['number'] or '-'} {info['slug']} ({info['kind']}, "
               f"{info['preset']}, seed {info['seed']}) on {info['dataset']}")
    loss = "" if info["loss"] is None else f", loss {info['loss']:.4f}"
    speed = "" if info["examples_per_second"] is None else f", {info['examples_per_second']:.1f} examples/s"
    typer.echo(f"  step {info['step']}/{info['steps'] or '?'}{loss}{speed}; attempts {info['attempts']}; "
               f"worker {info['worker'] or '-'}")
    for split, sc in info["scores"].items():
        typer.echo(f"  {split:<10} GAP {sc['gap']:.4f}" + (f"  Hit@1 {sc['hit_at_1']:.4f}  PERR {sc['perr']:.4f}"
                                                             if sc["hit_at_1"] is not None else ""))
    for link in info["inputs"]:
        typer.echo(f"  input: run {link['run']} as {link['role']} {link['position']}")
    if info["error"]:
        typer.echo(f"  error: {info['error']}")
    if info["tags"] or info["note"] or info["archived"]:
        typer.echo(f"  tags: {', '.join(info['tags']) or '-'}{'; archived' if info['archived'] else ''}"
                   + (f"; note: {info['note']}" if info["note"] else ""))
    typer.echo(f"  folder {info['dir']} ({len(info['artifacts'])} artifacts, {info['metric_rows']} metric rows)")


@runs_app.command("cancel")
def cancel(run_id: Annotated[int, typer.Argument(help="a run id")]) -> None:
    """Cancel a run (and the runs reading it, and its inputs nothing else needs)."""
    from worker.runs import SubmitError
    from worker.runs import cancel as cancel_run

    try:
        result = cancel_run(run_id)
    except SubmitError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"cancelled: {result['cancelled'] or 'none'}; "
               f"stopping at their next step: {result['stopping'] or 'none'}")


def _value_filters(where: list[str] | None) -> list:
    """``--where`` expressions (``worker.curation.ValueFilter``), or the command's exit naming the bad one."""
    from worker.curation import CurationError, ValueFilter

    try:
        return [ValueFilter.parse(w) for w in where or []]
    except CurationError as exc:
        raise fail(f"--where {exc}") from None


def _run_ids(text: list[str]) -> list[int]:
    """Run ids as given: 5 7 9, 5,7,9 or 5-9."""
    out: list[int] = []
    for part in (p for t in text for p in t.split(",") if p):
        first, dash, last = part.partition("-")
        if not (first.isdigit() and (not dash or last.isdigit())) or (dash and int(last) < int(first)):
            raise fail(f"{part!r} is not a run id or a range of them (5, 5,7 or 5-9)")
        out += list(range(int(first), int(last) + 1)) if dash else [int(first)]
    return out


@runs_app.command("tag")
def tag(
    run_ids: Annotated[list[str], typer.Argument(help="run ids: 5 7, 5,7 or 5-9")],
    add: Annotated[str, typer.Option(help="tags to add: best,lr-sweep")] = "",
    remove: Annotated[str, typer.Option(help="tags to remove")] = "",
) -> None:
    """Add or remove tags on runs (`runs list --tag T` finds them)."""
    from worker.curation import CurationError, tag_runs

    try:
        tagged = tag_runs(_run_ids(run_ids), [t for t in add.split(",") if t], [t for t in remove.split(",") if t])
    except CurationError as exc:
        raise fail(str(exc)) from None
    for run_id, tags in tagged.items():
        typer.echo(f"run {run_id}: {', '.join(tags) or 'no tags'}")


@runs_app.command("note")
def note(
    run_id: Annotated[int, typer.Argument(help="a run id")],
    text: Annotated[str, typer.Argument(help="the note (replaces the one there; '' removes it)")],
) -> None:
    """Keep a note with a run (shown by `runs show` and the Runs page, found by `runs list --search`)."""
    from worker.curation import CurationError, set_note

    try:
        set_note(run_id, text)
    except CurationError as exc:
        raise fail(str(exc)) from None


@runs_app.command("archive")
def archive(
    run_ids: Annotated[list[str], typer.Argument(help="run ids: 5 7, 5,7 or 5-9")],
    undo: Annotated[bool, typer.Option("--undo", help="bring them back")] = False,
) -> None:
    """Hide finished runs from the lists (`runs list --archived` shows them); they stay whole and readable."""
    from worker.curation import CurationError, archive_runs

    try:
        changed = archive_runs(_run_ids(run_ids), archived=not undo)
    except CurationError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{'unarchived' if undo else 'archived'}: {', '.join(map(str, changed)) or 'none (already so)'}")


@runs_app.command("delete")
def delete(
    run_ids: Annotated[list[str], typer.Argument(help="run ids: 5 7, 5,7 or 5-9")],
    yes: Annotated[bool, typer.Option("--yes", help="delete; without it, only say what would go")] = False,
) -> None:
    """Delete finished runs with their artifacts; refused for a run another run reads (delete them together)."""
    from worker.curation import CurationError, delete_runs
    from y8m_models.sizes import human

    try:
        gone = delete_runs(_run_ids(run_ids), dry_run=not yes)
    except CurationError as exc:
        raise fail(str(exc)) from None
    what = f"run {', '.join(map(str, gone.runs))} and {len(gone.folders)} folder(s), {human(gone.bytes)}"
    typer.echo(f"deleted {what}" if yes else f"would delete {what}; --yes deletes them")


@runs_app.command("export")
def export(
    run_ids: Annotated[list[str] | None, typer.Argument(help="run ids: 5 7, 5,7 or 5-9 (default: every finished "
                                                        "run the filters keep)")] = None,
    mlflow: Annotated[str | None, typer.Option(help="an MLflow tracking URI (sqlite:///mlflow.db, http://host:5000) or "
                                               "a folder (FOLDER/mlflow.db)")] = None,
    tensorboard: Annotated[Path | None, typer.Option(help="a folder of TensorBoard runs (`tensorboard --logdir "
                                                     "FOLDER`)")] = None,
    experiment: Annotated[str, typer.Option(help="the MLflow experiment")] = "y8m",
    tag: Annotated[list[str] | None, typer.Option("--tag", help="only runs with this tag (repeatable)")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", help="only runs whose configuration has key OP "
                                                    "value (as `runs list`)")] = None,
) -> None:
    """Export runs to MLflow or TensorBoard: configuration as parameters, every metric by step, final scores, tags,
    note (runs already there are skipped)."""
    from worker.curation import CurationError, check_tags
    from worker.runs import list_runs
    from worker.tracking import ExportError, records, to_mlflow, to_tensorboard

    if (mlflow is None) == (tensorboard is None):
        raise fail("give one of --mlflow URI|FOLDER and --tensorboard FOLDER")
    try:
        tags = check_tags(tag or [])
    except CurationError as exc:
        raise fail(str(exc)) from None
    filters = _value_filters(where)
    ids = _run_ids(run_ids) if run_ids else [r["id"] for r in list_runs(
        ["succeeded", "failed", "cancelled"], limit=100_000, tags=tags, where=filters)][::-1]
    if not ids:
        raise fail("no run to export")
    say = lambda line: typer.echo(line, err=True)  # noqa: E731
    try:
        runs = records(ids)
        written = to_mlflow(runs, mlflow, experiment, say) if mlflow else to_tensorboard(runs, tensorboard, say)
    except ExportError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"exported {len(written)} run(s), {len(ids) - len(written)} already there")


@runs_app.command("predict")
def predict(
    run_id: Annotated[int, typer.Argument(help="a succeeded train run")],
    split: Annotated[str, typer.Option(help="the split to predict")] = "test",
    submission: Annotated[bool, typer.Option(help="write a Kaggle submission CSV into the run's folder")] = True,
    attention_videos: Annotated[str | None, typer.Option(help="dump these videos' attention weights: ID,ID")] = None,
    csv: Annotated[bool | None, typer.Option("--csv/--no-csv", hidden=True, help="the old --submission")] = None,
) -> None:
    """Queue a trained run's predictions on a split; prints the predict run's id."""
    from worker.runs import SubmitError
    from worker.runs import predict as predict_run

    old = renamed("--csv/--no-csv", "--submission/--no-submission", csv)
    try:
        videos = [v for v in attention_videos.split(",") if v] if attention_videos else None
        typer.echo(predict_run(run_id, split, submission=submission if old is None else old,
                               attention_videos=videos))
    except SubmitError as exc:
        raise fail(str(exc)) from None


@app.command("worker")
def worker(
    queues: Annotated[str, typer.Option(help="gpu (training, stacking, predicting), cpu (merging)")] = "gpu,cpu",
    concurrency: Annotated[int, typer.Option(help="processes; 1 per GPU (set CUDA_VISIBLE_DEVICES per worker)")] = 1,
    loglevel: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
    name: Annotated[str | None, typer.Option(help="node name (default y8m-PID@HOST)")] = None,
    gpus: Annotated[str | None, typer.Option(help="one worker per GPU, named gpu<i>@HOST: all (nvidia-smi -L, or "
                                                  "CUDA_VISIBLE_DEVICES when set) or 0,1,...")] = None,
    ping: Annotated[bool, typer.Option("--ping", help="only check that the workers these options name (--name or "
                                                      "--gpus) answer on this host; exit 1 if one does not")] = False,
) -> None:
    """Start a Celery worker: prefork, a fresh process per run, late acks, prefetch 1 (ARCHITECTURE.md)."""
    from worker.celery_app import QUEUES
    from worker.local import WorkerError, gpu_ids, gpu_node, run_per_gpu

    unknown = [q for q in queues.split(",") if q not in QUEUES]
    if unknown or not queues:
        raise fail(f"--queues: {', '.join(unknown) or 'empty'}; the queues are {', '.join(QUEUES)}")
    if concurrency < 1 or (gpus and concurrency != 1):
        raise fail(f"--concurrency {concurrency}: at least 1, and 1 with --gpus (one process per GPU)")
    if gpus and name:
        raise fail(f"--name {name}: --gpus names its workers gpu<i>@HOST")
    try:
        devices = gpu_ids(gpus) if gpus else []
    except WorkerError as exc:
        raise fail(str(exc)) from None
    if ping:
        _ping([gpu_node(g) for g in devices] if gpus else [name] if name else [])
    elif gpus:
        raise typer.Exit(run_per_gpu(devices, queues, loglevel))
    else:
        _run_worker(queues, concurrency, loglevel, name)


@app.command("paper")
def paper(
    out: Annotated[Path, typer.Option(help="where paper.md and paper.json go (demo.md and demo.json with --demo)")],
    data: Annotated[str | None, typer.Option(help="a registered dataset's name, or a dataset directory in a data "
                                                  "root (`y8m data synth OUT --preset paper`)")] = None,
    tables: Annotated[str, typer.Option(help="the paper's tables: 2-12, or a list such as 4,5,7")] = "2-12",
    seeds: Annotated[int, typer.Option(help="how many seeds of every run")] = 3,
    first_seed: Annotated[int, typer.Option(help="the first of them (seeds S..S+N-1), for a set to --merge later")] = 0,
    merge: Annotated[list[Path] | None, typer.Option("--merge", help="instead of training: join the paper.json of "
                                                     "sets with other seeds into one report (repeatable)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Tables 4, 5, 7, 8 and 10 with one seed")] = False,
    demo: Annotated[bool, typer.Option("--demo", help="the demo instead of tables: #23, #25 and #75 at the tiny "
                                                      "preset, and three of the paper's findings on them")] = False,
    preset: Annotated[str, typer.Option(help="paper, small or tiny")] = "tiny",
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, max=MAX_INT32,
                                                        help="cap every training run's steps")] = None,
    eval_every: Annotated[int | None, typer.Option(help="score validate1 every N steps; the best weights are kept "
                                                        "(default: every half epoch)")] = None,
    workers: Annotated[int, typer.Option(help="local workers to start for the call, one thread each (0: the "
                                              "deployment's workers train)")] = max(1, os.cpu_count() or 1),
    timeout: Annotated[float | None, typer.Option(help="give up waiting after S seconds (the runs go on)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as one JSON object")] = False,
) -> None:
    """Regenerate the paper's Tables 2-12 on a dataset: every run in the run store (reused by content hash, so a
    second call resumes), each table beside the paper's, each comparison it draws reproduced or not. With
    --demo: the demo's runs, and whether frame models beat the video-level #2, #25's attention avoids the
    filler frames and #75's members carry different classes."""
    from worker.paper import DEMO_MD, REPORT_MD, PaperOptions, regenerate, run_demo
    from worker.paper import merge as merge_reports
    from worker.runs import SubmitError
    from y8m_models.paper import QUICK, parse_tables

    if merge:
        try:
            report = merge_reports(merge, out)
        except SubmitError as exc:
            raise fail(str(exc)) from None
        typer.echo(json.dumps(report) if as_json else (out / REPORT_MD).read_text())
        return
    if data is None:
        raise fail("--data is needed (a dataset to train on), unless --merge joins reports")
    if demo:
        if quick or preset != "tiny" or max_steps is not None or eval_every is not None:
            raise fail("--demo trains its own runs at the tiny preset: it takes no --quick, --preset, --max-steps "
                       "or --eval-every")
        try:
            found = run_demo(data, out, workers=workers, timeout=timeout, log=lambda line: typer.echo(line, err=True))
        except (SubmitError, TimeoutError) as exc:
            raise fail(str(exc)) from None
        typer.echo(json.dumps(found) if as_json else (out / DEMO_MD).read_text())
        return

    try:
        chosen = QUICK if quick else parse_tables(tables)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if seeds < 1 or workers < 0 or first_seed < 0:
        raise fail(f"--seeds must be at least 1, --workers and --first-seed at least 0, not {seeds}, {workers} and "
                   f"{first_seed}")
    options = PaperOptions(tables=chosen, seeds=1 if quick else seeds, preset=preset, max_steps=max_steps,
                           eval_every=eval_every, first_seed=first_seed)
    try:
        report = regenerate(data, out, options, workers=workers, timeout=timeout,
                            log=lambda line: typer.echo(line, err=True))
    except (SubmitError, TimeoutError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report))
    else:
        typer.echo((out / REPORT_MD).read_text())


sweeps_app = typer.Typer(help="Sweeps in the database: list, show, stop, resume, save the best trial as a variant.",
                         no_args_is_help=True)
app.add_typer(sweeps_app, name="sweeps")


@app.command("sweep")
def sweep(
    config: Annotated[str, typer.Argument(help="a single model: paper number (25), slug or a variant's name")],
    data: Annotated[str, typer.Option(help="a registered dataset's name, or a dataset directory in a data root")],
    space: Annotated[Path | None, typer.Option(help="a YAML file: key: {low: L, high: H, log: true, step: S} or "
                                               "key: [choice, ...] per varied value")] = None,
    set_range: Annotated[list[str] | None, typer.Option("--set-range", help="a varied value: key=low:high, "
                                                        "key=low:high:log or key=[a,b,c] (repeatable)")] = None,
    trials: Annotated[int, typer.Option(help="the budget: how many trials in all")] = 20,
    parallel: Annotated[int, typer.Option(help="how many trials run at once (on as many workers)")] = 1,
    prune: Annotated[str, typer.Option(help="stop poor trials on their validate1 GAP: none, median or "
                                       "hyperband")] = "none",
    prune_startup: Annotated[int, typer.Option(help="median: trials finished before any is pruned")] = 5,
    prune_warmup: Annotated[int, typer.Option(help="median: steps before a trial may be pruned")] = 0,
    prune_min_steps: Annotated[int, typer.Option(help="hyperband: the fewest steps a trial trains")] = 1,
    sampler: Annotated[str, typer.Option(help="tpe (Optuna's default) or random")] = "tpe",
    name: Annotated[str | None, typer.Option(help="the sweep's name (default SLUG-sweep-ID)")] = None,
    note: Annotated[str, typer.Option(help="a note kept with the sweep")] = "",
    preset: PresetOption = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, max=MAX_INT32,
                                                        help="stop each trial after N steps")] = None,
    epochs: Annotated[float | None, typer.Option(help="default: the configuration's")] = None,
    seed: SeedOption = DEFAULTS.seed,
    set_: Annotated[list[str] | None, typer.Option("--set", help="a fixed value of every trial: key=value "
                                                   "(repeatable)")] = None,
    eval_every: Annotated[int | None, typer.Option(help="score validate1 every N steps: the points pruning judges "
                                                   "(default: every half epoch)")] = None,
    device: Annotated[str, typer.Option(help="auto (the worker's GPU, else CPU), cpu, cuda ...")] = DEFAULTS.device,
    precision: PrecisionOption = DEFAULTS.precision,
    detach: Annotated[bool, typer.Option("--detach", help="print the sweep's id and return; the workers run "
                                         "it")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the finished sweep as JSON")] = False,
) -> None:
    """Search a configuration's values: each trial is a run the workers train (same store, same resume), Optuna
    draws the values and prunes poor trials on their validate1 GAP. Follows the sweep until it finishes; Ctrl-C
    leaves it to the workers (`y8m sweeps stop` stops it)."""
    from worker.sweeps import SweepError, SweepRequest, create_sweep
    from y8m_models.configs.space import SearchSpace, SpaceError
    from y8m_models.study import Pruning

    options = run_options(preset=preset_or_default(preset), seed=seed, max_steps=max_steps, epochs=epochs,
                          overrides=parse_set(set_), eval_every=eval_every, device=device, precision=precision)
    try:
        ranges = SearchSpace.from_ranges(set_range) if set_range else None
        from_file = SearchSpace.from_yaml(space.read_text(), str(space)) if space else None
    except SpaceError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"--space {space}: {exc.strerror}") from None
    if ranges is None and from_file is None:
        raise fail("nothing to vary: give --space SPACE.yaml or --set-range key=low:high")
    try:
        searched = from_file.merged(ranges) if from_file and ranges else from_file or ranges
    except SpaceError as exc:
        raise fail(str(exc)) from None
    try:
        pruning = Pruning(prune, prune_startup, prune_warmup, prune_min_steps)
    except ValueError as exc:
        raise fail(f"--prune {prune}: {exc}") from None
    request = SweepRequest(config=config, data=data, space=searched, options=options, n_trials=trials,
                           parallel=parallel, sampler=sampler, pruning=pruning, name=name, note=note)
    try:
        sweep_id = create_sweep(request)
    except SweepError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"sweep {sweep_id}: {trials} trials of {'#' + config if config.isdigit() else config}, {parallel} at "
               "once", err=True)
    if detach:
        typer.echo(sweep_id)
        return
    _follow(sweep_id, as_json)


def _follow(sweep_id: int, as_json: bool, interval: float = 2.0) -> None:
    """Advance the sweep and print each trial's new state until it ends (Ctrl-C: the workers go on with it)."""
    import time

    from worker.sweeps import advance, show_sweep

    seen: dict[int, str] = {}
    try:
        while True:
            advance(sweep_id)
            info = show_sweep(sweep_id)
            for trial in info["trials"]:
                line = _trial_line(trial)
                if seen.get(trial["number"]) != line:
                    seen[trial["number"]] = line
                    typer.echo(line, err=True)
            if info["status"] != "running":
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        typer.echo(f"\nsweep {sweep_id} goes on in the workers; `y8m sweeps show {sweep_id}` follows it, "
                   f"`y8m sweeps stop {sweep_id}` stops it", err=True)
        raise typer.Exit(130) from None
    _print_sweep(info, as_json)


def _trial_line(trial: dict) -> str:
    from y8m_models.configs.space import values_text

    values = values_text(trial["params"])
    value = "" if trial["value"] is None else f" validate1 GAP {trial['value']:.4f}"
    run = f" run {trial['run']}" if trial["run"] else ""
    progress = (f" step {trial['run_step']}/{trial['run_steps'] or '?'}"
                if trial["state"] == "running" and trial["run_step"] else "")
    why = f" ({trial['message']})" if trial["message"] and trial["state"] in ("failed", "pruned") else ""
    return f"  trial {trial['number']:>3} {trial['state']:<8}{run}{progress}{value}: {values}{why}"


def _print_sweep(info: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(info))
        return
    counts = ", ".join(f"{n} {state}" for state, n in info["trials_by_state"].items() if n)
    typer.echo(f"sweep {info['id']} {info['name']}: {info['status']}, {info['config']} on {info['dataset']}, "
               f"{len(info['trials'])}/{info['n_trials']} trials ({counts or 'none yet'})")
    for key, param in info["space"].items():
        typer.echo(f"  {key}: {param}")
    best = info["best"]
    if best:
        from y8m_models.configs.space import values_text

        typer.echo(f"  best: trial {best['trial']}, run {best['run']}, validate1 GAP {best['value']:.4f}: "
                   + values_text(best["params"]))


@sweeps_app.command("list")
def sweeps_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every sweep: status, configuration, trials, best validate1 GAP."""
    from worker.sweeps import list_sweeps

    rows = list_sweeps()
    if as_json:
        typer.echo(json.dumps(rows))
        return
    typer.echo(f"{'id':>4}  {'name':<32} {'status':<9} {'config':<10} {'trials':>9}  {'best':>7}")
    for r in rows:
        done = r["done"]
        best = f"{r['best']['value']:.4f}" if r["best"] else ""
        count = f"{done}/{r['n_trials']}"
        typer.echo(f"{r['id']:>4}  {r['name'][:32]:<32} {r['status']:<9} {r['config'][:10]:<10} {count:>9}  {best:>7}")


@sweeps_app.command("show")
def sweeps_show(
    sweep_ref: Annotated[str, typer.Argument(help="a sweep's id or name")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A sweep and each of its trials: values, state, run, validate1 GAP."""
    from worker.sweeps import SweepError, show_sweep

    try:
        info = show_sweep(sweep_ref)
    except SweepError as exc:
        raise fail(str(exc)) from None
    if not as_json:
        for trial in info["trials"]:
            typer.echo(_trial_line(trial))
    _print_sweep(info, as_json)


@sweeps_app.command("stop")
def sweeps_stop(sweep_ref: Annotated[str, typer.Argument(help="a sweep's id or name")]) -> None:
    """Stop asking trials and cancel the running ones (`y8m sweeps resume` asks them again)."""
    from worker.sweeps import SweepError, stop_sweep, sweep_id_of

    try:
        cancelled = stop_sweep(sweep_id_of(sweep_ref))
    except SweepError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"stopped; runs cancelled: {cancelled or 'none'}")


@sweeps_app.command("resume")
def sweeps_resume(
    sweep_ref: Annotated[str, typer.Argument(help="a sweep's id or name")],
    trials: Annotated[int | None, typer.Option(help="a new budget of trials in all")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="return at once; the workers run it")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run a stopped (or finished) sweep again: its stopped trials start over, --trials raises its budget."""
    from worker.sweeps import SweepError, resume_sweep, sweep_id_of

    try:
        sweep_id = sweep_id_of(sweep_ref)
        resume_sweep(sweep_id, trials)
    except SweepError as exc:
        raise fail(str(exc)) from None
    if not detach:
        _follow(sweep_id, as_json)


@sweeps_app.command("save")
def sweeps_save(
    sweep_ref: Annotated[str, typer.Argument(help="a sweep's id or name")],
    name: Annotated[str, typer.Argument(help="the variant's name")],
    note: Annotated[str, typer.Option(help="a note kept with the variant")] = "",
) -> None:
    """Save the best trial's configuration as a variant: `y8m runs submit --config NAME` launches it, an ensemble
    takes it as a member."""
    from worker.sweeps import SweepError, save_best

    try:
        variant = save_best(sweep_ref, name, note)
    except SweepError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"saved {variant.label}: " + ", ".join(f"{k}={v}" for k, v in variant.overrides.items()))


def _run_worker(queues: str, concurrency: int, loglevel: str, name: str | None) -> None:
    from sqlalchemy.engine import make_url

    from db.engine import get_engine
    from db.migrate import ensure_schema
    from db.settings import Settings

    settings = Settings.from_env()
    ensure_schema(get_engine(settings.database_url))
    from worker.celery_app import celery

    database = make_url(settings.database_url).render_as_string(hide_password=True)
    typer.echo(f"y8m worker: queues {queues}, broker {celery.connection().as_uri()}, database {database}", err=True)
    sys.stdout.flush()
    celery.worker_main(["worker", "-Q", queues, "-P", "prefork", "-c", str(concurrency),
                        "--max-tasks-per-child", "1", "-n", name or f"y8m-{os.getpid()}@%h",
                        "--loglevel", loglevel, "--without-gossip", "--without-mingle"])


def _ping(nodes: list[str], timeout: float = 5.0) -> None:
    """Exit 0 when every node answers a ping within ``timeout`` (the compose file's worker healthchecks)."""
    from celery.utils.nodenames import host_format

    from worker.celery_app import celery

    if not nodes:
        raise fail("--ping: name the workers with --name or --gpus (the default name y8m-PID@HOST is per process)")
    wanted = [host_format(n) for n in nodes]
    replies = celery.control.ping(destination=wanted, timeout=timeout)
    missing = sorted(set(wanted) - {node for reply in replies for node in reply})
    if missing:  # exit 1: Docker reads a healthcheck's 1 as unhealthy (2 is reserved)
        typer.echo(f"error: no answer in {timeout:.0f} s from {', '.join(missing)} "
                   f"(broker {celery.connection().as_uri()})", err=True)
        raise typer.Exit(1)
    typer.echo(f"{', '.join(wanted)}: pong")


__all__ = ["app"]


@data_app.command("extract")
def data_extract(
    videos: Annotated[list[Path], typer.Argument(help="video files, or folders of them (.mp4, .mkv, .webm, ...)")],
    out: Annotated[Path, typer.Argument(help="the dataset folder to write (new, or empty)")],
    labels: Annotated[Path | None, typer.Option(help="a CSV video_id,labels[,split] as convert's (video_id: the "
                                                "file name without its suffix); without it every video is a test "
                                                "video without labels")] = None,
    vocabulary: Annotated[Path | None, typer.Option(help="a vocabulary.csv the labels name (or Index)")] = None,
    image_network: Annotated[str, typer.Option(help="inception_v3 (YouTube-8M's), timm:NAME or "
                                               "open_clip:ARCH/PRETRAINED")] = "inception_v3",
    weights: Annotated[Path | None, typer.Option(help="the image network's weights file (default: the library's "
                                                 "cache; nothing is downloaded)")] = None,
    audio: Annotated[bool, typer.Option("--audio/--no-audio", help="VGGish audio features")] = True,
    audio_weights: Annotated[Path | None, typer.Option(help="VGGish's weights (torchvggish's "
                                                       "vggish-10086976.pth; default: the torch hub cache)")] = None,
    pca: Annotated[Path | None, typer.Option(help="the official PCA (yt8m_pca: mean.npy, eigenvals.npy, "
                                             "eigenvecs.npy; and vggish_pca_params.npz), or a dataset extracted "
                                             "before; default: fitted on these videos")] = None,
    like: Annotated[Path | None, typer.Option(help="extract as this extracted dataset was (its networks, "
                                              "weights and PCA): videos to predict on with its runs")] = None,
    rgb_width: Annotated[int, typer.Option(help="PCA components of the frame features")] = 1024,
    max_seconds: Annotated[int, typer.Option(help="frames taken, one per second, from the start")] = 360,
    thumbnail: Annotated[int, typer.Option(help="thumbnails' width in pixels (0: none)")] = 160,
    random_weights: Annotated[bool, typer.Option("--random-weights", help="networks with random weights: for "
                                                 "testing the pipeline only")] = False,
    device: Annotated[str, typer.Option(help="cpu, cuda, ... (auto: the first GPU, else the CPU)")] = "auto",
    ratios: Annotated[str, typer.Option(help="with --labels and no split column: shares of train1, validate1, "
                                        "train2, validate2, test")] = RATIOS_TEXT,
    seed: Annotated[int, typer.Option(min=0, max=MAX_INT32, help="the random split's seed")] = 0,
    queue: Annotated[str | None, typer.Option(help="send to the workers' queue (cpu or gpu) instead of extracting "
                                              "here; prints the extraction's folder")] = None,
    keep_cache: Annotated[bool, typer.Option("--keep-cache", help="keep the per-video cache beside OUT")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Your own videos as a dataset in the YouTube-8M layout: 1 frame per second through Inception-v3, 0.96 s of
    audio per frame through VGGish, PCA with whitening and 8-bit codes as the official extractor, thumbnails per
    frame. Resumable per video: run it again after a stop."""
    from dataclasses import replace

    from y8m_models.data.errors import Y8MDataError
    from y8m_models.features.extract import ExtractOptions, extract

    shares = parse_ratios(ratios)
    given = {"image_network": image_network, "weights": str(weights) if weights else None, "audio": audio,
             "audio_weights": str(audio_weights) if audio_weights else None, "pca": str(pca) if pca else None,
             "rgb_width": rgb_width, "max_frames": max_seconds, "thumbnail": thumbnail,
             "random_weights": random_weights}
    try:
        if like is not None:
            default = ExtractOptions()
            flags = {"max_frames": "--max-seconds", "audio": "--no-audio"}
            changed = [flags.get(k, f"--{k.replace('_', '-')}") for k, v in given.items() if v != getattr(default, k)]
            if changed:
                raise fail(f"--like takes the networks, weights and PCA of {like}: drop {', '.join(changed)}")
        options = ExtractOptions.like(like) if like is not None else ExtractOptions(**given)
        if device != "auto":
            options = replace(options, device=device)
        if queue is not None:
            from worker.extract import submit
            from worker.runs import SubmitError

            if device != "auto" or keep_cache:
                raise fail(f"--queue {queue}: the worker takes its own device and removes its cache; drop "
                           + ", ".join(f for f, on in (("--device", device != "auto"), ("--keep-cache", keep_cache))
                                       if on))
            try:
                folder = submit(list(videos), options, out=out, labels=labels, vocabulary=vocabulary,
                                ratios=shares, seed=seed, queue=queue)
            except SubmitError as exc:
                raise fail(str(exc)) from None
            typer.echo(json.dumps({"folder": str(folder)}) if as_json else str(folder))
            return
        if device == "auto":
            from y8m_models.train import select_device

            options = replace(options, device=str(select_device()))
        done = extract(list(videos), out, labels=labels, vocabulary=vocabulary, options=options, ratios=shares,
                       seed=seed, progress=_ExtractBar(), keep_cache=keep_cache)
    except (Y8MDataError, ValueError, OSError) as exc:  # bad videos, options, weights, PCA; a full disk
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(done.to_dict()))
        return
    parts = ", ".join(f"{split} {n}" for split, n in done.videos.items() if n)
    typer.echo(f"wrote {sum(done.videos.values())} videos ({parts}), {done.frames} frames to {done.out} in "
               f"{done.seconds['total']:.1f} s; PCA: " + "; ".join(f"{k} {v}" for k, v in done.pca.items())
               + (f"; without audio: {', '.join(done.silent)}" if done.silent else ""))


class _ExtractBar:
    """A tqdm bar per video (frames taken), on stderr."""

    def __init__(self):
        self.bar = None

    def __call__(self, p) -> None:
        from tqdm import tqdm

        if p.stage in ("decode", "audio"):
            if self.bar is None:
                self.bar = tqdm(desc=f"{p.index + 1}/{p.videos} {p.video}", unit="frame", file=sys.stderr,
                                dynamic_ncols=True, leave=True)
            self.bar.update(p.frames - self.bar.n)
            self.bar.set_postfix_str(p.stage)
        elif p.stage in ("done", "cached"):
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            if p.stage == "cached":
                typer.echo(f"{p.index + 1}/{p.videos} {p.video}: already extracted", err=True)
        else:
            typer.echo(f"{p.stage} ...", err=True)
