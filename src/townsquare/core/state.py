"""Everything the rules need to know about one member, loadable in one query.

The state is plain frozen data; the engine returns a new one. Every collection is bounded
by configuration (recent fingerprints, recent event ids, tracked reaction messages, daily
reaction partners) so a member's state cannot grow without limit. Mappings are typed as
read-only `Mapping`s and never mutated in place: the engine copies on write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from townsquare.core.balances import ZERO, Balances
from townsquare.core.fast_init import fast_init
from townsquare.core.kinds import Counter, Window

NO_DAY = -1
#: A counter's values in its (lifetime, season, day) windows.
WindowCounts = tuple[int, int, int]
NO_COUNTS: WindowCounts = (0, 0, 0)
_EMPTY: Mapping[Any, Any] = MappingProxyType({})


def _empty() -> Mapping[Any, Any]:
    return _EMPTY


@fast_init
@dataclass(frozen=True, slots=True)
class DayWindow:
    """What resets at the community's day boundary: daily caps and partner counts.

    ``reactions_given_to`` maps receiver id -> rewarded reactions this member gave them
    today (the per giver->receiver daily cap); at most ``reaction_partners_per_day`` keys.
    """

    day: int = NO_DAY
    earned: Balances = ZERO
    voice_minutes: int = 0
    reactions_given_to: Mapping[str, int] = field(default_factory=_empty)


@fast_init
@dataclass(frozen=True, slots=True)
class SeasonStats:
    """Balances of the current season; ``season_id`` None is the off-season."""

    season_id: str | None = None
    balances: Balances = ZERO


@fast_init
@dataclass(frozen=True, slots=True)
class Streak:
    """Consecutive active days, for streak achievements."""

    last_active_day: int = NO_DAY
    current: int = 0
    best: int = 0


@fast_init
@dataclass(frozen=True, slots=True)
class ReactionGrant:
    """What one giver's reaction on one message gave, so removal reverses exactly that.

    ``live`` counts the giver's reactions still on the message (several emoji earn once;
    the grant is reversed when the last one is removed). ``day`` and ``season_id`` say
    which daily totals and season stats the reversal must also correct.
    """

    receiver: Balances
    giver: Balances
    day: int
    season_id: str | None
    live: int = 1


@fast_init
@dataclass(frozen=True, slots=True)
class MemberState:
    """One member of one community, as the rules see them.

    ``lifetime`` balances are never reset (Gold there is the spendable wallet);
    ``season`` holds the current season's. ``counters`` maps each counter to its
    (lifetime, season, day) values, in one mapping so counting an event copies one small
    dict. ``message_reactions`` lives on the message
    author's state: message id -> giver id -> grant, least recently touched first, at most
    ``tracked_reaction_messages`` messages. ``recent_event_ids`` lets the engine recognise
    a replay of one of the member's last ``replay_window`` applied events.
    """

    member_id: str
    level: int = 0
    lifetime: Balances = ZERO
    season: SeasonStats = SeasonStats()
    today: DayWindow = DayWindow()
    counters: Mapping[Counter, WindowCounts] = field(default_factory=_empty)
    last_rewarded_at: int | None = None
    recent_fingerprints: tuple[int, ...] = ()
    recent_event_ids: tuple[str, ...] = ()
    streak: Streak = Streak()
    joined_at: int | None = None
    achievements: frozenset[str] = frozenset()
    message_reactions: Mapping[str, Mapping[str, ReactionGrant]] = field(default_factory=_empty)

    def counter(self, counter: Counter, window: Window = Window.LIFETIME) -> int:
        """A counter's value in a window (season: ``season.season_id``; day: ``today.day``)."""
        counts = self.counters.get(counter, NO_COUNTS)
        if window is Window.LIFETIME:
            return counts[0]
        if window is Window.SEASON:
            return counts[1]
        return counts[2]
