"""What the fake LINE Platform knows: channels, users, groups, tokens, deliveries, rich menus.

Why one lock and no event loop: a test or benchmark issues reply tokens and registers
profiles from its own thread (thousands of times in a benchmark) while the fake's handlers
read them on the fake's loop. Every method takes the lock, does a few dict operations and
returns, so neither side waits on the other's loop.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from townsquare.fakes.line import ids
from townsquare.fakes.line.ids import JSON

DEFAULT_REPLY_TOKEN_TTL = 60.0  # seconds; LINE only promises "a short time" after the event
QUOTABLE_TYPES = frozenset({"text", "textV2", "sticker", "image", "video", "flex", "template"})


@dataclass(frozen=True)
class LineChannel:
    """One Messaging API channel (a LINE Official Account) and its credentials."""

    channel_id: str
    access_token: str
    secret: str
    bot_user_id: str  # the webhook body's ``destination``
    basic_id: str
    display_name: str

    @classmethod
    def new(cls, display_name: str = "Townsquare", channel_id: str | None = None) -> LineChannel:
        return cls(
            channel_id=channel_id or str(1_650_000_000 + secrets.randbelow(99_999_999)),
            access_token=secrets.token_urlsafe(128),
            secret=secrets.token_hex(16),
            bot_user_id=ids.user_id(),
            basic_id="@" + secrets.token_hex(4),
            display_name=display_name,
        )


ChannelRef = LineChannel | str | None  # a channel, its channel id, or None for the default


@dataclass(frozen=True)
class Delivery:
    """Messages the fake accepted from a reply or a push."""

    kind: Literal["reply", "push"]
    channel_id: str
    to: str  # user, group or room id
    messages: tuple[JSON, ...]
    sent_messages: tuple[JSON, ...]  # what the response listed: {"id", "quoteToken"?}
    request_id: str
    retry_key: str | None
    notification_disabled: bool
    at: float  # time.monotonic()


@dataclass
class ReplyToken:
    channel_id: str
    chat_id: str
    expires_at: float  # time.monotonic()
    used: bool = False


@dataclass(frozen=True)
class Content:
    data: bytes
    content_type: str


@dataclass
class RichMenus:
    """One channel's rich menus, their images, and which menu each user sees."""

    menus: dict[str, JSON] = field(default_factory=dict)
    images: dict[str, Content] = field(default_factory=dict)
    default_menu: str | None = None
    per_user: dict[str, str] = field(default_factory=dict)

    def delete(self, menu_id: str) -> bool:
        if self.menus.pop(menu_id, None) is None:
            return False
        self.images.pop(menu_id, None)
        if self.default_menu == menu_id:
            self.default_menu = None
        self.per_user = {user: menu for user, menu in self.per_user.items() if menu != menu_id}
        return True


@dataclass
class ChannelState:
    channel: LineChannel
    quota: int | None = None  # None: unlimited (type "none")
    consumption: int = 0
    accepted_retry_keys: dict[str, Delivery] = field(default_factory=dict)
    rich_menus: RichMenus = field(default_factory=RichMenus)


