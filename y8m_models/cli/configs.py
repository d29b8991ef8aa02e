"""``y8m configs list|show|check``: the 80 configurations of the paper, and the saved variants (``list
--variants``, ``show NAME``; ``y8m configs save`` is the run store's: ``worker.cli``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from y8m_models.cli.common import DEFAULTS, AsInCode, OldCode, PresetOption, app, as_in_code, fail, preset_or_default

configs_app = typer.Typer(help="The paper's 80 configurations and those beyond it: list, show, check.",
                          no_args_is_help=True)
app.add_typer(configs_app, name="configs")


def _summary(config) -> dict:
    row = {"number": config.number, "slug": config.slug, "title": config.title, "section": config.section,
           "paper_section": config.paper_section, "level": config.level, "paper_gap": config.paper_gap,
           "paper_private_gap": config.paper_private_gap}
    if config.model is not None:
        row["architecture"] = config.model.architecture
    else:
        row["method"] = config.ensemble.method
        row["members"] = [m if isinstance(m, int) else m.label for m in config.ensemble.members] or (
            [config.ensemble.member if isinstance(config.ensemble.member, int) else config.ensemble.member.label]
            * config.ensemble.count)
    return row


def _variant_summary(variant) -> dict:
    """A variant as JSON (as `configs save --json` prints it) with its one-line label."""
    return {**variant.model_dump(mode="json"), "label": variant.label}


@configs_app.command("list")
def configs_list(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    baselines: Annotated[bool, typer.Option("--baselines", help="also the paper's Table 2 baselines")] = False,
    variants: Annotated[bool, typer.Option("--variants", help="the saved variants instead (from the run store)")] = (
        False),
) -> None:
    """List the configurations (the paper's #1-#80, then #81 on beyond it): number, slug, section, level, paper
    GAP (validate2) or private LB (for #81 on, the score their own paper published) and title; or the
    saved variants: name, base, changed values, and the run that froze it."""
    from y8m_models.configs import ConfigError, all_configurations
    from y8m_models.configs.schema import SECTIONS
    from y8m_models.configs.variants import listed

    if variants:
        try:
            saved = [_variant_summary(v) for v in listed()]
        except ConfigError as exc:
            raise fail(str(exc)) from None
        if as_json:
            typer.echo(json.dumps(saved, indent=1))
            return
        for row in saved:
            frozen = f"frozen by run {row['frozen_by']}" if row["frozen_by"] else "not used yet"
            changes = " ".join(f"{k}={json.dumps(v)}" for k, v in row["overrides"].items())
            typer.echo(f"  {row['label']:<40} {frozen:<20} {changes}")
        if not saved:
            typer.echo("no variants yet: `y8m configs save NAME --from 25 --set key=value` saves one", err=True)
        return
    rows = [_summary(c) for c in all_configurations(baselines)]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    section = None
    for row in rows:
        if row["section"] != section:
            section = row["section"]
            typer.echo(f"{section} {SECTIONS[section]}")
        number = f"#{row['number']}" if row["number"] else "-"
        gap = (f"{row['paper_gap']:.4f}" if row["paper_gap"] else
               f"LB {row['paper_private_gap']:.5f}" if row["paper_private_gap"] else "-")
        typer.echo(f"  {number:>4} {row['slug']:<42} {row['level']:<8} {gap:<12} {row['title']}")


@configs_app.command("show")
def configs_show(
    key: Annotated[str, typer.Argument(help="paper number (18, #18), slug (chaining_cnn) or a variant's name")],
    preset: PresetOption = None,
    code: AsInCode = False,
    old_code: OldCode = None,
    num_classes: Annotated[int, typer.Option(min=1, help="classes for the parameter count (2017: 4716)")] = 4716,
) -> None:
    """Print the full configuration as JSON, with the parameter count of each single model at the preset, its
    weights' bytes in fp32, fp16 and int8 and whether each fits the 2018 challenge's 1 GB (``size``), the same for
    the whole configuration with every run it predicts with (``whole``: an ensemble's members and combiner, a
    cascade's streams; not a distillation's teacher), and where its code is (``code``: the class that builds each
    model; an ensemble's combiner and jobs). A saved variant's name shows it resolved, with its base and changed
    values under ``variant``."""

    import torch

    from y8m_models.configs import ConfigError, resolve, single_models
    from y8m_models.configs.build import build_model, job_parameters
    from y8m_models.configs.variants import find
    from y8m_models.models import ModelInputs
    from y8m_models.options import RunOptions
    from y8m_models.pipeline import Refs, plan
    from y8m_models.sizes import size_of

    code, preset = as_in_code(code, old_code), preset_or_default(preset)
    try:
        variant = find(key)  # None for a number or a slug
        config = resolve(variant.base if variant else key, preset, as_in_code=code,
                         overrides=variant.overrides if variant else None)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    try:  # the runs it needs, as a submission plans them (the dataset only names them: none is read)
        jobs = plan([variant or config.number or config.slug], Path("/dataset"),
                    RunOptions(preset=preset, as_in_code=code), refs=Refs(variant=find))
        target = next(iter(jobs.targets.values()))
    except ConfigError as exc:  # a finished run as a member (run:ID) is counted by `runs submit --budget`
        target, unplanned = None, str(exc)
    out = config.model_dump(mode="json")
    if variant is not None:
        out["variant"] = _variant_summary(variant)
    counts, sizes, where = {}, {}, {}
    for label, model in single_models(config):
        with torch.device("meta"):  # counted, not allocated (#81 at the paper's sizes is 333 M)
            net = build_model(model, ModelInputs(num_classes))
        counts[label] = sum(p.numel() for p in net.parameters())
        sizes[label] = size_of(counts[label])
        where[label] = _qualified(type(net))
    if config.ensemble is not None:
        where.update(_ensemble_code(config.ensemble))
    out["preset"], out["as_in_code_applied"], out["parameters"], out["code"] = preset, code, counts, where
    out["size"] = sizes
    if target is None:
        out["whole"] = {"not_counted": unplanned}
    else:
        jobs = target.predicting()
        whole = sum(job_parameters(job, num_classes) for job in jobs)
        out["whole"] = {"runs": len(jobs), "parameters": whole, **size_of(whole)}
    typer.echo(json.dumps(out, indent=1))


def _qualified(thing: object) -> str:
    return f"{thing.__module__}.{thing.__qualname__}"


def _ensemble_code(ensemble) -> dict[str, str]:
    """Where an ensemble's own computation is: its combiner's class, its members' weights, its merge; the jobs
    that run it are ``y8m_models.executor.Executor``'s."""
    from y8m_models.ensemble import merge, weights
    from y8m_models.ensemble.stacking import build_stack
    from y8m_models.executor import Executor

    found = {"jobs": _qualified(Executor)}
    if ensemble.combiner is not None:
        found["combiner"] = _qualified(type(build_stack(ensemble.combiner, 2, 2, 2)))
    if ensemble.method == "bagging" and ensemble.bootstrap:
        found["member weights"] = _qualified(weights.bootstrap_weights)
    if ensemble.method == "boosting":
        found["member weights"] = _qualified(weights.boosting_weights)
    if ensemble.method == "merge":
        found["merge"] = _qualified(merge.merge_top_k)
    return found


@configs_app.command("check")
def configs_check(
    preset: Annotated[str, typer.Option(help="the model sizes: paper, small or tiny")] = DEFAULTS.preset,
    configs: Annotated[str | None, typer.Option(help="comma-separated numbers or slugs (default: all)")] = None,
    code: AsInCode = False,
    old_code: OldCode = None,
    num_classes: Annotated[int, typer.Option(min=1, help="classes of the synthetic batch")] = 60,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Build every single model, run one forward + backward on a synthetic batch, check shapes and finite
    gradients; exit 1 naming what failed."""
    from y8m_models.configs import CONFIGURATIONS, ConfigError, get_config
    from y8m_models.configs.check import check_configurations

    code = as_in_code(code, old_code)
    try:
        chosen = [get_config(k) for k in configs.split(",")] if configs else list(CONFIGURATIONS)
        results = check_configurations(chosen, preset, code, num_classes)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in results], indent=1))
    else:
        for r in results:
            typer.echo(f"{r.status:<8} {r.label:<46} {r.parameters:>12,} params {r.seconds * 1000:>8.0f} ms"
                       f"{'  ' + r.detail if r.detail else ''}")
    failed = [r.label for r in results if r.status == "failed"]
    typer.echo(f"{len(results) - len(failed)} ok, {len(failed)} failed", err=True)
    if failed:
        typer.echo(f"failed: {', '.join(failed)}", err=True)
        raise typer.Exit(1)
