"""``/profile [member]``, ``/achievements [member]`` and ``/season``: the public reads as embeds.

The same use cases as the public API's member, achievement and season pages, so a member
reads the same numbers in Discord and on the web.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from townsquare.adapters.discord.commands.localization import described
from townsquare.adapters.discord.commands.ranks import member_profile
from townsquare.adapters.discord.commands.replies import (
    CURRENCY_ICONS,
    CURRENCY_NAMES,
    Interaction,
    amount,
    clip,
    defer,
    embed,
    plain,
    progress_bar,
    respond,
    timestamp,
)
from townsquare.adapters.discord.commands.scope import community_of, context_of, sessions_of
from townsquare.services import engagement
from townsquare.services.engagement import ProfileOut, SeasonsOut
from townsquare.services.engagement.profile_schemas import EarnedAchievement, Standings
from townsquare.services.engagement.schemas import Amounts, SeasonOut

#: Achievements listed by name; the rest are counted.
LISTED_ACHIEVEMENTS = 15
_WINDOWS_SHOWN = 10


def _balances(amounts: Amounts) -> str:
    return "\n".join(
        f"{CURRENCY_ICONS[c]} {amount(getattr(amounts, c))} {CURRENCY_NAMES[c]}"
        for c in CURRENCY_NAMES
    )


def _ranks(standings: Standings) -> str:
    lines = []
    for currency in CURRENCY_NAMES:
        standing = getattr(standings, currency)
        if standing is not None:
            name = CURRENCY_NAMES[currency]
            lines.append(f"{name}: #{standing.rank} of {amount(standing.total)}")
    return "\n".join(lines) or "Not ranked yet"


def profile_embed(found: ProfileOut, user: discord.abc.User) -> discord.Embed:
    level = found.level
    if level.max_level or level.next_level_xp is None:
        progress = "Highest level reached"
    else:
        progress = (
            f"{progress_bar(level.progress)} {round(level.progress * 100)}%\n"
            f"{amount(level.xp_to_next_level or 0)} XP to level {level.level + 1}"
        )
    shown = embed(f"{plain(user.display_name)} · level {level.level}", progress)
    shown.set_thumbnail(url=user.display_avatar.url)
    shown.add_field(name="All time", value=_balances(found.balances.lifetime))
    season = found.balances.season
    if season is not None:
        shown.add_field(name=f"Season {season.season}", value=_balances(season.balances))
    shown.add_field(name="Ranks (all time)", value=_ranks(found.ranks.lifetime))
    if found.ranks.season is not None:
        shown.add_field(name="Ranks (this season)", value=_ranks(found.ranks.season))
    if found.achievements:
        latest = sorted(found.achievements, key=lambda a: a.awarded_at, reverse=True)[:3]
        names = ", ".join(plain(a.name, 48) for a in latest)
        shown.add_field(
            name=f"Achievements ({len(found.achievements)})", value=clip(names), inline=False
        )
    if found.joined_at is not None:
        shown.set_footer(text="Member since")
        shown.timestamp = found.joined_at
    return shown


def _achievement_line(earned: EarnedAchievement) -> str:
    rarity = f" · {plain(earned.rarity.name, 24)}" if earned.rarity else ""
    season = f" · season {plain(earned.season, 24)}" if earned.season else ""
    return f"🏅 **{plain(earned.name, 64)}**{rarity}{season} · {timestamp(earned.awarded_at, 'd')}"


def achievements_embed(
    found: ProfileOut, user: discord.abc.User, offered: int, hidden: int
) -> discord.Embed:
    earned = sorted(found.achievements, key=lambda a: a.awarded_at, reverse=True)
    lines = [_achievement_line(a) for a in earned[:LISTED_ACHIEVEMENTS]]
    if len(earned) > LISTED_ACHIEVEMENTS:
        lines.append(f"… and {len(earned) - LISTED_ACHIEVEMENTS} more")
    shown = embed(
        f"{plain(user.display_name)} · achievements",
        clip("\n".join(lines), 4000) or "No achievements yet.",
    )
    secret = f" and {hidden} secret ones" if hidden else ""
    return shown.set_footer(text=f"{len(earned)} earned · this server offers {offered}{secret}")


def _season_name(season: SeasonOut) -> str:
    named = f" ({plain(season.name, 48)})" if season.name else ""
    return f"**{plain(season.id, 64)}**{named}"


def season_embed(schedule: SeasonsOut) -> discord.Embed:
    shown = embed("Seasons")
    current = schedule.current
    if schedule.schedule == "endless":
        shown.description = "One endless season: every balance counts toward the same boards."
        return shown
    if current is None:
        shown.add_field(name="Now", value="No season is running.", inline=False)
    else:
        ends = f", ends {timestamp(current.ends_at)}" if current.ends_at else ""
        shown.add_field(name="Now", value=f"{_season_name(current)}{ends}", inline=False)
    upcoming = schedule.next
    if upcoming is not None:
        starts = f", starts {timestamp(upcoming.starts_at)}" if upcoming.starts_at else ""
        shown.add_field(name="Next", value=f"{_season_name(upcoming)}{starts}", inline=False)
    if schedule.recurring is not None:
        shown.set_footer(text=f"A new season every {schedule.recurring.length_days} days")
    elif schedule.windows:
        lines = [
            f"{_season_name(w)}: {timestamp(w.starts_at, 'd')} – {timestamp(w.ends_at, 'd')}"
            for w in schedule.windows[-_WINDOWS_SHOWN:]
            if w.starts_at is not None and w.ends_at is not None
        ]
        shown.add_field(name="Schedule", value=clip("\n".join(lines)), inline=False)
    return shown


@app_commands.command(
    name="profile", description=described("A member's profile: level, balances, ranks")
)
@app_commands.describe(member="Whose profile (default: yours)")
@app_commands.guild_only()
async def profile(interaction: Interaction, member: discord.Member | None = None) -> None:
    await defer(interaction)
    target = member or interaction.user
    found = await member_profile(interaction, target)
    await respond(interaction, embeds=[profile_embed(found, target)])


@app_commands.command(
    name="achievements", description=described("Achievements a member has earned")
)
@app_commands.describe(member="Whose achievements (default: yours)")
@app_commands.guild_only()
async def achievements(interaction: Interaction, member: discord.Member | None = None) -> None:
    await defer(interaction)
    target = member or interaction.user
    found = await member_profile(interaction, target)
    community_id = await community_of(interaction)
    async with sessions_of(interaction).begin() as session:
        context = await context_of(interaction, session, community_id)
        offered = await engagement.catalog(session, context)
    shown = achievements_embed(found, target, len(offered.achievements), offered.hidden_count)
    await respond(interaction, embeds=[shown])


@app_commands.command(name="season", description=described("The current season and the next one"))
@app_commands.guild_only()
async def season(interaction: Interaction) -> None:
    await defer(interaction)
    community_id = await community_of(interaction)
    async with sessions_of(interaction).begin() as session:
        context = await context_of(interaction, session, community_id)
    await respond(interaction, embeds=[season_embed(engagement.seasons(context))])


def commands() -> list[app_commands.Command[Any, ..., Any]]:
    return [profile, achievements, season]
