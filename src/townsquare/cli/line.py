"""``townsquare line``: set up what LINE shows around the chat (the rich menu)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from townsquare.adapters.line.rich_menu import AREAS, install_rich_menu
from townsquare.cli.app import app
from townsquare.cli.common import out_console, sigterm_unwinds, state

line_app = typer.Typer(
    help="The LINE official accounts: rich menu setup.",
    no_args_is_help=True,
    epilog=(
        "Examples:\n\n  townsquare line rich-menu clinic\n\n"
        "  townsquare line rich-menu clinic --keep-old"
    ),
)
app.add_typer(line_app, name="line")


@line_app.command("rich-menu")
def rich_menu(
    ctx: typer.Context,
    channel: Annotated[
        str, typer.Argument(help="The channel's key in line.channels (as in its webhook URL).")
    ],
    keep_old: Annotated[
        bool,
        typer.Option("--keep-old", help="Keep the menus an earlier run made (default: delete)."),
    ] = False,
) -> None:
    """Create the rich menu (Rank, Leaderboard, Profile, Help), upload its image and make
    it every user's default. Run it again to replace it."""
    settings = state(ctx).settings()
    with sigterm_unwinds():
        installed = asyncio.run(install_rich_menu(settings.line, channel, replace=not keep_old))
    labels = " / ".join(label for label, _action, _colour in AREAS)
    replaced = f"; replaced {len(installed.replaced)} earlier" if installed.replaced else ""
    out_console.print(
        f"Rich menu {installed.menu_id} ({labels}) is now the default of {channel}{replaced}."
    )
