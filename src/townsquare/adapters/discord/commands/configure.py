"""``/config``: the settings an admin changes most, without leaving Discord.

``/config show`` lists them; ``/config announcements`` and ``/config multiplier`` change
them. Each change goes through the community configuration service — the same path as the
dashboard: the whole document is validated (ranges, cross-field rules, unknown channels),
saved with a new version and audited, or refused with each problem's location and nothing
written. Values are deliberately not range-checked by Discord: the service is the one
place that knows the rules, and its message is the one an admin should read.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from townsquare.adapters.discord.commands.localization import described
from townsquare.adapters.discord.commands.replies import (
    SUCCESS,
    Interaction,
    clip,
    defer,
    embed,
    respond,
)
from townsquare.adapters.discord.commands.scope import (
    actor_of,
    community_of,
    manager_only,
    sessions_of,
)
from townsquare.config.document import AnnouncementMode, CommunityConfigDocument, Section
from townsquare.services.community_config import (
    apply_edit,
    edits,
    get_config,
    get_section,
    replace_section,
)

_MODES = {
    AnnouncementMode.OFF: "Off",
    AnnouncementMode.CHANNEL: "In one channel",
    AnnouncementMode.IN_PLACE: "Where the member was active",
}
_RULES_SHOWN = 15


def _reason(interaction: Interaction) -> str:
    """The audit entry's note: where the change came from."""
    name = interaction.command.qualified_name if interaction.command else "config"
    return f"Discord /{name}"


def _channel(channel_id: str | None) -> str:
    return f"<#{channel_id}>" if channel_id and channel_id.isdigit() else "none"


def _switch(on: bool) -> str:
    return "on" if on else "off"


def settings_embed(document: CommunityConfigDocument, version: int) -> discord.Embed:
    shown = embed("Townsquare settings")
    announcements = document.announcements
    shown.add_field(
        name="Announcements",
        value=(
            f"Where: {_MODES[announcements.mode]}\n"
            f"Channel: {_channel(announcements.channel_id)}\n"
            f"Level-ups: {_switch(announcements.level_ups)} · "
            f"achievements: {_switch(announcements.achievements)}\n"
            f"At most {announcements.per_minute} a minute"
        ),
        inline=False,
    )
    multipliers = document.rules.multipliers
    rules = [
        f"{_channel(rule.target_id)}: ×{rule.multiplier:g}"
        + (f" ({rule.kind.value})" if rule.kind is not None else "")
        for rule in multipliers.channel_rules[:_RULES_SHOWN]
    ]
    if len(multipliers.channel_rules) > _RULES_SHOWN:
        rules.append(f"… and {len(multipliers.channel_rules) - _RULES_SHOWN} more")
    silent = [_channel(channel_id) for channel_id in sorted(multipliers.no_reward_channels)]
    if silent:
        rules.append("Earn nothing: " + ", ".join(silent))
    shown.add_field(
        name="Channel multipliers", value=clip("\n".join(rules) or "none"), inline=False
    )
    return shown.set_footer(text=f"Configuration version {version} · more in the dashboard")


class ConfigCommands(app_commands.Group):
    """The ``/config`` group; Discord hides it from members without Manage Server."""

    def __init__(self) -> None:
        super().__init__(
            name="config",
            description=described("Townsquare settings of this server"),
            default_permissions=discord.Permissions(manage_guild=True),
            guild_only=True,
        )

    @app_commands.command(name="show", description="The current settings")
    @manager_only()
    async def show(self, interaction: Interaction) -> None:
        await defer(interaction, ephemeral=True)
        community_id = await community_of(interaction)
        async with sessions_of(interaction).begin() as session:
            config = await get_config(session, community_id)
        document = CommunityConfigDocument.model_validate(config.document)
        shown = settings_embed(document, config.config_version)
        await respond(interaction, embeds=[shown], ephemeral=True)

    @app_commands.command(
        name="announcements", description="Where level-ups and achievements are announced"
    )
    @app_commands.describe(
        mode="Off, in one channel, or where the member was active",
        channel="The channel for mode 'In one channel'",
        level_ups="Announce level-ups",
        achievements="Announce achievements",
        per_minute="At most this many announcements a minute (1 to 120)",
    )
    @app_commands.choices(
        mode=[app_commands.Choice(name=name, value=mode.value) for mode, name in _MODES.items()]
    )
    @manager_only()
    async def announcements(
        self,
        interaction: Interaction,
        mode: app_commands.Choice[str] | None = None,
        channel: discord.TextChannel | None = None,
        level_ups: bool | None = None,
        achievements: bool | None = None,
        per_minute: int | None = None,
    ) -> None:
        await defer(interaction, ephemeral=True)
        changes: dict[str, Any] = {
            "mode": None if mode is None else mode.value,
            "channel_id": None if channel is None else str(channel.id),
            "level_ups": level_ups,
            "achievements": achievements,
            "per_minute": per_minute,
        }
        community_id = await community_of(interaction)
        async with sessions_of(interaction).begin() as session:
            current = await get_section(session, community_id, Section.ANNOUNCEMENTS)
            value = {**current.value, **{k: v for k, v in changes.items() if v is not None}}
            saved = await replace_section(
                session,
                actor_of(interaction),
                community_id,
                Section.ANNOUNCEMENTS,
                value,
                expected_version=current.section_version,
                reason=_reason(interaction),
            )
        now = saved.value
        shown = embed(
            "Announcements updated",
            f"Where: {_MODES[AnnouncementMode(now['mode'])]} · channel: "
            f"{_channel(now['channel_id'])}\nLevel-ups: {_switch(now['level_ups'])} · "
            f"achievements: {_switch(now['achievements'])} · at most {now['per_minute']} a "
            "minute",
            colour=SUCCESS,
        )
        await respond(interaction, embeds=[shown], ephemeral=True)

    @app_commands.command(
        name="multiplier", description="Make a channel or category earn more, less or nothing"
    )
    @app_commands.describe(
        channel="The channel, or a category for all its channels",
        value="1 is normal, 2 doubles, 0.5 halves, 0 earns nothing (0 to 100)",
    )
    @manager_only()
    async def multiplier(
        self, interaction: Interaction, channel: discord.abc.GuildChannel, value: float
    ) -> None:
        await defer(interaction, ephemeral=True)
        rule = {"target_id": str(channel.id), "kind": None, "multiplier": value}
        community_id = await community_of(interaction)
        async with sessions_of(interaction).begin() as session:
            current = await get_section(session, community_id, Section.MULTIPLIERS)
            await apply_edit(
                session,
                actor_of(interaction),
                community_id,
                edits.put_channel_rule(rule),
                expected_version=current.section_version,
                reason=_reason(interaction),
            )
        shown = embed("Multiplier set", f"{channel.mention} now earns ×{value:g}.", colour=SUCCESS)
        await respond(interaction, embeds=[shown], ephemeral=True)


def commands() -> list[app_commands.Group]:
    return [ConfigCommands()]
