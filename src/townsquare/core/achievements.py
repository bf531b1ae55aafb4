"""Achievement evaluation: which achievements an event unlocks, in a deterministic order.

Achievements are compiled once into an index by what they watch (a counter, a currency,
the level, the streak, tenure), so an event only checks the few achievements it could
have affected. Evaluation order is the configuration order, with every series sorted by
tier, so tier n is always checked after tier n-1 and several tiers can unlock in one event.

Within what an event touched, achievements that compare the same value (say the lifetime
message counter) are grouped and sorted by threshold: one read of the value and one bisect
find every achievement it meets, so the usual event (nothing new reached) costs a handful
of comparisons however many achievements are configured. Every met, not yet held
achievement is still checked, so one that was met earlier but could not unlock then (its
series predecessor was missing, ``max_earners`` was reached, it was revoked, or it was
added to the configuration later) unlocks on the next event that touches its value.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from townsquare.core.achievement_config import (
    AchievementConfig,
    BalanceTrigger,
    CounterTrigger,
    FirstEventTrigger,
    LevelIntervalTrigger,
    LevelTrigger,
    ManualTrigger,
    StreakTrigger,
    TenureTrigger,
)
from townsquare.core.draft import MemberDraft
from townsquare.core.kinds import FIRST_EVENT_COUNTER, Counter, Currency, Window
from townsquare.core.state import NO_COUNTS

_DAY = 86_400
_WINDOW_INDEX = {Window.LIFETIME: 0, Window.SEASON: 1, Window.DAY: 2}


class Check(IntEnum):
    """What an achievement's condition compares (an int so the hot check is a cheap branch)."""

    COUNTER = 1
    BALANCE = 2
    LEVEL = 3
    LEVEL_INTERVAL = 4
    STREAK = 5
    TENURE = 6
    MANUAL = 7


@dataclass(frozen=True, slots=True)
class CompiledAchievement:
    """An achievement with its trigger flattened into plain fields for fast checks."""

    order: int
    id: str
    config: AchievementConfig
    prerequisite: str | None
    check: Check
    threshold: int = 0
    counter: Counter | None = None
    window_index: int = 0
    currency: Currency = Currency.XP
    season_scope: bool = False


#: Achievements comparing one value, sorted by threshold: (thresholds, achievements).
Ladder = tuple[tuple[int, ...], tuple["CompiledAchievement", ...]]


def _ladder(items: list[CompiledAchievement]) -> Ladder:
    ordered = sorted(items, key=lambda item: (item.threshold, item.order))
    return tuple(item.threshold for item in ordered), tuple(ordered)


