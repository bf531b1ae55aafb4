"""Slash commands, one module per feature area; `build_tree` puts them on the bot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord import app_commands

if TYPE_CHECKING:
    from townsquare.adapters.discord.bot import TownsquareBot


def build_tree(bot: TownsquareBot) -> app_commands.CommandTree[TownsquareBot]:
    """The command tree with every Townsquare command."""
    tree: app_commands.CommandTree[TownsquareBot] = app_commands.CommandTree(bot)
    return tree
