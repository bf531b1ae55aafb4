"""A mutable working copy of one member's state while one event is applied.

The public state is frozen; building a new frozen object for every small step would be
slow and noisy, so the engine edits a draft and freezes it once. Sub-objects that did not
change are reused. The draft also writes the ledger: every balance change goes through
`credit`/`debit`, which is how the ledger and the balances can never disagree.
"""

from __future__ import annotations

from townsquare.core.balances import ZERO, Balances
from townsquare.core.explain import BlockReason, RewardBreakdown
from townsquare.core.fast_init import direct_constructor
from townsquare.core.kinds import Counter, Currency
from townsquare.core.outcomes import (
    AchievementUnlock,
    Announcement,
    LedgerEntry,
    LedgerReason,
    LevelChange,
    Outcome,
    OutcomeStatus,
    RoleChange,
    SeasonRollover,
)
from townsquare.core.state import (
    NO_COUNTS,
    DayWindow,
    MemberState,
    ReactionGrant,
    SeasonStats,
    Streak,
    WindowCounts,
)

_XP, _STARS, _GOLD = Currency.XP, Currency.STARS, Currency.GOLD
# Enum members read once: on Python 3.11 ``Enum.MEMBER`` goes through the enum
# metaclass's ``__getattr__`` hook, ~900 instructions against ~30 for a global.
_APPLIED, _BLOCKED, _REPLAY = OutcomeStatus.APPLIED, OutcomeStatus.BLOCKED, OutcomeStatus.REPLAY
_REPLAYED = BlockReason.REPLAY
# Built for nearly every event, so built through their direct constructors (same
# signature and result as calling the class; see `fast_init.direct_constructor`).
_Balances = direct_constructor(Balances)
_LedgerEntry = direct_constructor(LedgerEntry)
_Outcome = direct_constructor(Outcome)
_MemberState = direct_constructor(MemberState)
_DayWindow = direct_constructor(DayWindow)
_SeasonStats = direct_constructor(SeasonStats)
_CURRENCIES = (_XP, _STARS, _GOLD)


class Effects:
    """Collects what an event caused, across the members it touched.

    ``ledger`` and ``breakdowns`` are lists: nearly every event adds to them. The other
    five are tuples that start as the shared empty tuple and grow with ``+= (item,)``:
    most events unlock nothing, change no level or role and announce nothing, so they
    cost nothing instead of five list allocations per event (~1,700 instructions), and
    `outcome` can use them as they are.
    """

    __slots__ = (
        "announcements",
        "breakdowns",
        "ledger",
        "level_changes",
        "role_changes",
        "rollovers",
        "unlocks",
    )

    def __init__(self) -> None:
        self.ledger: list[LedgerEntry] = []
        self.level_changes: tuple[LevelChange, ...] = ()
        self.unlocks: tuple[AchievementUnlock, ...] = ()
        self.role_changes: tuple[RoleChange, ...] = ()
        self.announcements: tuple[Announcement, ...] = ()
        self.rollovers: tuple[SeasonRollover, ...] = ()
        self.breakdowns: list[RewardBreakdown] = []

    def outcome(
        self, event_id: str, actor: MemberDraft, receiver: MemberDraft | None = None
    ) -> Outcome:
        """Freeze the drafts and package everything the event caused."""
        return _Outcome(
            event_id,
            _APPLIED,
            actor.freeze(),
            receiver.freeze() if receiver is not None else None,
            tuple(self.ledger),
            self.level_changes,
            self.unlocks,
            self.role_changes,
            self.announcements,
            self.rollovers,
            tuple(self.breakdowns),
        )


def blocked_outcome(
    state: MemberState,
    event_id: str,
    breakdown: RewardBreakdown,
    receiver: MemberState | None = None,
) -> Outcome:
    """An event that changes nothing: recorded with a zero reward and the reason."""
    status = _REPLAY if breakdown.blocked_by is _REPLAYED else _BLOCKED
    return _Outcome(event_id, status, state, receiver, breakdowns=(breakdown,))


