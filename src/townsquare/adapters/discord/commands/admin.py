"""``/award``, ``/revoke`` and ``/grant-achievement``: manual grants by a server's admins.

Permission is checked twice: ``default_permissions`` asks Discord to show the commands only
to members with Manage Server, and `manager_only` checks it again on our side (a server's
overrides, or a crafted request, can get the command to anyone). A grant goes through the
grants service, which records it with its audit entry; the pipeline's grant relay applies
it moments later, under the same rules and ledger as every other event. Its idempotency
key is the interaction id, so an interaction Discord delivers twice grants once.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from townsquare.adapters.discord.commands.localization import described
from townsquare.adapters.discord.commands.replies import (
    CURRENCY_CHOICES,
    SUCCESS,
    Interaction,
    currency_of,
    defer,
    embed,
    plain,
    priced,
    respond,
)
from townsquare.adapters.discord.commands.scope import (
    actor_of,
    community_of,
    context_of,
    is_manager,
    manager_only,
    member_id_of,
    sessions_of,
)
from townsquare.core.achievement_config import AchievementConfig
from townsquare.services.grants import GrantAction, GrantOut, GrantRequest, request_grant

MAX_AMOUNT = 10**12  # the grants service's bound
_SUGGESTIONS = 25


def grant_key(interaction: Interaction) -> str:
    """Deterministic per interaction: a redelivered interaction replays the first grant."""
    return f"discord-interaction:{interaction.id}"


async def grant(
    interaction: Interaction,
    member: discord.abc.User,
    action: GrantAction,
    *,
    reason: str | None,
    **granted: Any,
) -> GrantOut:
    """Record a grant (and its audit entry) for the relay to apply."""
    community_id = await community_of(interaction)
    async with sessions_of(interaction).begin() as session:
        member_id = await member_id_of(session, community_id, member)
        request = GrantRequest(
            member_id=member_id,
            action=action,
            reason=reason,
            idempotency_key=grant_key(interaction),
            **granted,
        )
        return await request_grant(session, actor_of(interaction), community_id, request)


def grant_embed(title: str, what: str, member: discord.abc.User, made: GrantOut) -> discord.Embed:
    done = embed(title, f"{what} for {member.mention}.", colour=SUCCESS)
    if made.reason:
        done.add_field(name="Reason", value=plain(made.reason, 500), inline=False)
    return done.set_footer(text=f"Grant #{made.id} · applied within seconds · in the audit log")


async def _amount_grant(
    interaction: Interaction,
    action: GrantAction,
    member: discord.Member,
    amount: int,
    currency: app_commands.Choice[str],
    reason: str | None,
) -> None:
    await defer(interaction, ephemeral=True)
    chosen = currency_of(currency)
    made = await grant(interaction, member, action, reason=reason, **{chosen: amount})
    verb = "Awarded" if action is GrantAction.AWARD else "Revoked"
    shown = grant_embed(f"{verb} {priced(amount, chosen)}", verb, member, made)
    await respond(interaction, embeds=[shown], ephemeral=True)


@app_commands.command(name="award", description=described("Give a member XP, Stars or Gold"))
@app_commands.describe(
    member="Who receives it",
    amount="How much",
    currency="XP, Stars or Gold",
    reason="Why (kept in the audit log)",
)
@app_commands.choices(currency=CURRENCY_CHOICES)
@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
@manager_only()
async def award(
    interaction: Interaction,
    member: discord.Member,
    amount: app_commands.Range[int, 1, MAX_AMOUNT],
    currency: app_commands.Choice[str],
    reason: app_commands.Range[str, 1, 500] | None = None,
) -> None:
    await _amount_grant(interaction, GrantAction.AWARD, member, amount, currency, reason)


@app_commands.command(name="revoke", description=described("Take XP, Stars or Gold from a member"))
@app_commands.describe(
    member="Whose balance shrinks",
    amount="How much",
    currency="XP, Stars or Gold",
    reason="Why (kept in the audit log)",
)
@app_commands.choices(currency=CURRENCY_CHOICES)
@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
@manager_only()
async def revoke(
    interaction: Interaction,
    member: discord.Member,
    amount: app_commands.Range[int, 1, MAX_AMOUNT],
    currency: app_commands.Choice[str],
    reason: app_commands.Range[str, 1, 500] | None = None,
) -> None:
    await _amount_grant(interaction, GrantAction.REVOKE, member, amount, currency, reason)


def achievement_matches(
    achievements: tuple[AchievementConfig, ...] | list[AchievementConfig], typed: str
) -> list[app_commands.Choice[str]]:
    """Achievements whose id or name contains what was typed (hidden ones too: admins
    may grant them), in catalog order."""
    wanted = typed.strip().lower()
    found = []
    for achievement in achievements:
        if wanted in achievement.id.lower() or wanted in achievement.name.lower():
            secret = " (hidden)" if achievement.hidden else ""
            label = f"{achievement.name}{secret} · {achievement.id}"
            found.append(app_commands.Choice(name=label[:100], value=achievement.id))
            if len(found) == _SUGGESTIONS:
                break
    return found


async def achievement_choices(
    interaction: Interaction, current: str
) -> list[app_commands.Choice[str]]:
    # Autocomplete runs no checks: without this, anyone could list hidden achievements.
    if not is_manager(interaction):
        return []
    community_id = await community_of(interaction)
    async with sessions_of(interaction).begin() as session:
        context = await context_of(interaction, session, community_id)
    return achievement_matches(context.config.document.rules.achievements, current)


@app_commands.command(
    name="grant-achievement", description=described("Give a member an achievement")
)
@app_commands.describe(
    member="Who receives it",
    achievement="The achievement (start typing its name)",
    reason="Why (kept in the audit log)",
)
@app_commands.autocomplete(achievement=achievement_choices)
@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
@manager_only()
async def grant_achievement(
    interaction: Interaction,
    member: discord.Member,
    achievement: app_commands.Range[str, 1, 100],
    reason: app_commands.Range[str, 1, 500] | None = None,
) -> None:
    await defer(interaction, ephemeral=True)
    made = await grant(
        interaction, member, GrantAction.AWARD, reason=reason, achievement_key=achievement
    )
    what = f"Granted the achievement `{plain(achievement, 100)}`"
    shown = grant_embed("Achievement granted", what, member, made)
    await respond(interaction, embeds=[shown], ephemeral=True)


def commands() -> list[app_commands.Command[Any, ..., Any]]:
    return [award, revoke, grant_achievement]
