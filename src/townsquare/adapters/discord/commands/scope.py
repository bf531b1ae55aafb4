"""Which community, member and actor an interaction is about, and whether it may administer.

Every command starts from these, so the guild → community bootstrap, the
``discord:<user id>`` member reference, the audit actor and the server-side admin check are
written once. The admin check is the second of two: ``default_permissions`` only asks
Discord to hide a command, which a server's own overrides (or a crafted request) can undo.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import discord
from discord import app_commands
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from townsquare.adapters.discord.commands.replies import Interaction, NotManager, Refusal
from townsquare.adapters.discord.commands.tree import TownsquareTree
from townsquare.services.audit import Actor, ActorType
from townsquare.services.engagement import CommunityContext, community_context
from townsquare.store.profiles import find_member

PLATFORM = "discord"
T = TypeVar("T")


def sessions_of(interaction: Interaction) -> async_sessionmaker[AsyncSession]:
    """Sessions for the interaction's unit of work (``async with ….begin()``)."""
    return interaction.client.sessions


def tree_of(interaction: Interaction) -> TownsquareTree:
    tree = interaction.client.tree
    if not isinstance(tree, TownsquareTree):  # only `build_tree` makes the bot's tree
        raise TypeError("the bot's command tree is not a TownsquareTree")
    return tree


def now_of(interaction: Interaction) -> datetime:
    """The bot's clock (tests and replays decide what "now" is)."""
    return datetime.fromtimestamp(interaction.client.clock(), UTC)


def member_ref(user: discord.abc.Snowflake) -> str:
    """How services name a Discord account: ``discord:<user id>``."""
    return f"{PLATFORM}:{user.id}"


def actor_of(interaction: Interaction) -> Actor:
    """The audit log's actor for an admin acting through the bot: the Discord user."""
    return Actor(type=ActorType.USER, id=member_ref(interaction.user))


def is_manager(interaction: Interaction) -> bool:
    """Manage Server or Administrator, as Discord computed it for this interaction."""
    permissions = interaction.permissions
    return permissions.manage_guild or permissions.administrator


def manager_only() -> Callable[[T], T]:
    """The server-side half of an admin command's permission check."""

    def predicate(interaction: Interaction) -> bool:
        if not is_manager(interaction):
            raise NotManager()
        return True

    return app_commands.check(predicate)


async def community_of(interaction: Interaction) -> int:
    """The community of the interaction's server (created with defaults on first sight).

    Call it before opening a session: a first sight bootstraps in a transaction of its own.
    """
    guild = interaction.guild
    if guild is None:
        raise app_commands.NoPrivateMessage()
    return await interaction.client.community_for(guild)


async def context_of(
    interaction: Interaction, session: AsyncSession, community_id: int
) -> CommunityContext:
    """The community with its compiled configuration, as every engagement read needs it."""
    tree = tree_of(interaction)
    return await community_context(session, str(community_id), tree.documents, now_of(interaction))


def no_profile(user: discord.abc.User) -> Refusal:
    return Refusal(
        f"No such member in this community: {user.mention} has no Townsquare profile here "
        "yet (members appear once they have been active)."
    )


async def member_id_of(session: AsyncSession, community_id: int, user: discord.abc.User) -> int:
    """The member id of a Discord user in the community (`Refusal` when there is none)."""
    found = await find_member(session, community_id, member_ref(user))
    if found is None:
        raise no_profile(user)
    return found.id