class MemberDraft:
    """Working copy of a `MemberState`; `freeze()` returns the new state."""

    __slots__ = (
        "_origin",
        "achievements",
        "counters",
        "day",
        "day_earned",
        "joined_at",
        "last_rewarded_at",
        "level",
        "lifetime",
        "member_id",
        "message_reactions",
        "reactions_given_to",
        "recent_event_ids",
        "recent_fingerprints",
        "season_balances",
        "season_id",
        "streak",
        "voice_minutes",
    )

    def __init__(self, state: MemberState) -> None:
        self._origin = state
        self.member_id = state.member_id
        self.level = state.level
        self.lifetime = state.lifetime
        season = state.season
        self.season_id = season.season_id
        self.season_balances = season.balances
        today = state.today
        self.day = today.day
        self.day_earned = today.earned
        self.voice_minutes = today.voice_minutes
        self.reactions_given_to = today.reactions_given_to
        self.counters = state.counters
        self.last_rewarded_at = state.last_rewarded_at
        self.recent_fingerprints = state.recent_fingerprints
        self.recent_event_ids = state.recent_event_ids
        self.streak = state.streak
        self.joined_at = state.joined_at
        self.achievements = state.achievements
        self.message_reactions = state.message_reactions

    # --- windows -------------------------------------------------------------------------

    def roll(self, day: int, season_id: str | None, effects: Effects) -> None:
        """Move to the event's day and season; late events (an earlier day) roll nothing."""
        if day < self.day:
            return
        if day > self.day:
            self.day = day
            self.day_earned = ZERO
            self.voice_minutes = 0
            self.reactions_given_to = {}
            self.counters = {
                key: (life, season, 0) for key, (life, season, _) in self.counters.items()
            }
        if season_id != self.season_id:
            if self.season_id is not None or not self.season_balances.is_zero():
                effects.rollovers += (
                    SeasonRollover(self.member_id, self.season_id, season_id, self.season_balances),
                )
            self.season_id = season_id
            self.season_balances = ZERO
            self.counters = {key: (life, 0, now) for key, (life, _, now) in self.counters.items()}

    def counter(self, counter: Counter, window_index: int) -> int:
        """A counter in window 0 (lifetime), 1 (season) or 2 (day)."""
        return self.counters.get(counter, NO_COUNTS)[window_index]

    # --- balances -------------------------------------------------------------------------

    def credit(
        self,
        amounts: Balances,
        reason: LedgerReason,
        event_id: str,
        effects: Effects,
        *,
        daily: bool,
    ) -> None:
        """Add earned amounts to lifetime and season balances (and today's totals if daily)."""
        xp, stars, gold = amounts.xp, amounts.stars, amounts.gold
        if not (xp or stars or gold):
            return
        life = self.lifetime
        self.lifetime = _Balances(life.xp + xp, life.stars + stars, life.gold + gold)
        season_id = self.season_id
        in_season = season_id is not None
        if in_season:
            sea = self.season_balances
            self.season_balances = _Balances(sea.xp + xp, sea.stars + stars, sea.gold + gold)
        if daily:
            day = self.day_earned
            self.day_earned = _Balances(day.xp + xp, day.stars + stars, day.gold + gold)
        # One row per currency that changed, in XP, Stars, Gold order (written out rather
        # than looped: this runs for nearly every event).
        ledger = effects.ledger
        member_id = self.member_id
        if xp:
            ledger.append(
                _LedgerEntry(
                    member_id, _XP, xp, xp if in_season else 0, season_id, reason, event_id
                )
            )
        if stars:
            ledger.append(
                _LedgerEntry(
                    member_id, _STARS, stars, stars if in_season else 0, season_id, reason, event_id
                )
            )
        if gold:
            ledger.append(
                _LedgerEntry(
                    member_id, _GOLD, gold, gold if in_season else 0, season_id, reason, event_id
                )
            )

    def debit(
        self,
        amounts: Balances,
        reason: LedgerReason,
        event_id: str,
        effects: Effects,
        *,
        allow_negative: frozenset[Currency],
        season: bool = True,
        daily: bool = False,
    ) -> list[str]:
        """Remove amounts; clamps at zero unless the currency may go negative.

        ``season``/``daily`` say whether the amounts were counted in the current season and
        today (a reversal of an older grant corrects only the totals it was counted in).
        Returns breakdown notes for every clamp.
        """
        notes: list[str] = []
        lifetime = [self.lifetime.xp, self.lifetime.stars, self.lifetime.gold]
        seasonal = [self.season_balances.xp, self.season_balances.stars, self.season_balances.gold]
        earned = [self.day_earned.xp, self.day_earned.stars, self.day_earned.gold]
        in_season = season and self.season_id is not None
        for index, currency in enumerate(_CURRENCIES):
            amount = amounts.get(currency)
            if amount <= 0:
                continue
            negative_ok = currency in allow_negative
            taken = amount if negative_ok else min(amount, max(0, lifetime[index]))
            if taken < amount:
                notes.append(f"{currency.value}: removed {taken} of {amount} (balance floor 0)")
            lifetime[index] -= taken
            season_taken = 0
            if in_season:
                season_taken = amount if negative_ok else min(amount, max(0, seasonal[index]))
                seasonal[index] -= season_taken
            if daily:
                earned[index] = max(0, earned[index] - amount)
            if taken or season_taken:
                effects.ledger.append(
                    LedgerEntry(
                        self.member_id,
                        currency,
                        -taken,
                        -season_taken,
                        self.season_id if in_season else None,
                        reason,
                        event_id,
                    )
                )
        self.lifetime = Balances(*lifetime)
        self.season_balances = Balances(*seasonal)
        self.day_earned = Balances(*earned)
        return notes

    # --- counters and activity -----------------------------------------------------------

    def count(
        self, counter: Counter, by: int = 1, *, season: bool = True, day: bool = True
    ) -> None:
        """Change a counter in the lifetime window and, when asked, season and day windows."""
        counters = self.counters
        life, sea, today = counters.get(counter, NO_COUNTS)
        # Each changed window is clamped at zero (comparisons, not max(): this is hot).
        life += by
        if life < 0:
            life = 0
        if season:
            sea += by
            if sea < 0:
                sea = 0
        if day:
            today += by
            if today < 0:
                today = 0
        counts: WindowCounts = (life, sea, today)
        if counts == NO_COUNTS:  # keep "never counted" and "counted back to zero" equal
            self.counters = {key: value for key, value in counters.items() if key != counter}
        else:
            changed = dict(counters)
            changed[counter] = counts
            self.counters = changed

    def mark_active(self, day: int) -> bool:
        """Record activity on ``day``; True when the streak changed."""
        streak = self.streak
        if day <= streak.last_active_day:
            return False
        current = streak.current + 1 if day == streak.last_active_day + 1 else 1
        self.streak = Streak(day, current, max(streak.best, current))
        return True

    def remember_event(self, event_id: str, window: int) -> None:
        """Keep the event id so a replay within the window is recognised."""
        if window:
            kept = self.recent_event_ids[: window - 1]
            self.recent_event_ids = (event_id,) + kept  # noqa: RUF005 - 4x faster than unpacking

    def remember_fingerprint(self, fingerprint: int, window: int) -> None:
        """Keep a message fingerprint for duplicate detection (0 = no text, not kept)."""
        if fingerprint and window:
            kept = self.recent_fingerprints[: window - 1]
            self.recent_fingerprints = (fingerprint,) + kept  # noqa: RUF005 - see remember_event

    def set_grant(
        self, message_id: str, giver_id: str, grant: ReactionGrant | None, max_messages: int
    ) -> None:
        """Store (or with None, drop) a reaction grant; the message becomes most recent."""
        reactions = dict(self.message_reactions)
        givers = dict(reactions.pop(message_id, {}))
        if grant is None:
            givers.pop(giver_id, None)
        else:
            givers[giver_id] = grant
        if givers:
            reactions[message_id] = givers
        while len(reactions) > max_messages:
            del reactions[next(iter(reactions))]
        self.message_reactions = reactions

    # --- freezing -------------------------------------------------------------------------

    def freeze(self) -> MemberState:
        """The new immutable state; unchanged sub-objects are shared with the old one."""
        origin = self._origin
        season = origin.season
        if self.season_id != season.season_id or self.season_balances is not season.balances:
            season = _SeasonStats(self.season_id, self.season_balances)
        today = origin.today
        if (
            self.day != today.day
            or self.day_earned is not today.earned
            or self.voice_minutes != today.voice_minutes
            or self.reactions_given_to is not today.reactions_given_to
        ):
            today = _DayWindow(
                self.day, self.day_earned, self.voice_minutes, self.reactions_given_to
            )
        return _MemberState(
            self.member_id,
            self.level,
            self.lifetime,
            season,
            today,
            self.counters,
            self.last_rewarded_at,
            self.recent_fingerprints,
            self.recent_event_ids,
            self.streak,
            self.joined_at,
            self.achievements,
            self.message_reactions,
        )