#: Most held-achievement sets remembered per `Candidates` (see `Candidates.open_for`).
OPEN_MEMO_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Candidates:
    """What one kind of change could unlock.

    ``items`` in evaluation order; ``once`` the ids among them that unlock at most once.
    Those are split into ladders by the value they compare (a counter in a window, a
    balance, the level, the streak, tenure in days), so an event reads each value once.
    ``intervals`` are the level-interval achievements (repeatable, checked whenever the
    level moved).
    """

    items: tuple[CompiledAchievement, ...]
    once: frozenset[str]
    counters: tuple[tuple[Counter, int, Ladder], ...]
    balances: tuple[tuple[bool, Currency, Ladder], ...]
    level: Ladder | None
    streak: Ladder | None
    tenure: Ladder | None
    intervals: tuple[CompiledAchievement, ...]
    _open: dict[frozenset[str], Candidates] = field(default_factory=dict, compare=False, repr=False)

    def open_for(self, held: frozenset[str]) -> Candidates:
        """These candidates less the once-only achievements in ``held``.

        Most members hold most of what an event could unlock (every lower tier, the first
        post, ...). Dropping those once per held set leaves ladders of which everything
        met is also new, and usually nothing to compare at all. Members share few distinct
        held sets, and a member's set changes only on an unlock, so this is memoised (up
        to `OPEN_MEMO_LIMIT` sets, then started afresh, so memory stays bounded).
        """
        found = self._open.get(held)
        if found is None:
            if len(self._open) >= OPEN_MEMO_LIMIT:
                self._open.clear()
            found = Candidates.of(
                tuple(
                    item
                    for item in self.items
                    if item.id not in held or item.check is Check.LEVEL_INTERVAL
                )
            )
            self._open[held] = found
        return found

    @classmethod
    def of(cls, items: tuple[CompiledAchievement, ...]) -> Candidates:
        """Split achievements (in evaluation order) into ladders."""
        counters: dict[tuple[Counter, int], list[CompiledAchievement]] = {}
        balances: dict[tuple[bool, Currency], list[CompiledAchievement]] = {}
        singles: dict[Check, list[CompiledAchievement]] = {}
        for item in items:
            if item.check is Check.COUNTER and item.counter is not None:
                counters.setdefault((item.counter, item.window_index), []).append(item)
            elif item.check is Check.BALANCE:
                balances.setdefault((item.season_scope, item.currency), []).append(item)
            else:
                singles.setdefault(item.check, []).append(item)
        level, streak, tenure = (
            _ladder(singles[check]) if check in singles else None
            for check in (Check.LEVEL, Check.STREAK, Check.TENURE)
        )
        return cls(
            items,
            frozenset(i.id for i in items if i.check is not Check.LEVEL_INTERVAL),
            tuple(
                (counter, window, _ladder(group)) for (counter, window), group in counters.items()
            ),
            tuple(
                (scope, currency, _ladder(group)) for (scope, currency), group in balances.items()
            ),
            level,
            streak,
            tenure,
            tuple(singles.get(Check.LEVEL_INTERVAL, ())),
        )


TouchKey = tuple[tuple[Counter, ...], tuple[Currency, ...], bool, bool]


@dataclass(frozen=True, slots=True)
class AchievementIndex:
    """Achievements grouped by what can make them unlock.

    ``_candidates`` memoises, per kind of change (which counters, currencies, level,
    streak), the achievements to check in evaluation order. Its keys come from a small
    finite set (handlers touch fixed counters), so it stays small.
    """

    by_id: Mapping[str, CompiledAchievement]
    by_counter: Mapping[Counter, tuple[CompiledAchievement, ...]]
    by_currency: Mapping[Currency, tuple[CompiledAchievement, ...]]
    on_level: tuple[CompiledAchievement, ...]
    on_streak: tuple[CompiledAchievement, ...]
    on_tenure: tuple[CompiledAchievement, ...]
    successors: Mapping[str, CompiledAchievement]
    _candidates: dict[TouchKey, Candidates] = field(default_factory=dict, compare=False, repr=False)

    def candidates(self, key: TouchKey) -> Candidates:
        """Achievements the change described by ``key`` could unlock, in order and grouped."""
        found = self._candidates.get(key)
        if found is None:
            counters, currencies, level, streak = key
            chosen: dict[int, CompiledAchievement] = {}
            for counter in counters:
                chosen.update((item.order, item) for item in self.by_counter.get(counter, ()))
            for currency in currencies:
                chosen.update((item.order, item) for item in self.by_currency.get(currency, ()))
            groups = [self.on_tenure]
            if level:
                groups.append(self.on_level)
            if streak:
                groups.append(self.on_streak)
            for group in groups:
                chosen.update((item.order, item) for item in group)
            found = Candidates.of(tuple(chosen[order] for order in sorted(chosen)))
            self._candidates[key] = found
        return found


def _evaluation_order(achievements: tuple[AchievementConfig, ...]) -> list[AchievementConfig]:
    first_seen: dict[str, int] = {}
    for position, achievement in enumerate(achievements):
        first_seen.setdefault(achievement.series or f"\0{achievement.id}", position)
    return sorted(
        achievements,
        key=lambda a: (first_seen[a.series or f"\0{a.id}"], a.tier),
    )


