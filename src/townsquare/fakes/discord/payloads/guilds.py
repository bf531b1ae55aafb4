"""Users, roles, members, channels, voice states and whole guilds (as in GUILD_CREATE)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from townsquare.fakes.discord.payloads.ids import (
    DEFAULT_EVERYONE_PERMISSIONS,
    JSON,
    optional_id,
    timestamp,
)


def user(
    user_id: int,
    username: str,
    *,
    bot: bool = False,
    global_name: str | None = None,
    avatar: str | None = None,
) -> JSON:
    payload: JSON = {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": global_name,
        "avatar": avatar,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "primary_guild": None,
        "collectibles": None,
    }
    if bot:
        payload["bot"] = True
    return payload


def role(
    role_id: int,
    name: str,
    *,
    permissions: int = 0,
    position: int = 0,
    color: int = 0,
    hoist: bool = False,
    managed: bool = False,
    mentionable: bool = False,
    tags: JSON | None = None,
) -> JSON:
    payload: JSON = {
        "id": str(role_id),
        "name": name,
        "color": color,
        "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
        "hoist": hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": managed,
        "mentionable": mentionable,
        "flags": 0,
        "description": None,
    }
    if tags is not None:
        payload["tags"] = tags
    return payload


def everyone_role(guild_id: int, *, permissions: int = DEFAULT_EVERYONE_PERMISSIONS) -> JSON:
    """Every guild has it; its id is the guild's id."""
    return role(guild_id, "@everyone", permissions=permissions)


def member(
    member_user: JSON,
    *,
    roles: Iterable[int] = (),
    nick: str | None = None,
    joined_at: datetime | None = None,
    premium_since: datetime | None = None,
    pending: bool = False,
    communication_disabled_until: datetime | None = None,
    permissions: int | None = None,
) -> JSON:
    """A full guild member (with ``user``); ``permissions`` only in interactions."""
    payload: JSON = {
        "user": member_user,
        "nick": nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in roles],
        "joined_at": timestamp(joined_at),
        "premium_since": None if premium_since is None else timestamp(premium_since),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": pending,
        "communication_disabled_until": (
            None
            if communication_disabled_until is None
            else timestamp(communication_disabled_until)
        ),
    }
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def partial_member(full_member: Mapping[str, Any]) -> JSON:
    """The member as embedded in a message: everything but ``user``."""
    return {k: v for k, v in full_member.items() if k not in ("user", "permissions")}


def permission_overwrite(
    target_id: int, *, member: bool = False, allow: int = 0, deny: int = 0
) -> JSON:
    """A channel permission overwrite for a role (default) or a member."""
    overwrite_type = 1 if member else 0
    return {"id": str(target_id), "type": overwrite_type, "allow": str(allow), "deny": str(deny)}


def _guild_channel(
    channel_type: int,
    channel_id: int,
    guild_id: int,
    name: str,
    position: int,
    parent_id: int | None,
    overwrites: Iterable[JSON],
) -> JSON:
    return {
        "id": str(channel_id),
        "type": channel_type,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "parent_id": optional_id(parent_id),
        "permission_overwrites": list(overwrites),
        "flags": 0,
    }


def text_channel(
    channel_id: int,
    guild_id: int,
    name: str,
    *,
    position: int = 0,
    parent_id: int | None = None,
    topic: str | None = None,
    nsfw: bool = False,
    rate_limit_per_user: int = 0,
    overwrites: Iterable[JSON] = (),
) -> JSON:
    payload = _guild_channel(0, channel_id, guild_id, name, position, parent_id, overwrites)
    payload.update(
        topic=topic,
        nsfw=nsfw,
        rate_limit_per_user=rate_limit_per_user,
        last_message_id=None,
        default_auto_archive_duration=1440,
    )
    return payload


