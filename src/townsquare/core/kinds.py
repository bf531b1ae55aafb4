"""The vocabulary of the engagement rules: platforms, event kinds, currencies, counters.

String enums so that the values stored in the event lake, the ledger and the configuration
JSON are the same readable words an operator sees in `docs/economy.md`.
"""

from __future__ import annotations

from enum import StrEnum


class Platform(StrEnum):
    """Where an event came from; the rules are the same on both."""

    DISCORD = "discord"
    LINE = "line"


class EventKind(StrEnum):
    """What happened. A LINE text message is a MESSAGE with platform LINE."""

    MESSAGE = "message"
    REACTION_ADDED = "reaction_added"
    REACTION_REMOVED = "reaction_removed"
    THREAD_CREATED = "thread_created"
    VOICE_SEGMENT = "voice_segment"
    MEMBER_JOINED = "member_joined"
    MEMBER_LEFT = "member_left"
    MANUAL_AWARD = "manual_award"
    MANUAL_REVOKE = "manual_revoke"
    POSTBACK = "postback"
    FOLLOW = "follow"


class ChannelType(StrEnum):
    """Kinds of place an event can happen in; channel-type defaults are keyed by these."""

    TEXT = "text"
    VOICE = "voice"
    THREAD = "thread"
    FORUM = "forum"
    STAGE = "stage"
    ANNOUNCEMENT = "announcement"
    DIRECT = "direct"
    LINE_GROUP = "line_group"
    LINE_ROOM = "line_room"
    LINE_USER = "line_user"


class Currency(StrEnum):
    """XP drives levels, Stars are reputation, Gold is spendable."""

    XP = "xp"
    STARS = "stars"
    GOLD = "gold"


class RewardKind(StrEnum):
    """Rows of the base-reward table: who is rewarded for what.

    Distinct from `EventKind` because one reaction rewards two members (the giver and the
    receiver) and a voice segment is paid per minute.
    """

    MESSAGE = "message"
    REACTION_RECEIVED = "reaction_received"
    REACTION_GIVEN = "reaction_given"
    THREAD_CREATED = "thread_created"
    VOICE_MINUTE = "voice_minute"
    MEMBER_JOINED = "member_joined"
    FOLLOW = "follow"
    POSTBACK = "postback"


class Counter(StrEnum):
    """Activity counters kept per member for achievements and statistics."""

    MESSAGES = "messages"
    REACTIONS_GIVEN = "reactions_given"
    REACTIONS_RECEIVED = "reactions_received"
    THREADS_CREATED = "threads_created"
    VOICE_SEGMENTS = "voice_segments"
    VOICE_MINUTES = "voice_minutes"
    POSTBACKS = "postbacks"
    FOLLOWS = "follows"
    JOINS = "joins"


class Window(StrEnum):
    """How long a counter accumulates before it resets."""

    LIFETIME = "lifetime"
    SEASON = "season"
    DAY = "day"


class Rarity(StrEnum):
    """Display rarity of an achievement; ordered from most to least common."""

    COMMON = "common"
    UNCOMMON = "uncommon"
    RARE = "rare"
    EPIC = "epic"
    LEGENDARY = "legendary"


#: The lifetime counter whose first increment means "first event of this kind".
FIRST_EVENT_COUNTER: dict[EventKind, Counter] = {
    EventKind.MESSAGE: Counter.MESSAGES,
    EventKind.REACTION_ADDED: Counter.REACTIONS_GIVEN,
    EventKind.THREAD_CREATED: Counter.THREADS_CREATED,
    EventKind.VOICE_SEGMENT: Counter.VOICE_SEGMENTS,
    EventKind.POSTBACK: Counter.POSTBACKS,
    EventKind.FOLLOW: Counter.FOLLOWS,
    EventKind.MEMBER_JOINED: Counter.JOINS,
}