def _compile_one(
    order: int, config: AchievementConfig, prerequisite: str | None
) -> CompiledAchievement:
    trigger = config.trigger
    base = (order, config.id, config, prerequisite)
    if isinstance(trigger, CounterTrigger):
        return CompiledAchievement(
            *base, Check.COUNTER, trigger.threshold, trigger.counter, _WINDOW_INDEX[trigger.window]
        )
    if isinstance(trigger, FirstEventTrigger):
        return CompiledAchievement(*base, Check.COUNTER, 1, FIRST_EVENT_COUNTER[trigger.kind])
    if isinstance(trigger, BalanceTrigger):
        return CompiledAchievement(
            *base,
            Check.BALANCE,
            trigger.threshold,
            currency=trigger.currency,
            season_scope=trigger.scope == "season",
        )
    if isinstance(trigger, LevelTrigger):
        return CompiledAchievement(*base, Check.LEVEL, trigger.level)
    if isinstance(trigger, LevelIntervalTrigger):
        return CompiledAchievement(*base, Check.LEVEL_INTERVAL, trigger.every)
    if isinstance(trigger, StreakTrigger):
        return CompiledAchievement(*base, Check.STREAK, trigger.days)
    if isinstance(trigger, TenureTrigger):
        return CompiledAchievement(*base, Check.TENURE, trigger.days)
    assert isinstance(trigger, ManualTrigger)
    return CompiledAchievement(*base, Check.MANUAL)


def compile_achievements(achievements: tuple[AchievementConfig, ...]) -> AchievementIndex:
    """Build the index; call once per configuration."""
    ordered = _evaluation_order(achievements)
    series_ids = {(a.series, a.tier): a.id for a in ordered if a.series is not None}
    compiled = [
        _compile_one(
            order,
            config,
            series_ids.get((config.series, config.tier - 1)) if config.series else None,
        )
        for order, config in enumerate(ordered)
    ]
    by_counter: dict[Counter, list[CompiledAchievement]] = {}
    by_currency: dict[Currency, list[CompiledAchievement]] = {}
    on_level: list[CompiledAchievement] = []
    on_streak: list[CompiledAchievement] = []
    on_tenure: list[CompiledAchievement] = []
    for item in compiled:
        if item.check is Check.COUNTER and item.counter is not None:
            by_counter.setdefault(item.counter, []).append(item)
        elif item.check is Check.BALANCE:
            by_currency.setdefault(item.currency, []).append(item)
        elif item.check in (Check.LEVEL, Check.LEVEL_INTERVAL):
            on_level.append(item)
        elif item.check is Check.STREAK:
            on_streak.append(item)
        elif item.check is Check.TENURE:
            on_tenure.append(item)
    return AchievementIndex(
        by_id={item.id: item for item in compiled},
        by_counter={k: tuple(v) for k, v in by_counter.items()},
        by_currency={k: tuple(v) for k, v in by_currency.items()},
        on_level=tuple(on_level),
        on_streak=tuple(on_streak),
        on_tenure=tuple(on_tenure),
        successors={item.prerequisite: item for item in compiled if item.prerequisite},
    )


def _met(item: CompiledAchievement, draft: MemberDraft, at: int) -> bool:
    check = item.check
    if check is Check.COUNTER:
        counts = draft.counters.get(item.counter, NO_COUNTS)  # type: ignore[arg-type]
        return counts[item.window_index] >= item.threshold
    if check is Check.BALANCE:
        balances = draft.season_balances if item.season_scope else draft.lifetime
        return balances.get(item.currency) >= item.threshold
    if check is Check.LEVEL:
        return draft.level >= item.threshold
    if check is Check.STREAK:
        return draft.streak.current >= item.threshold
    if check is Check.TENURE:
        joined_at = draft.joined_at
        return joined_at is not None and (at - joined_at) // _DAY >= item.threshold
    return False


def _climb(found: list[CompiledAchievement], ladder: Ladder, value: int) -> None:
    """Add the achievements of ``ladder`` that ``value`` meets."""
    thresholds, items = ladder
    if value >= thresholds[0]:
        found.extend(items[: bisect_right(thresholds, value)])


