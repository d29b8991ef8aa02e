"""The ``y8m`` app object and the one way commands report bad input."""

from __future__ import annotations

import typer

app = typer.Typer(help="y8m: YouTube-8M video classification in PyTorch.", no_args_is_help=True,
                  pretty_exceptions_enable=False)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; the caller raises the returned exit (status 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)
