"""What applying one event produced: plain immutable data for the pipeline and adapters.

The pipeline appends ``ledger`` rows (the ledger is the truth), stores ``state`` (and
``receiver_state`` for reactions), records level changes and unlocks, and hands role
changes and announcements to the adapters after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from townsquare.core.balances import Balances
from townsquare.core.explain import RewardBreakdown
from townsquare.core.fast_init import fast_init
from townsquare.core.kinds import Currency
from townsquare.core.state import MemberState


class LedgerReason(StrEnum):
    """Why a ledger row exists."""

    ACTIVITY = "activity"
    REACTION_RECEIVED = "reaction_received"
    REACTION_REVERSED = "reaction_reversed"
    LEVEL_UP_BONUS = "level_up_bonus"
    ACHIEVEMENT_REWARD = "achievement_reward"
    MANUAL_AWARD = "manual_award"
    MANUAL_REVOKE = "manual_revoke"


@fast_init
@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One change of one currency for one member.

    ``delta`` changed the lifetime balance; ``season_delta`` the balance of ``season_id``
    (they differ when a clamp or an old reaction's reversal touches only one of them).
    """

    member_id: str
    currency: Currency
    delta: int
    season_delta: int
    season_id: str | None
    reason: LedgerReason
    event_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class LevelChange:
    """A member's level moved, possibly by several levels in one event."""

    member_id: str
    old_level: int
    new_level: int


@fast_init
@dataclass(frozen=True, slots=True)
class AchievementUnlock:
    """A member earned an achievement (``achievement_id`` is ``<id>:<level>`` for intervals)."""

    member_id: str
    achievement_id: str
    name: str
    category: str
    rarity: str
    hidden: bool


@fast_init
@dataclass(frozen=True, slots=True)
class RoleChange:
    """Grant or remove a platform role; ``reason`` is ``level`` or ``achievement:<id>``."""

    member_id: str
    role_id: str
    grant: bool
    reason: str


class AnnouncementKind(StrEnum):
    """Things worth telling the community about."""

    LEVEL_UP = "level_up"
    ACHIEVEMENT_UNLOCKED = "achievement_unlocked"


@fast_init
@dataclass(frozen=True, slots=True)
class Announcement:
    """A message the adapters may post (throttled); carries ids, never text to render."""

    kind: AnnouncementKind
    member_id: str
    level: int | None = None
    achievement_id: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class SeasonRollover:
    """A member's season stats closed (``closed`` is what they ended the season with)."""

    member_id: str
    from_season: str | None
    to_season: str | None
    closed: Balances


class OutcomeStatus(StrEnum):
    """APPLIED changed state; BLOCKED changed nothing (see breakdown); REPLAY was seen."""

    APPLIED = "applied"
    BLOCKED = "blocked"
    REPLAY = "replay"


@fast_init
@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything one event caused."""

    event_id: str
    status: OutcomeStatus
    state: MemberState
    receiver_state: MemberState | None = None
    ledger: tuple[LedgerEntry, ...] = ()
    level_changes: tuple[LevelChange, ...] = ()
    unlocks: tuple[AchievementUnlock, ...] = ()
    role_changes: tuple[RoleChange, ...] = ()
    announcements: tuple[Announcement, ...] = ()
    season_rollovers: tuple[SeasonRollover, ...] = ()
    breakdowns: tuple[RewardBreakdown, ...] = ()
