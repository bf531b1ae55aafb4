"""``/rank [member] [explain]``: the rank card, and on request how recent rewards were computed.

The card is drawn off the event loop (`render_rank_card` is ~15 ms of CPU) and the
interaction is deferred first, so the 3 s deadline holds however slow the database or the
avatar download is. The explanation comes from the reward breakdowns the writer stored with
each event (the profile service's ``recent_events``), never from message content.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from typing import Any

import discord
from discord import app_commands

from townsquare.adapters.discord.commands.localization import described
from townsquare.adapters.discord.commands.replies import (
    Interaction,
    amount,
    clip,
    defer,
    embed,
    plain,
    respond,
    timestamp,
)
from townsquare.adapters.discord.commands.scope import (
    community_of,
    context_of,
    member_ref,
    no_profile,
    sessions_of,
)
from townsquare.adapters.discord.rank_card import RankCard, render_rank_card
from townsquare.errors import NotFound
from townsquare.services import engagement
from townsquare.services.engagement import ProfileOut
from townsquare.services.engagement.profile_schemas import RecentEvent

#: Events the explanation shows (each is an embed field; Discord allows 25).
EXPLAINED_EVENTS = 5
_AVATAR_SECONDS = 3.0
_AVATAR_SIDE = 256
CARD_FILENAME = "rank.png"


async def member_profile(
    interaction: Interaction, user: discord.abc.User, *, recent: int = 0
) -> ProfileOut:
    """The profile of a Discord user in the interaction's community (`Refusal` if none)."""
    community_id = await community_of(interaction)
    async with sessions_of(interaction).begin() as session:
        context = await context_of(interaction, session, community_id)
        try:
            return await engagement.profile(session, context, member_ref(user), recent)
        except NotFound:
            raise no_profile(user) from None


@app_commands.command(name="rank", description=described("Your level, rank and balances as a card"))
@app_commands.describe(
    member="Whose card (default: yours)",
    explain="Also show how the latest rewards were computed",
)
@app_commands.guild_only()
async def rank(
    interaction: Interaction, member: discord.Member | None = None, explain: bool = False
) -> None:
    await defer(interaction)
    target = member or interaction.user
    found = await member_profile(interaction, target, recent=EXPLAINED_EVENTS if explain else 0)
    card = rank_card(found, target, await avatar_of(target))
    png = await asyncio.to_thread(render_rank_card, card)
    embeds = [summary_embed(found, target)]
    if explain:
        embeds.append(explain_embed(found))
    await respond(interaction, embeds=embeds, file=discord.File(io.BytesIO(png), CARD_FILENAME))


def rank_card(found: ProfileOut, user: discord.abc.User, avatar: bytes | None) -> RankCard:
    level = found.level
    standing = found.ranks.lifetime.xp
    card = RankCard(
        display_name=user.display_name,
        level=level.level,
        xp_into_level=level.xp - level.level_xp,
        xp_for_next_level=(
            None if level.next_level_xp is None else level.next_level_xp - level.level_xp
        ),
        total_xp=level.xp,
        rank=None if standing is None else standing.rank,
        members_ranked=None if standing is None else standing.total,
        stars=found.balances.lifetime.stars,
        gold=found.balances.lifetime.gold,
        avatar_png=avatar,
    )
    # The member's role colour when they have one, else the card's own accent.
    colour = user.colour if isinstance(user, discord.Member) else discord.Colour.default()
    return replace(card, accent=colour.to_rgb()) if colour.value else card


async def avatar_of(user: discord.abc.User) -> bytes | None:
    """The member's own avatar, or None (the card then draws initials).

    Default avatars are not fetched (the initials look better than a generic logo), and a
    slow or failing CDN costs at most a few seconds, never the reply.
    """
    asset = (user.guild_avatar if isinstance(user, discord.Member) else None) or user.avatar
    if asset is None:
        return None
    try:
        async with asyncio.timeout(_AVATAR_SECONDS):
            return await asset.with_format("png").with_size(_AVATAR_SIDE).read()
    except (discord.DiscordException, TimeoutError):
        return None


def summary_embed(found: ProfileOut, user: discord.abc.User) -> discord.Embed:
    """The words next to the card: level, what the next one needs, and the rank."""
    level = found.level
    if level.max_level or level.xp_to_next_level is None:
        progress = "the highest level"
    else:
        progress = f"{amount(level.xp_to_next_level)} XP to level {level.level + 1}"
    standing = found.ranks.lifetime.xp
    ranked = (
        "not ranked yet" if standing is None else f"#{standing.rank} of {amount(standing.total)}"
    )
    card = embed(f"{plain(user.display_name)} — level {level.level}", f"{progress} · {ranked}")
    return card.set_image(url=f"attachment://{CARD_FILENAME}")


def explain_embed(found: ProfileOut) -> discord.Embed:
    """One field per recent event: each step of its reward, as the rules computed it."""
    explained = embed("How the latest rewards were computed")
    for event in found.recent_events[:EXPLAINED_EVENTS]:
        explained.add_field(
            name=clip(event.kind.replace("_", " "), 256),
            value=clip(_explanation(event)),
            inline=False,
        )
    if not found.recent_events:
        explained.description = "No rewards to explain yet."
    return explained


def _explanation(event: RecentEvent) -> str:
    lines = [line for breakdown in event.breakdowns for line in breakdown.explanation]
    if not lines:
        lines = [f"earned nothing ({event.blocked_by or event.status})"]
    steps = clip("\n".join(lines), 900)
    return f"{timestamp(event.occurred_at)}\n```\n{steps}\n```"


def commands() -> list[app_commands.Command[Any, ..., Any]]:
    return [rank]
