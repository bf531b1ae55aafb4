"""``/preferences [level_ups] [achievements]``: a member opts out of (or back into) announcements.

Private by nature, so every reply is ephemeral. Without options it shows the current
choices; an option left out keeps its current value. The announcer reads the same row
before every post, so a change applies to the very next announcement.
"""

from __future__ import annotations

from typing import Any

from discord import app_commands

from townsquare.adapters.discord.commands.localization import described
from townsquare.adapters.discord.commands.replies import (
    ACCENT,
    SUCCESS,
    Interaction,
    defer,
    embed,
    respond,
)
from townsquare.adapters.discord.commands.scope import (
    PLATFORM,
    community_of,
    member_id_of,
    sessions_of,
)
from townsquare.store.member_lookup import (
    AnnouncePreferences,
    announce_preferences,
    save_announce_preferences,
)


def _state(on: bool) -> str:
    return "announced" if on else "not announced"


def preferences_text(chosen: AnnouncePreferences) -> str:
    return (
        f"Your level-ups are **{_state(chosen.level_ups)}**.\n"
        f"Your achievements are **{_state(chosen.achievements)}**."
    )


@app_commands.command(
    name="preferences", description=described("Which announcements about you are posted")
)
@app_commands.describe(
    level_ups="Announce when you reach a new level",
    achievements="Announce when you unlock an achievement",
)
@app_commands.guild_only()
async def preferences(
    interaction: Interaction, level_ups: bool | None = None, achievements: bool | None = None
) -> None:
    await defer(interaction, ephemeral=True)
    community_id = await community_of(interaction)
    user_id = str(interaction.user.id)
    async with sessions_of(interaction).begin() as session:
        member_id = await member_id_of(session, community_id, interaction.user)
        conn = await session.connection()
        current = await announce_preferences(conn, community_id, PLATFORM, user_id)
        chosen = AnnouncePreferences(
            level_ups=current.level_ups if level_ups is None else level_ups,
            achievements=current.achievements if achievements is None else achievements,
        )
        changed = chosen != current
        if changed:
            await save_announce_preferences(conn, community_id, member_id, chosen)
    title = "Announcement preferences saved" if changed else "Announcement preferences"
    shown = embed(title, preferences_text(chosen), colour=SUCCESS if changed else ACCENT)
    await respond(interaction, embeds=[shown], ephemeral=True)


def commands() -> list[app_commands.Command[Any, ..., Any]]:
    return [preferences]
