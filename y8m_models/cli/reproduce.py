"""``y8m reproduce``: configurations by paper number, with every run they need, in dependency order."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from y8m_models.cli.common import (
    DEFAULTS,
    AsInCode,
    DeterministicOption,
    DeviceOption,
    OldCode,
    PrecisionOption,
    PresetOption,
    SeedOption,
    app,
    as_in_code,
    fail,
    preset_or_default,
    resolve_device,
    run_options,
)
from y8m_models.limits import MAX_INT32


@app.command("reproduce")
def reproduce(
    configs: Annotated[str, typer.Option(help="paper numbers, slugs, variants' names, lists and ranges: 75,80 or "
                                         "28-46")],
    data: Annotated[Path, typer.Option(help="dataset directory (frame/ and video/ with the Table 1 files)")],
    preset: PresetOption = None,
    out: Annotated[Path | None, typer.Option(help="folder of the runs (default: $Y8M_HOME/reproduce)")] = None,
    seed: SeedOption = DEFAULTS.seed,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, max=MAX_INT32,
                                                        help="cap every training run's steps")] = None,
    code: AsInCode = False,
    old_code: OldCode = None,
    eval_every: Annotated[int | None, typer.Option(help="score validate1 every N steps in training runs "
                                                   "(default: every half epoch)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the jobs and stop")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    device: DeviceOption = DEFAULTS.device,
    precision: PrecisionOption = DEFAULTS.precision,
    deterministic: DeterministicOption = DEFAULTS.deterministic,
) -> None:
    """Run configurations and every run they need (members, teachers, cascade inputs), reusing finished runs;
    print each configuration's GAP on validate2."""
    from y8m_models.configs import ConfigError, get_config, parse_configs
    from y8m_models.configs.schema import Variant
    from y8m_models.configs.variants import find, target_key
    from y8m_models.data.splits import split_files
    from y8m_models.data.vocabulary import resolve_num_classes
    from y8m_models.experiment import RunError
    from y8m_models.pipeline import Refs, describe, plan, run_plan

    try:
        numbers = parse_configs(configs, "--configs", find)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    options = run_options(preset=preset_or_default(preset), seed=seed, max_steps=max_steps,
                          as_in_code=as_in_code(code, old_code), eval_every=eval_every, device=device,
                          precision=precision, deterministic=deterministic)
    out = out or Path(os.environ.get("Y8M_HOME", "var")) / "reproduce"
    try:
        if not data.is_dir():
            raise RunError(f"data directory {data} does not exist")
        test = any(split_files(data, level).get("test") for level in ("video", "frame")
                   if (data / level).is_dir())
        jobs = plan(numbers, data, options, test_split=test, refs=Refs(variant=find))
        if dry_run:
            typer.echo(json.dumps(describe(jobs), indent=1))
            return
        from y8m_models.executor import Executor

        level = next(lv for lv in ("video", "frame") if (data / lv).is_dir())
        classes = resolve_num_classes(split_files(data, level)["train1"], None)
        if classes is None:
            raise RunError(f"cannot tell the number of classes: no vocabulary.csv under {data}")
        resolve_device(options.device)  # a device this machine lacks exits here, naming --device
        executor = Executor(data, lambda job: out / job.name, classes, options,
                            log=lambda line: typer.echo(line, err=True))
        results = run_plan(jobs, out, executor, log=lambda line: typer.echo(line, err=True))
    except (RunError, ConfigError, ValueError) as exc:
        raise fail(str(exc)) from None
    rows = []
    for n in numbers:
        variant = n if isinstance(n, Variant) else None
        config, job = get_config(variant.base if variant else n), jobs.targets[target_key(n)]
        rows.append({"number": config.number, "slug": config.slug, "variant": variant.name if variant else None,
                     "split": "validate2", "gap": results[target_key(n)]["gap"]["validate2"],
                     "paper_gap": None if variant else config.paper_gap, "run": str(out / job.name)})
    if as_json:
        typer.echo(json.dumps(rows))
    else:
        for row in rows:
            paper = f"{row['paper_gap']:.4f}" if row["paper_gap"] else "   -  "
            number = f"#{row['number']}" if row["number"] else ""
            name = f"{row['slug']} · {row['variant']}" if row["variant"] else row["slug"]
            typer.echo(f"{number:<4} {name:<40} validate2 GAP {row['gap']:.4f}  (paper {paper})")
    sys.stdout.flush()
