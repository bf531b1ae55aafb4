"""One normalized event model for Discord and LINE.

Adapters translate platform payloads into these; the rules never see a platform object and
never see message content — only metadata the rules need (length, links, a fingerprint for
duplicate detection). Frozen slotted dataclasses because the pipeline builds hundreds of
thousands of them per second; validation is the adapter's job, not a per-event cost here.
"""

from __future__ import annotations

from dataclasses import dataclass

from townsquare.core.balances import ZERO, Balances
from townsquare.core.fast_init import fast_init
from townsquare.core.kinds import ChannelType, EventKind, Platform


@fast_init
@dataclass(frozen=True, slots=True)
class MessageMeta:
    """What the rules may know about a message (never its text).

    ``fingerprint`` is a 64-bit similarity hash of the normalized text
    (see `townsquare.core.message_metadata.content_fingerprint`); 0 means "no text", which
    is never treated as a duplicate. ``text_known`` is false when the platform did not let
    us read the text (a Discord bot without the Message Content intent): length, links,
    emoji and duplicates are then unknown, and the rules that need them stay neutral
    instead of treating every message as empty.
    """

    length: int = 0
    links: int = 0
    code_blocks: int = 0
    attachments: int = 0
    emoji: int = 0
    is_reply: bool = False
    in_thread: bool = False
    fingerprint: int = 0
    text_known: bool = True


@fast_init
@dataclass(frozen=True, slots=True)
class VoiceMeta:
    """A closed segment of time in a voice channel, with the flags that make it worthless."""

    minutes: int
    muted: bool = False
    deafened: bool = False
    alone: bool = False
    afk: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class ManualMeta:
    """An admin's award or revoke: explicit amounts and/or an achievement id.

    Amounts are non-negative; the event kind (award or revoke) gives the sign.
    """

    amounts: Balances = ZERO
    achievement_id: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Event:
    """A normalized activity event.

    ``at`` is Unix time in whole seconds (UTC): time comes in on the event, the rules have
    no clock. ``member_id`` is whoever acted (the reacting member for reactions, the
    recipient for manual awards). For reactions ``target_member_id`` is the author of the
    message reacted to and ``target_roles`` their roles, when the adapter knows them.
    ``parent_channel_id`` is set for threads, ``category_id`` for channels in a category.
    """

    event_id: str
    kind: EventKind
    platform: Platform
    community_id: str
    member_id: str
    at: int
    channel_id: str | None = None
    channel_type: ChannelType = ChannelType.TEXT
    parent_channel_id: str | None = None
    category_id: str | None = None
    roles: tuple[str, ...] = ()
    message: MessageMeta | None = None
    target_member_id: str | None = None
    target_message_id: str | None = None
    target_roles: tuple[str, ...] = ()
    voice: VoiceMeta | None = None
    manual: ManualMeta | None = None