def _all_met(candidates: Candidates, draft: MemberDraft, at: int) -> list[CompiledAchievement]:
    """The candidates met now, plus level intervals, in evaluation order.

    The same conditions as `_met`, read once per compared value. Only
    ``draft.achievements`` changes while unlocks are found (rewards are paid afterwards),
    so which achievements are met is fixed for the whole of `find_unlocks`.
    """
    found: list[CompiledAchievement] = []
    # Counters and balances are most of what events touch: their lowest threshold is
    # checked here, so a ladder nothing reached costs no call.
    if candidates.counters:
        counters = draft.counters
        for counter, window_index, (thresholds, items) in candidates.counters:
            value = counters.get(counter, NO_COUNTS)[window_index]
            if value >= thresholds[0]:
                found.extend(items[: bisect_right(thresholds, value)])
    for season_scope, currency, (thresholds, items) in candidates.balances:
        balances = draft.season_balances if season_scope else draft.lifetime
        value = balances.get(currency)
        if value >= thresholds[0]:
            found.extend(items[: bisect_right(thresholds, value)])
    if candidates.level is not None:
        _climb(found, candidates.level, draft.level)
    if candidates.streak is not None:
        _climb(found, candidates.streak, draft.streak.current)
    if candidates.tenure is not None and draft.joined_at is not None:
        _climb(found, candidates.tenure, (at - draft.joined_at) // _DAY)
    found.extend(candidates.intervals)
    if len(found) > 1:
        found.sort(key=lambda item: item.order)
    return found


def _interval_ids(item: CompiledAchievement, draft: MemberDraft) -> list[str]:
    """The ``<id>:<level>`` instances of a level-interval achievement not yet unlocked."""
    every = item.threshold
    return [
        f"{item.id}:{level}"
        for level in range(every, draft.level + 1, every)
        if f"{item.id}:{level}" not in draft.achievements
    ]


def find_unlocks(
    index: AchievementIndex,
    draft: MemberDraft,
    key: TouchKey,
    at: int,
    earner_counts: Mapping[str, int],
) -> list[tuple[CompiledAchievement, str]]:
    """Achievements to unlock now, in evaluation order; marks them unlocked on the draft.

    ``key`` says what the event changed, so only achievements watching that are checked.
    ``max_earners`` is enforced with ``earner_counts`` (community-wide counts passed in by
    the pipeline). A series successor is checked as soon as its predecessor unlocks, even
    if the event did not touch what the successor watches.
    """
    candidates = index.candidates(key).open_for(draft.achievements)
    pending = _all_met(candidates, draft, at)
    if not pending:
        return []
    return _unlock_in_order(index, pending, candidates.once, draft, at, earner_counts)


def _unlock_in_order(
    index: AchievementIndex,
    pending: list[CompiledAchievement],
    todo: frozenset[str],
    draft: MemberDraft,
    at: int,
    earner_counts: Mapping[str, int],
) -> list[tuple[CompiledAchievement, str]]:
    """Unlock what is met among ``pending``, then each unlocked tier's successor, in order.

    ``todo`` holds the ids already due for a check (a successor among them is not queued
    twice). Enforces prerequisites and ``max_earners``; marks unlocks on the draft.
    """
    unlocked: list[tuple[CompiledAchievement, str]] = []
    while pending:
        successors: list[CompiledAchievement] = []
        for item in pending:
            if item.prerequisite is not None and item.prerequisite not in draft.achievements:
                continue
            if item.id in draft.achievements and item.check is not Check.LEVEL_INTERVAL:
                continue
            if item.check is Check.LEVEL_INTERVAL:
                found = _interval_ids(item, draft)
            elif _met(item, draft, at):
                found = [item.id]
            else:
                continue
            for achievement_id in found:
                limit = item.config.max_earners
                if limit is not None and earner_counts.get(achievement_id, 0) >= limit:
                    continue
                draft.achievements = draft.achievements | {achievement_id}
                unlocked.append((item, achievement_id))
                successor = index.successors.get(item.id)
                if successor is not None and successor.id not in todo:
                    successors.append(successor)
        todo = todo.union(item.id for item in successors)
        pending = successors
    return unlocked
