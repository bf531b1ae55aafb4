"""Builders of Discord API v10 JSON objects, shaped as Discord sends them.

Why one package: the fake server, its tests and the benchmark must all produce exactly the
wire format the unmodified discord.py parses (it indexes many keys without a default, e.g.
a member's ``flags`` or an interaction's ``attachment_size_limit``). Ids are ``int`` in
Python and strings on the wire, as in Discord's JSON; every builder returns a fresh dict
the caller may change. Split by subject (``ids``, ``guilds``, ``messages``,
``interactions``); everything is importable from here.
"""

from townsquare.fakes.discord.payloads.guilds import (
    category_channel,
    dm_channel,
    everyone_role,
    guild,
    member,
    partial_member,
    permission_overwrite,
    role,
    text_channel,
    thread_channel,
    user,
    voice_channel,
    voice_state,
)
from townsquare.fakes.discord.payloads.ids import (
    ALL_PERMISSIONS,
    ATTACHMENT_SIZE_LIMIT,
    DEFAULT_EVERYONE_PERMISSIONS,
    DISCORD_EPOCH_MS,
    JSON,
    optional_id,
    shard_of,
    snowflake,
    snowflake_on_shard,
    timestamp,
)
from townsquare.fakes.discord.payloads.interactions import (
    application_info,
    interaction_command,
    interaction_component,
    option,
)
from townsquare.fakes.discord.payloads.messages import (
    attachment,
    emoji,
    guild_member_add,
    guild_member_remove,
    message,
    reaction_add,
    reaction_remove,
    thread_create,
)

__all__ = [
    "ALL_PERMISSIONS",
    "ATTACHMENT_SIZE_LIMIT",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "DISCORD_EPOCH_MS",
    "JSON",
    "application_info",
    "attachment",
    "category_channel",
    "dm_channel",
    "emoji",
    "everyone_role",
    "guild",
    "guild_member_add",
    "guild_member_remove",
    "interaction_command",
    "interaction_component",
    "member",
    "message",
    "option",
    "optional_id",
    "partial_member",
    "permission_overwrite",
    "reaction_add",
    "reaction_remove",
    "role",
    "shard_of",
    "snowflake",
    "snowflake_on_shard",
    "text_channel",
    "thread_channel",
    "thread_create",
    "timestamp",
    "user",
    "voice_channel",
    "voice_state",
]