class LineWorld:
    """The platform's state; every method is thread-safe."""

    def __init__(self, channels: Iterable[LineChannel]) -> None:
        self.lock = threading.RLock()
        self._channels: dict[str, ChannelState] = {}
        self._by_token: dict[str, str] = {}
        self._profiles: dict[str, JSON] = {}
        self._groups: dict[str, JSON] = {}
        self._group_members: dict[str, list[str]] = {}
        self._content: dict[str, Content] = {}
        self._reply_tokens: dict[str, ReplyToken] = {}
        self._deliveries: list[Delivery] = []
        for channel in channels:
            self.add_channel(channel)

    # -- channels --------------------------------------------------------------------------

    def add_channel(self, channel: LineChannel) -> None:
        with self.lock:
            if channel.channel_id in self._channels:
                raise ValueError(f"channel {channel.channel_id} already exists")
            self._channels[channel.channel_id] = ChannelState(channel)
            self._by_token[channel.access_token] = channel.channel_id

    @property
    def channels(self) -> list[LineChannel]:
        with self.lock:
            return [state.channel for state in self._channels.values()]

    def channel_state(self, ref: ChannelRef) -> ChannelState:
        """The state of ``ref`` (None: the first channel); KeyError when unknown."""
        with self.lock:
            if ref is None:
                return next(iter(self._channels.values()))
            channel_id = ref.channel_id if isinstance(ref, LineChannel) else ref
            return self._channels[channel_id]

    def channel_for_token(self, access_token: str) -> ChannelState | None:
        with self.lock:
            channel_id = self._by_token.get(access_token)
            return None if channel_id is None else self._channels[channel_id]

    # -- users, groups, content ----------------------------------------------------------------

    def add_profile(self, profile: JSON) -> None:
        with self.lock:
            self._profiles[profile["userId"]] = copy.deepcopy(profile)

    def profile(self, user_id: str) -> JSON | None:
        with self.lock:
            found = self._profiles.get(user_id)
            return None if found is None else copy.deepcopy(found)

    def add_group(self, summary: JSON, members: Iterable[str]) -> None:
        with self.lock:
            self._groups[summary["groupId"]] = copy.deepcopy(summary)
            self._group_members[summary["groupId"]] = list(members)

    def group(self, group_id: str) -> tuple[JSON, list[str]] | None:
        with self.lock:
            if group_id not in self._groups:
                return None
            return copy.deepcopy(self._groups[group_id]), list(self._group_members[group_id])

    def add_content(self, message_id: str, content: Content) -> None:
        with self.lock:
            self._content[message_id] = content

    def content(self, message_id: str) -> Content | None:
        with self.lock:
            return self._content.get(message_id)

    # -- reply tokens and deliveries -----------------------------------------------------------

    def issue_reply_token(self, chat_id: str, channel: ChannelRef, ttl_seconds: float) -> str:
        token = ids.reply_token()
        with self.lock:
            channel_id = self.channel_state(channel).channel.channel_id
            expires_at = time.monotonic() + ttl_seconds
            self._reply_tokens[token] = ReplyToken(channel_id, chat_id, expires_at)
        return token

    def use_reply_token(self, token: str, channel_id: str) -> ReplyToken | None:
        """The token's record, now used up; None when unknown, used, expired or another
        channel's."""
        with self.lock:
            record = self._reply_tokens.get(token)
            if record is None or record.used or record.channel_id != channel_id:
                return None
            if time.monotonic() >= record.expires_at:
                return None
            record.used = True
            return record

    def record(self, delivery: Delivery) -> None:
        with self.lock:
            self._deliveries.append(delivery)
            if delivery.kind == "push":
                state = self._channels[delivery.channel_id]
                state.consumption += 1
                if delivery.retry_key is not None:
                    state.accepted_retry_keys[delivery.retry_key] = delivery

    def deliveries(
        self, kind: str | None = None, to: str | None = None, channel: ChannelRef = None
    ) -> list[Delivery]:
        with self.lock:
            channel_id = None if channel is None else self.channel_state(channel).channel.channel_id
            return [
                d
                for d in self._deliveries
                if (kind is None or d.kind == kind)
                and (to is None or d.to == to)
                and (channel_id is None or d.channel_id == channel_id)
            ]


def sent_messages(messages: Iterable[JSON]) -> tuple[JSON, ...]:
    """The ``sentMessages`` of a response: an id for each message, and a quote token for
    those a later message can quote."""
    sent: list[JSON] = []
    for message in messages:
        entry: JSON = {"id": ids.message_id()}
        if message.get("type") in QUOTABLE_TYPES:
            entry["quoteToken"] = ids.quote_token()
        sent.append(entry)
    return tuple(sent)