def voice_channel(
    channel_id: int,
    guild_id: int,
    name: str,
    *,
    position: int = 0,
    parent_id: int | None = None,
    bitrate: int = 64_000,
    user_limit: int = 0,
    overwrites: Iterable[JSON] = (),
) -> JSON:
    payload = _guild_channel(2, channel_id, guild_id, name, position, parent_id, overwrites)
    payload.update(
        bitrate=bitrate,
        user_limit=user_limit,
        rtc_region=None,
        nsfw=False,
        rate_limit_per_user=0,
        last_message_id=None,
    )
    return payload


def category_channel(
    channel_id: int, guild_id: int, name: str, *, position: int = 0, overwrites: Iterable[JSON] = ()
) -> JSON:
    return _guild_channel(4, channel_id, guild_id, name, position, None, overwrites)


def thread_channel(
    thread_id: int,
    guild_id: int,
    parent_id: int,
    name: str,
    *,
    owner_id: int,
    private: bool = False,
    archived: bool = False,
    locked: bool = False,
    message_count: int = 0,
    member_count: int = 1,
    created_at: datetime | None = None,
) -> JSON:
    created = timestamp(created_at)
    return {
        "id": str(thread_id),
        "type": 12 if private else 11,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": message_count,
        "member_count": member_count,
        "total_message_sent": message_count,
        "flags": 0,
        "thread_metadata": {
            "archived": archived,
            "auto_archive_duration": 1440,
            "archive_timestamp": created,
            "locked": locked,
            "create_timestamp": created,
            **({"invitable": True} if private else {}),
        },
    }


def dm_channel(channel_id: int, recipient: JSON) -> JSON:
    return {"id": str(channel_id), "type": 1, "last_message_id": None, "recipients": [recipient]}


def voice_state(
    guild_id: int,
    channel_id: int | None,
    voice_member: JSON,
    *,
    session_id: str | None = None,
    self_mute: bool = False,
    self_deaf: bool = False,
    self_stream: bool = False,
    self_video: bool = False,
    mute: bool = False,
    deaf: bool = False,
    suppress: bool = False,
) -> JSON:
    """A voice state with ``member`` (as in VOICE_STATE_UPDATE); ``channel_id`` None = left."""
    user_id = voice_member["user"]["id"]
    return {
        "guild_id": str(guild_id),
        "channel_id": optional_id(channel_id),
        "user_id": user_id,
        "member": voice_member,
        "session_id": session_id or f"voice-{user_id}",
        "deaf": deaf,
        "mute": mute,
        "self_deaf": self_deaf,
        "self_mute": self_mute,
        "self_stream": self_stream,
        "self_video": self_video,
        "suppress": suppress,
        "request_to_speak_timestamp": None,
    }


def guild(
    guild_id: int,
    name: str,
    *,
    owner_id: int,
    roles: Iterable[JSON] = (),
    channels: Iterable[JSON] = (),
    threads: Iterable[JSON] = (),
    members: Iterable[JSON] = (),
    voice_states: Iterable[JSON] = (),
    member_count: int | None = None,
    joined_at: datetime | None = None,
    features: Iterable[str] = (),
    preferred_locale: str = "en-US",
) -> JSON:
    """A complete guild as in GUILD_CREATE; @everyone is added when ``roles`` lacks it."""
    role_list = list(roles)
    if not any(r["id"] == str(guild_id) for r in role_list):
        role_list.insert(0, everyone_role(guild_id))
    member_list = list(members)
    count = len(member_list) if member_count is None else member_count
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": preferred_locale,
        "features": list(features),
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "max_members": 500_000,
        "max_video_channel_users": 25,
        "emojis": [],
        "stickers": [],
        "roles": role_list,
        "joined_at": timestamp(joined_at),
        "large": count > 250,
        "unavailable": False,
        "member_count": count,
        "members": member_list,
        "channels": list(channels),
        "threads": list(threads),
        "voice_states": [{k: v for k, v in s.items() if k != "member"} for s in voice_states],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "embedded_activities": [],
        "lazy": True,
    }
