"""``y8m``: the command line. Each command is a thin wrapper over a library call; one module per group.

Errors in user input (a damaged record, a missing file, a bad option or configuration) print one line
naming what is wrong and exit with status 2; a check that finds damage or a failing model exits with 1.
"""

from y8m_models.cli import configs, data, reproduce, train  # noqa: F401  (registers the commands)
from y8m_models.cli.common import app

__all__ = ["app"]
