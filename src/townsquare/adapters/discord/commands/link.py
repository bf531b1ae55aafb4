"""``/link``: a one-time code that attaches the member's LINE account to this profile.

The code is private (an ephemeral reply): whoever types it to the LINE bot first gets
their LINE account attached to this member. It lasts ten minutes, works once, and asking
again replaces it. The rules of linking (and why an account that already has activity of
its own cannot be merged) are `townsquare.services.identity`'s.
"""

from __future__ import annotations

from typing import Any

from discord import app_commands

from townsquare.adapters.discord.commands.replies import (
    Interaction,
    defer,
    embed,
    respond,
    timestamp,
)
from townsquare.adapters.discord.commands.scope import (
    community_of,
    member_id_of,
    now_of,
    sessions_of,
)
from townsquare.core.kinds import Platform
from townsquare.services.identity import issue_code


@app_commands.command(name="link", description="Link your LINE account to this profile")
@app_commands.guild_only()
async def link(interaction: Interaction) -> None:
    await defer(interaction, ephemeral=True)
    community_id = await community_of(interaction)
    async with sessions_of(interaction).begin() as session:
        member_id = await member_id_of(session, community_id, interaction.user)
        issued = await issue_code(
            session,
            community_id=community_id,
            member_id=member_id,
            platform=Platform.LINE.value,
            now=now_of(interaction),
        )
    shown = embed(
        "Link your LINE account",
        f"Send this to the community's LINE bot in a one-to-one chat:\n"
        f"```\nlink {issued.code}\n```\n"
        f"The code works once and expires {timestamp(issued.expires_at)}. Keep it to "
        "yourself: whoever sends it first gets linked to your profile.",
    )
    await respond(interaction, embeds=[shown], ephemeral=True)


def commands() -> list[app_commands.Command[Any, ..., Any]]:
    return [link]
