"""The root typer app and its global options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from townsquare.cli.common import CliState

app = typer.Typer(
    name="townsquare",
    help=(
        "Townsquare: a self-hostable community engine for Discord and LINE.\n\n"
        "Settings come from TOWNSQUARE_* environment variables and an optional TOML file "
        "(--config). With no TOWNSQUARE_DATABASE_URL, an embedded PostgreSQL is started in "
        "the user's data directory."
    ),
    epilog=(
        "Examples:\n\n"
        "  townsquare demo                      # simulated community, API and dashboard\n\n"
        "  townsquare --config prod.toml serve  # the API with settings from a file\n\n"
        "  townsquare db status                 # which schema revision the database is at"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="TOWNSQUARE_CONFIG",
            help="TOML settings file; environment variables override it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    ctx.obj = CliState(config_file=config)
