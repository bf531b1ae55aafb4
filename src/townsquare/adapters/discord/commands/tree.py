"""The command tree: what the commands share, and the one place their failures are answered.

Why a subclass: discord.py routes every failed slash command (a typed error from a service,
a failed permission check, an option it could not convert) to ``CommandTree.on_error``, so
translating errors there keeps each command to "parse, call a service, render". The tree
also lives as long as the bot, which makes it the owner of what commands share: the cache
of compiled community configurations and which view currently drives each leaderboard
message. The translator is installed right before a sync, the
only time discord.py uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.abc import Snowflake

from townsquare.adapters.discord.commands.localization import CommandTranslator
from townsquare.adapters.discord.commands.replies import Interaction, reply_error
from townsquare.pipeline.lru import LruMap
from townsquare.services.engagement import ConfigDocuments

if TYPE_CHECKING:
    from townsquare.adapters.discord.bot import TownsquareBot

#: Leaderboard messages whose current view is remembered (older ones just keep working).
_TRACKED_PAGES = 10_000


class TownsquareTree(app_commands.CommandTree["TownsquareBot"]):
    """The bot's command tree (`townsquare.adapters.discord.commands.build_tree` fills it)."""

    def __init__(self, bot: TownsquareBot) -> None:
        super().__init__(bot)
        self.documents = ConfigDocuments()
        # leaderboard message id -> the view now on it; a replaced view's timeout
        # must not disable the buttons of the page that replaced it.
        self.current_pages: LruMap[int, discord.ui.View] = LruMap(_TRACKED_PAGES)

    async def sync(self, *, guild: Snowflake | None = None) -> list[app_commands.AppCommand]:
        if self.translator is None:
            await self.set_translator(CommandTranslator())
        return await super().sync(guild=guild)

    async def on_error(
        self, interaction: Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await reply_error(interaction, error)
