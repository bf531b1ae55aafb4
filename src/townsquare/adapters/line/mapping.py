"""LINE webhook events → core events. Pure translation; no I/O, no clock.

Where things happen: a group or room is a community of its own (its id is the core event's
``community_id``); one-to-one chats with an official account belong to the account's
community, named ``oa:<channel key>`` (the inbox side links that name to a community, the
one ``line.channels[].community`` chooses). The chat is the channel: the group, the room,
or ``oa:<key>`` for all one-to-one chats of the account (so an admin can tune "private
chats with the bot" with one channel rule).

Event ids are LINE's ``webhookEventId`` (stable across redeliveries, so the lake's unique
key makes a redelivery a no-op); an event about several members (``memberJoined``) gives
one core event per member, ``<webhookEventId>:<user id>``.

Message text is read here once, for `message_meta` (length, links, emoji, a similarity
fingerprint), and goes no further. Stickers, images, voice and files carry no text: their
metadata says the text is unknown, so quality rules stay neutral instead of treating them
as empty messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from linebot.v3 import webhooks as line

from townsquare.core import ChannelType, Event, EventKind, Platform
from townsquare.core.events import MessageMeta
from townsquare.core.message_metadata import message_meta

LINE: Final = Platform.LINE
_ATTACHMENTS: Final = (
    line.ImageMessageContent,
    line.VideoMessageContent,
    line.AudioMessageContent,
    line.FileMessageContent,
)


@dataclass(frozen=True, slots=True)
class Chat:
    """Where a LINE event happened, in the words of the core and of the Messaging API."""

    community: str  # the core event's community_id (a platform space id)
    chat_id: str  # where answers go: user, group or room id
    channel_id: str
    channel_type: ChannelType
    user_id: str | None  # who acted; LINE may leave it out in groups and rooms

    @property
    def is_one_to_one(self) -> bool:
        return self.channel_type is ChannelType.LINE_USER


def chat_of(source: Any, channel_key: str) -> Chat | None:
    """The chat of an event's ``source``; None when the event has none."""
    if isinstance(source, line.GroupSource):
        return Chat(
            source.group_id, source.group_id, source.group_id, ChannelType.LINE_GROUP,
            source.user_id,
        )  # fmt: skip
    if isinstance(source, line.RoomSource):
        return Chat(
            source.room_id, source.room_id, source.room_id, ChannelType.LINE_ROOM, source.user_id
        )
    if isinstance(source, line.UserSource) and source.user_id:
        account = f"oa:{channel_key}"
        return Chat(account, source.user_id, account, ChannelType.LINE_USER, source.user_id)
    return None


def message_metadata(content: Any) -> MessageMeta:
    """What the rules may know about a message: counts for text, "unknown text" else."""
    if isinstance(content, line.TextMessageContent):
        return message_meta(content.text or "", is_reply=content.quoted_message_id is not None)
    if isinstance(content, line.StickerMessageContent):
        return MessageMeta(emoji=1, text_known=False)
    if isinstance(content, _ATTACHMENTS):
        return MessageMeta(attachments=1, text_known=False)
    return MessageMeta(text_known=False)  # a location, or a kind LINE adds later


def core_events(event: Any, chat: Chat) -> list[Event]:
    """The engagement events a parsed LINE event gives (none for the bot's own joins,
    unsends and kinds the rules do not reward)."""
    at = int(event.timestamp) // 1000
    event_id = str(event.webhook_event_id)

    def core(kind: EventKind, member: str, *, suffix: str = "", **extra: Any) -> Event:
        return Event(
            event_id=event_id + suffix,
            kind=kind,
            platform=LINE,
            community_id=chat.community,
            member_id=member,
            at=at,
            channel_id=chat.channel_id,
            channel_type=chat.channel_type,
            **extra,
        )

    if isinstance(event, line.MemberJoinedEvent | line.MemberLeftEvent):
        kind = EventKind.MEMBER_JOINED if isinstance(event, line.MemberJoinedEvent) else (
            EventKind.MEMBER_LEFT
        )  # fmt: skip
        party = event.joined if isinstance(event, line.MemberJoinedEvent) else event.left
        members = [m.user_id for m in party.members if getattr(m, "user_id", None)]
        return [core(kind, user, suffix=f":{user}") for user in members]
    user = chat.user_id
    if user is None:
        return []
    if isinstance(event, line.MessageEvent):
        return [core(EventKind.MESSAGE, user, message=message_metadata(event.message))]
    if isinstance(event, line.PostbackEvent):
        return [core(EventKind.POSTBACK, user)]
    if isinstance(event, line.FollowEvent):
        return [core(EventKind.FOLLOW, user)]
    if isinstance(event, line.UnfollowEvent):  # blocked the account: left its community
        return [core(EventKind.MEMBER_LEFT, user)]
    return []


def mentions_bot(content: Any) -> tuple[bool, str]:
    """Whether a text message mentions the bot, and the text without that mention."""
    text = str(getattr(content, "text", "") or "")
    mention = getattr(content, "mention", None)
    for mentionee in getattr(mention, "mentionees", None) or ():
        if getattr(mentionee, "is_self", False):
            start, length = int(mentionee.index), int(mentionee.length)
            return True, (text[:start] + text[start + length :]).strip()
    return False, text
