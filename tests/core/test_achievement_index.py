"""`find_unlocks` (threshold ladders) agrees with checking every candidate one by one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.builders import DAY, T0, World, message, rules
from townsquare.core import achievements
from townsquare.core.achievement_config import AchievementConfig
from townsquare.core.achievements import (
    AchievementIndex,
    Check,
    CompiledAchievement,
    TouchKey,
    _unlock_in_order,
    compile_achievements,
    find_unlocks,
)
from townsquare.core.balances import Balances
from townsquare.core.draft import MemberDraft
from townsquare.core.kinds import Counter, Currency
from townsquare.core.outcomes import Outcome
from townsquare.core.state import MemberState, SeasonStats, Streak

COUNTERS = (Counter.MESSAGES, Counter.VOICE_MINUTES)
CURRENCIES = (Currency.XP, Currency.STARS, Currency.GOLD)


def reference_unlocks(
    index: AchievementIndex,
    draft: MemberDraft,
    key: TouchKey,
    at: int,
    earner_counts: Mapping[str, int],
) -> list[tuple[CompiledAchievement, str]]:
    """The straightforward choice of candidates: every one not held, in order, no ladders."""
    counters, currencies, level, streak = key
    chosen: dict[int, CompiledAchievement] = {}
    groups = [index.on_tenure]
    groups += [index.by_counter.get(counter, ()) for counter in counters]
    groups += [index.by_currency.get(currency, ()) for currency in currencies]
    groups += [index.on_level] if level else []
    groups += [index.on_streak] if streak else []
    for group in groups:
        chosen.update((item.order, item) for item in group)
    items = [chosen[order] for order in sorted(chosen)]
    once = frozenset(i.id for i in items if i.check is not Check.LEVEL_INTERVAL)
    todo = once - draft.achievements
    pending = [item for item in items if item.id in todo or item.check is Check.LEVEL_INTERVAL]
    # The series/max-earners walk is shared; what this checks is the candidate choice.
    return _unlock_in_order(index, pending, todo, draft, at, earner_counts)


triggers = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("counter"),
            "counter": st.sampled_from([c.value for c in COUNTERS]),
            "window": st.sampled_from(["lifetime", "season", "day"]),
            "threshold": st.integers(1, 12),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("balance"),
            "currency": st.sampled_from([c.value for c in CURRENCIES]),
            "scope": st.sampled_from(["lifetime", "season"]),
            "threshold": st.integers(1, 40),
        }
    ),
    st.fixed_dictionaries({"type": st.just("level"), "level": st.integers(1, 6)}),
    st.fixed_dictionaries({"type": st.just("level_interval"), "every": st.integers(1, 3)}),
    st.fixed_dictionaries({"type": st.just("streak"), "days": st.integers(1, 6)}),
    st.fixed_dictionaries({"type": st.just("tenure"), "days": st.integers(0, 4)}),
    st.just({"type": "first_event", "kind": "message"}),
    st.just({"type": "manual"}),
)


@st.composite
def achievement_sets(draw: st.DrawFn) -> tuple[AchievementConfig, ...]:
    """Up to 12 achievements; some in series (tiers 1..n), some with max_earners."""
    count = draw(st.integers(1, 12))
    series = draw(st.lists(st.sampled_from([None, "a", "b"]), min_size=count, max_size=count))
    tiers: dict[str, int] = {}
    configs = []
    for index, name in enumerate(series):
        data: dict[str, Any] = {"id": f"a{index}", "name": "A", "trigger": draw(triggers)}
        if name is not None:
            tiers[name] = tiers.get(name, 0) + 1
            data |= {"series": name, "tier": tiers[name]}
        if draw(st.booleans()):
            data["max_earners"] = draw(st.integers(1, 3))
        if draw(st.booleans()):
            data["reward"] = {"xp": draw(st.integers(0, 5))}
        configs.append(AchievementConfig.model_validate(data))
    return tuple(draw(st.permutations(configs)))


@st.composite
def members(draw: st.DrawFn, ids: list[str]) -> MemberState:
    """A member with counters, balances, level, streak, tenure and some achievements held."""
    counts = st.tuples(st.integers(0, 15), st.integers(0, 15), st.integers(0, 15))
    balances = st.builds(Balances, st.integers(-5, 50), st.integers(0, 50), st.integers(0, 50))
    held = draw(st.lists(st.sampled_from([*ids, "a0:1", "a1:2", "a2:3"]), max_size=8))
    return MemberState(
        "alice",
        level=draw(st.integers(0, 7)),
        lifetime=draw(balances),
        season=SeasonStats("S1", draw(balances)),
        counters=draw(st.dictionaries(st.sampled_from(COUNTERS), counts)),
        streak=Streak(0, draw(st.integers(0, 7)), 7),
        joined_at=draw(st.one_of(st.none(), st.integers(T0 - 5 * DAY, T0))),
        achievements=frozenset(held),
    )


@settings(max_examples=400, deadline=None)
@given(data=st.data(), configs=achievement_sets())
def test_find_unlocks_matches_checking_every_candidate(
    data: st.DataObject, configs: tuple[AchievementConfig, ...]
) -> None:
    index = compile_achievements(configs)
    state = data.draw(members([config.id for config in configs]))
    key: TouchKey = (
        tuple(data.draw(st.lists(st.sampled_from(COUNTERS), unique=True))),
        tuple(data.draw(st.lists(st.sampled_from(CURRENCIES), unique=True))),
        data.draw(st.booleans()),
        data.draw(st.booleans()),
    )
    earners = data.draw(
        st.dictionaries(st.sampled_from([c.id for c in configs]), st.integers(0, 3))
    )
    expected_draft, draft = MemberDraft(state), MemberDraft(state)
    expected = reference_unlocks(index, expected_draft, key, T0, earners)
    found = find_unlocks(index, draft, key, T0, earners)
    assert [(item.id, unlocked) for item, unlocked in found] == [
        (item.id, unlocked) for item, unlocked in expected
    ]
    assert draft.achievements == expected_draft.achievements


def test_results_do_not_depend_on_the_held_set_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the memo of held sets started afresh on every new set, outcomes are the same."""
    config = {
        "achievements": [
            *(
                {
                    "id": f"talk-{tier}",
                    "name": "Talk",
                    "series": "talk",
                    "tier": tier,
                    "trigger": {"type": "counter", "counter": "messages", "threshold": threshold},
                    "reward": {"xp": 10},
                }
                for tier, threshold in enumerate((1, 3, 5, 8), start=1)
            ),
            {
                "id": "xp",
                "name": "X",
                "trigger": {"type": "balance", "currency": "xp", "threshold": 60},
            },
            {"id": "lvl", "name": "L", "trigger": {"type": "level", "level": 1}},
            {"id": "every", "name": "E", "trigger": {"type": "level_interval", "every": 1}},
        ],
        "levels": {"curve": {"type": "linear", "xp_per_level": 40}},
    }
    events = [message(f"e{i}", member=f"m{i % 3}", at=T0 + i * 61) for i in range(60)]

    def run() -> list[Outcome]:
        world = World(rules(**config))
        return [world.apply(event) for event in events]

    expected = run()
    assert sum(len(outcome.unlocks) for outcome in expected) > 20
    monkeypatch.setattr(achievements, "OPEN_MEMO_LIMIT", 1)
    assert run() == expected
