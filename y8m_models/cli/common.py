"""The ``y8m`` app object and the one way commands report bad input."""

from __future__ import annotations

import typer

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
