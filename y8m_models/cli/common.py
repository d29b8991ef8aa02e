"""The ``y8m`` app object, the one way commands report bad input, and the run options and device they build."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from y8m_models.limits import MAX_INT32
from y8m_models.options import OptionsError, RunOptions

AsInCode = Annotated[bool, typer.Option("--as-in-code", help="the authors' code values where they differ from the "
                                         "paper")]
OldCode = Annotated[bool | None, typer.Option("--code", hidden=True, help="the old --as-in-code")]

DEFAULTS = RunOptions()  # every run option's default, in one place: the commands' defaults are its fields
PresetOption = Annotated[str | None, typer.Option("--preset", show_default=False, help="the model sizes: paper, "
                                                  f"small or tiny (default {DEFAULTS.preset})")]
DeviceOption = Annotated[str, typer.Option("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1 ...")]
PrecisionOption = Annotated[str, typer.Option("--precision", help="auto (bf16 autocast on CUDA, else fp32), fp32 "
                                              "or bf16: README, Precision")]
SeedOption = Annotated[int, typer.Option("--seed", min=0, max=MAX_INT32)]
LoaderWorkersOption = Annotated[int, typer.Option("--loader-workers", help="DataLoader processes reading the "
                                                  "records (0: read in the training process)")]
OldWorkers = Annotated[int | None, typer.Option("--workers", hidden=True, help="the old --loader-workers")]
CompileOption = Annotated[bool, typer.Option("--compile", help="run the training forward through torch.compile")]
DeterministicOption = Annotated[bool, typer.Option("--deterministic", help="deterministic kernels only (CUDA: "
                                                   "bit-for-bit repeatable and resumable, slower)")]
BudgetOption = Annotated[str | None, typer.Option("--budget", help="bytes the model must fit in (1GB: the 2018 "
                                                 "challenge's rule; 500MB, 1.5GiB)")]

app = typer.Typer(help="y8m: YouTube-8M video classification in PyTorch.", no_args_is_help=True,
                  pretty_exceptions_enable=False)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; the caller raises the returned exit (status 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def renamed(old: str, new: str, value):
    """The value given under a spelling that was renamed (ARCHITECTURE.md, glossary), with a notice on stderr;
    ``None`` when it was not given. Old spellings keep working for one release."""
    if value is not None:
        typer.echo(f"warning: {old} is now {new}; {old} goes away in the next release", err=True)
    return value


def as_in_code(flag: bool, old: bool | None) -> bool:
    """``--as-in-code``, or the old ``--code`` (with the notice of ``renamed``)."""
    return flag or bool(renamed("--code", "--as-in-code", old))


def preset_or_default(given: str | None) -> str:
    """``--preset``, or the default preset with a notice on stderr: until December 2026 the command line's
    default was ``paper`` while the Launch form, the worker API and the pipeline took ``tiny``; there is one
    default now (``RunOptions``), and the notice goes in the next release."""
    if given is not None:
        return given
    typer.echo(f"note: no --preset, so the {DEFAULTS.preset} preset (the default; before December 2026 the "
               "command line's default was paper): --preset paper for the paper's model sizes", err=True)
    return DEFAULTS.preset


def loader_workers(value: int, old: int | None) -> int:
    """``--loader-workers``, or the old ``--workers`` (with the notice of ``renamed``): "workers" are the Celery
    worker processes (``y8m worker``, ``y8m paper --workers``)."""
    old = renamed("--workers", "--loader-workers", old)
    return value if old is None else old


def run_options(**values: Any) -> RunOptions:
    """The command's run options (``RunOptions.of``: the defaults for what is not given), or its exit naming
    the bad option."""
    try:
        return RunOptions.of(**values)
    except OptionsError as exc:
        raise fail(str(exc)) from None


def resolve_device(name: str) -> str:
    """The device ``--device NAME`` resolves to on this machine (``train.select_device``), or the exit."""
    from y8m_models.train import select_device

    try:
        return str(select_device(name))
    except RuntimeError as exc:
        raise fail(f"--device {name!r}: {exc}") from None


def budget_bytes(text: str | None) -> int | None:
    """``--budget`` in bytes (``sizes.parse_bytes``), None where not given, or the command's exit naming it."""
    from y8m_models.sizes import parse_bytes

    try:
        return None if text is None else parse_bytes(text)
    except ValueError as exc:
        raise fail(f"--budget {exc}") from None
