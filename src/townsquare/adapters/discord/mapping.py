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

from dataclasses import dataclass

import discord

from townsquare.core import ChannelType, Event, EventKind, Platform
from townsquare.core.events import MessageMeta, VoiceMeta
from townsquare.core.message_metadata import message_meta

DISCORD = Platform.DISCORD

#: Message types that are people talking (not joins, pins, boosts and other system notices).
_CONVERSATION = frozenset({discord.MessageType.default, discord.MessageType.reply})


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


def message_event(message: discord.Message, *, text_known: bool) -> Event | None:
    """A member's message in a guild; None for bots, webhooks, system notices and DMs.

    ``text_known`` says whether the bot may read message text (the Message Content intent);
    without it only what Discord still sends counts (attachments, reply, thread).
    """
    if message.guild is None or message.author.bot or message.webhook_id is not None:
        return None
    if message.type not in _CONVERSATION:
        return None
    place = place_of(message.channel)
    if place is None:
        return None
    is_reply = message.reference is not None and message.type is discord.MessageType.reply
    in_thread = place.parent_channel_id is not None
    attachments = len(message.attachments)
    if text_known:
        meta = message_meta(
            message.content, attachments=attachments, is_reply=is_reply, in_thread=in_thread
        )
    else:
        meta = MessageMeta(
            attachments=attachments, is_reply=is_reply, in_thread=in_thread, text_known=False
        )
    return Event(
        event_id=str(message.id),
        kind=EventKind.MESSAGE,
        platform=DISCORD,
        community_id=str(message.guild.id),
        member_id=str(message.author.id),
        at=int(message.created_at.timestamp()),
        channel_id=place.channel_id,
        channel_type=place.channel_type,
        parent_channel_id=place.parent_channel_id,
        category_id=place.category_id,
        roles=member_roles(message.author),
        message=meta,
    )


def emoji_key(emoji: discord.PartialEmoji) -> str:
    """A stable short name for an emoji: a custom emoji's id, a Unicode emoji itself."""
    return str(emoji.id) if emoji.id is not None else emoji.name or "?"


def reaction_event(
    payload: discord.RawReactionActionEvent,
    channel: object,
    *,
    author_id: int | None,
    author_roles: tuple[str, ...] = (),
    at: int,
) -> Event | None:
    """A reaction added or removed in a guild, with the reacted-to message's author.

    ``author_id`` comes from the gateway payload for additions (``message_author_id``), and
    from what the adapter remembers for removals (Discord does not send it then). None for
    reactions to bots or unknown authors, self-reactions and DMs.
    """
    if payload.guild_id is None or author_id is None or author_id == payload.user_id:
        return None
    if payload.member is not None and payload.member.bot:
        return None
    place = place_of(channel)
    if place is None:
        return None
    added = payload.event_type == "REACTION_ADD"
    sign = "+" if added else "-"
    return Event(
        event_id=f"r:{payload.message_id}:{payload.user_id}:{emoji_key(payload.emoji)}:{sign}",
        kind=EventKind.REACTION_ADDED if added else EventKind.REACTION_REMOVED,
        platform=DISCORD,
        community_id=str(payload.guild_id),
        member_id=str(payload.user_id),
        at=at,
        channel_id=place.channel_id,
        channel_type=place.channel_type,
        parent_channel_id=place.parent_channel_id,
        category_id=place.category_id,
        roles=member_roles(payload.member),
        target_member_id=str(author_id),
        target_message_id=str(payload.message_id),
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
