"""Discord gateway objects → core events. Pure translation; no I/O, no clock but what it is given.

Event ids are the platform's own where one exists (message and thread ids are snowflakes),
and deterministic otherwise, so a redelivered dispatch (a RESUME replay, a second shard
process during a hand-over) is the same event and the lake's unique key makes it a no-op:

* reaction ``r:<message>:<user>:<emoji>:+`` / ``-`` — adding the same reaction again after
  removing it is the same event, so add/remove cycling earns once and is reversed once;
* voice segment ``v:<guild>:<user>:<segment start>``;
* member joined/left ``j:<guild>:<user>:<time>`` / ``l:…``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import discord

from townsquare.core import ChannelType, Event, EventKind, Platform
from townsquare.core.events import MessageMeta, VoiceMeta
from townsquare.core.message_metadata import message_meta

DISCORD = Platform.DISCORD

#: Message types that are people talking (default, reply), not joins, pins, boosts…
REPLY = 19
_CONVERSATION_TYPES = frozenset({0, REPLY})
DISCORD_EPOCH_MS = 1_420_070_400_000


@dataclass(frozen=True, slots=True)
class Place:
    """Where something happened, as the rules see it."""

    channel_id: str
    channel_type: ChannelType
    parent_channel_id: str | None = None
    category_id: str | None = None


def channel_type_name(channel: object) -> str:
    """The ``channels.type`` word for a Discord channel (for the channel sync)."""
    if isinstance(channel, discord.CategoryChannel):
        return "category"
    if isinstance(channel, discord.Thread):
        return "thread"
    if isinstance(channel, discord.StageChannel):
        return "stage"
    if isinstance(channel, discord.VoiceChannel):
        return "voice"
    if isinstance(channel, discord.ForumChannel):
        return "forum"
    if isinstance(channel, discord.TextChannel):
        return "announcement" if channel.is_news() else "text"
    return "other"


def place_of(channel: object) -> Place | None:
    """The place of a guild channel or thread; None for DMs and unknown channel kinds."""
    if isinstance(channel, discord.Thread):
        parent = channel.parent
        kind = ChannelType.FORUM if isinstance(parent, discord.ForumChannel) else ChannelType.THREAD
        category = parent.category_id if parent is not None else None
        return Place(str(channel.id), kind, str(channel.parent_id), _str(category))
    if isinstance(channel, discord.StageChannel):
        return Place(str(channel.id), ChannelType.STAGE, None, _str(channel.category_id))
    if isinstance(channel, discord.VoiceChannel):
        return Place(str(channel.id), ChannelType.VOICE, None, _str(channel.category_id))
    if isinstance(channel, discord.TextChannel):
        kind = ChannelType.ANNOUNCEMENT if channel.is_news() else ChannelType.TEXT
        return Place(str(channel.id), kind, None, _str(channel.category_id))
    if isinstance(channel, discord.ForumChannel):
        return Place(str(channel.id), ChannelType.FORUM, None, _str(channel.category_id))
    return None


def _str(value: int | None) -> str | None:
    return None if value is None else str(value)


def member_roles(member: object) -> tuple[str, ...]:
    """Role ids of a guild member (not @everyone); () for a user we only know as a user."""
    if isinstance(member, discord.Member):
        return tuple(str(role_id) for role_id in member._roles)
    return ()


def snowflake_seconds(snowflake: int) -> int:
    """When a Discord id was made (Unix seconds): ids carry their creation time."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) // 1000


def message_event(data: Mapping[str, Any], place: Place, *, text_known: bool) -> Event | None:
    """A member's message from a raw MESSAGE_CREATE payload; None for bots, webhooks and
    system notices.

    Raw, not discord.py's ``Message``: building that object costs more than everything
    else the bot does with a message, and nothing here needs it. ``text_known`` says
    whether the bot may read message text (the Message Content intent); without it only
    what Discord still sends counts (attachments, reply, thread). A payload missing what
    Discord always sends raises ``KeyError``/``TypeError``, which the caller skips.
    """
    author = data["author"]
    if author.get("bot") or data.get("webhook_id") is not None:
        return None
    kind = data.get("type", 0)
    if kind not in _CONVERSATION_TYPES:
        return None
    message_id = int(data["id"])
    is_reply = kind == REPLY and data.get("message_reference") is not None
    in_thread = place.parent_channel_id is not None
    attachments = len(data.get("attachments") or ())
    if text_known:
        meta = message_meta(
            str(data.get("content") or ""),
            attachments=attachments,
            is_reply=is_reply,
            in_thread=in_thread,
        )
    else:
        meta = MessageMeta(
            attachments=attachments, is_reply=is_reply, in_thread=in_thread, text_known=False
        )
    member = data.get("member")
    return Event(
        event_id=str(message_id),
        kind=EventKind.MESSAGE,
        platform=DISCORD,
        community_id=str(data["guild_id"]),
        member_id=str(author["id"]),
        at=snowflake_seconds(message_id),
        channel_id=place.channel_id,
        channel_type=place.channel_type,
        parent_channel_id=place.parent_channel_id,
        category_id=place.category_id,
        roles=tuple(member["roles"]) if member else (),
        message=meta,
    )


