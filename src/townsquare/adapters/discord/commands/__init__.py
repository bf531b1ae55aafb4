"""Slash commands, one module per feature area; `build_tree` puts them on the bot.

- `ranks`: ``/rank [member] [explain]`` (the rank card)
- `leaderboard`: ``/leaderboard [currency] [season]`` (paged with buttons)
- `profile`: ``/profile [member]``, ``/achievements [member]``, ``/season``
- `preferences`: ``/preferences [level_ups] [achievements]``
- `link`: ``/link`` (a one-time code to attach a LINE account)
- `admin`: ``/award``, ``/revoke``, ``/grant-achievement`` (Manage Server)
- `configure`: ``/config show | announcements | multiplier`` (Manage Server)

Shared: `replies` (errors as friendly replies, embeds, numbers), `scope` (community,
member and admin of an interaction), `tree` (the tree and its error handler),
`localization` (command descriptions in zh-TW and ja).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from townsquare.adapters.discord.commands import (
    admin,
    configure,
    leaderboard,
    link,
    preferences,
    profile,
    ranks,
)
from townsquare.adapters.discord.commands.tree import TownsquareTree

if TYPE_CHECKING:
    from townsquare.adapters.discord.bot import TownsquareBot


def build_tree(bot: TownsquareBot) -> TownsquareTree:
    """The command tree with every Townsquare command; the leaderboard's page buttons are
    registered on the bot so they keep working on messages sent before a restart."""
    tree = TownsquareTree(bot)
    for module in (ranks, leaderboard, profile, preferences, link, admin):
        for command in module.commands():
            tree.add_command(command)
    for group in configure.commands():
        tree.add_command(group)
    bot.add_dynamic_items(leaderboard.PageButton)
    return tree
