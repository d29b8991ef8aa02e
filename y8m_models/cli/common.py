"""The ``y8m`` app object, the one way commands report bad input, and the run options and device they build."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from y8m_models.options import OptionsError, RunOptions

AsInCode = Annotated[bool, typer.Option("--as-in-code", help="the authors' code values where they differ from the "
                                         "paper")]
OldCode = Annotated[bool | None, typer.Option("--code", hidden=True, help="the old --as-in-code")]

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