def display_name(data: Mapping[str, Any]) -> str:
    """The name a guild shows for a message's author: nickname, global name, username."""
    member = data.get("member") or {}
    author = data["author"]
    return str(member.get("nick") or author.get("global_name") or author.get("username") or "")


def emoji_key(emoji: Mapping[str, Any]) -> str:
    """A stable short name for an emoji: a custom emoji's id, a Unicode emoji itself."""
    emoji_id = emoji.get("id")
    return str(emoji_id) if emoji_id is not None else str(emoji.get("name") or "?")


def reaction_event_id(data: Mapping[str, Any], *, added: bool) -> str:
    sign = "+" if added else "-"
    return f"r:{data['message_id']}:{data['user_id']}:{emoji_key(data['emoji'])}:{sign}"


def reaction_event(
    data: Mapping[str, Any],
    place: Place,
    *,
    added: bool,
    author_id: str | None,
    author_roles: tuple[str, ...] = (),
    at: int,
) -> Event | None:
    """A reaction added or removed (raw payload), with the reacted-to message's author.

    ``author_id`` comes from the payload for additions (``message_author_id``), and from
    what the adapter remembers for removals (Discord does not send it then). None for
    reactions to unknown authors, by bots and to oneself.
    """
    user_id = str(data["user_id"])
    if author_id is None or author_id == user_id:
        return None
    member = data.get("member")
    if member is not None and member.get("user", {}).get("bot"):
        return None
    return Event(
        event_id=reaction_event_id(data, added=added),
        kind=EventKind.REACTION_ADDED if added else EventKind.REACTION_REMOVED,
        platform=DISCORD,
        community_id=str(data["guild_id"]),
        member_id=user_id,
        at=at,
        channel_id=place.channel_id,
        channel_type=place.channel_type,
        parent_channel_id=place.parent_channel_id,
        category_id=place.category_id,
        roles=tuple(member["roles"]) if member else (),
        target_member_id=author_id,
        target_message_id=str(data["message_id"]),
        target_roles=author_roles,
    )


def thread_event(thread: discord.Thread, *, at: int) -> Event | None:
    """A member started a thread (or forum post); None for bots' threads or unknown owners."""
    if thread.owner_id is None:
        return None
    owner = thread.guild.get_member(thread.owner_id)
    if owner is not None and owner.bot:
        return None
    place = place_of(thread)
    if place is None:
        return None
    return Event(
        event_id=f"t:{thread.id}",
        kind=EventKind.THREAD_CREATED,
        platform=DISCORD,
        community_id=str(thread.guild.id),
        member_id=str(thread.owner_id),
        at=at,
        channel_id=place.channel_id,
        channel_type=place.channel_type,
        parent_channel_id=place.parent_channel_id,
        category_id=place.category_id,
        roles=member_roles(owner),
    )


def membership_event(guild_id: int, user_id: int, *, joined: bool, at: int) -> Event:
    """A member joined or left the guild."""
    return Event(
        event_id=f"{'j' if joined else 'l'}:{guild_id}:{user_id}:{at}",
        kind=EventKind.MEMBER_JOINED if joined else EventKind.MEMBER_LEFT,
        platform=DISCORD,
        community_id=str(guild_id),
        member_id=str(user_id),
        at=at,
    )


@dataclass(frozen=True, slots=True)
class VoiceFlags:
    """What makes voice time worth less (or nothing) under the rules."""

    muted: bool = False
    deafened: bool = False
    alone: bool = False
    afk: bool = False


def voice_segment_event(
    guild_id: str,
    user_id: str,
    channel: Place,
    *,
    started_at: int,
    ended_at: int,
    flags: VoiceFlags,
    roles: tuple[str, ...] = (),
) -> Event | None:
    """A closed stretch of voice time; None when it lasted under half a minute.

    Minutes are rounded to the nearest whole minute, so splitting a session at every mute
    toggle neither loses nor invents time on average.
    """
    minutes = (ended_at - started_at + 30) // 60
    if minutes <= 0:
        return None
    return Event(
        event_id=f"v:{guild_id}:{user_id}:{started_at}",
        kind=EventKind.VOICE_SEGMENT,
        platform=DISCORD,
        community_id=guild_id,
        member_id=user_id,
        at=ended_at,
        channel_id=channel.channel_id,
        channel_type=channel.channel_type,
        category_id=channel.category_id,
        roles=roles,
        voice=VoiceMeta(
            minutes=minutes,
            muted=flags.muted,
            deafened=flags.deafened,
            alone=flags.alone,
            afk=flags.afk,
        ),
    )
