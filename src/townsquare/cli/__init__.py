"""The ``townsquare`` command: one typer app, one module per command group.

Every command loads settings itself (so ``--help`` works even with a broken config), and
every ``TownsquareError`` ends as one clear line on stderr and exit code 2 — no traceback.
"""

from __future__ import annotations

import sys

from townsquare.cli.app import app
from townsquare.cli.common import ShutdownRequested, print_error
from townsquare.errors import TownsquareError

# Register the command groups (each module adds its commands to ``app``).
from townsquare.cli import admin, bench, community_config, db, imports, lake, line, run  # noqa: F401  isort: skip


def main() -> None:
    try:
        app()
    except TownsquareError as exc:
        print_error(exc.message)
        sys.exit(exc.exit_code)
    except ShutdownRequested:
        sys.exit(0)
