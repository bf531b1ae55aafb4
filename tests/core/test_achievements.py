from typing import Any

import pytest
from pydantic import ValidationError

from tests.core.builders import DAY, T0, World, manual, message, quiet_rules, simple
from townsquare.core.community_rules import CommunityConfig
from townsquare.core.engine import apply
from townsquare.core.kinds import EventKind
from townsquare.core.state import MemberState


def achievements(*items: dict[str, Any], **config: Any) -> World:
    return World(quiet_rules(achievements=list(items), **config))


def chatter(tier: int, threshold: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"chatter-{tier}",
        "name": f"Chatter {tier}",
        "series": "chatter",
        "tier": tier,
        "trigger": {"type": "counter", "counter": "messages", "threshold": threshold},
        **extra,
    }


def test_counter_threshold_unlocks_once() -> None:
    world = achievements(chatter(1, 2))
    first = world.apply(message("e1"))
    second = world.apply(message("e2", at=T0 + 1))
    third = world.apply(message("e3", at=T0 + 2))
    assert (first.unlocks, third.unlocks) == ((), ())
    assert [u.achievement_id for u in second.unlocks] == ["chatter-1"]


def test_day_window_counter_counts_only_today() -> None:
    world = achievements(
        {
            "id": "busy",
            "name": "Busy day",
            "trigger": {"type": "counter", "counter": "messages", "window": "day", "threshold": 2},
        }
    )
    world.apply(message("e1"))
    assert world.apply(message("e2", at=T0 + DAY)).unlocks == ()
    assert [u.achievement_id for u in world.apply(message("e3", at=T0 + DAY + 1)).unlocks] == [
        "busy"
    ]


def test_series_tiers_unlock_in_order_within_one_event() -> None:
    world = achievements(chatter(2, 1), chatter(1, 1))  # configured out of order
    outcome = world.apply(message("e1"))
    assert [u.achievement_id for u in outcome.unlocks] == ["chatter-1", "chatter-2"]


def test_series_tier_needs_previous_tier() -> None:
    first = {
        "id": "lvl",
        "name": "Level 50",
        "series": "s",
        "tier": 1,
        "trigger": {"type": "level", "level": 50},
    }
    second = {**chatter(2, 1), "series": "s", "id": "talk"}
    world = achievements(first, second)
    assert world.apply(message("e1")).unlocks == ()


def test_balance_milestone_unlocks() -> None:
    world = achievements(
        {
            "id": "rich",
            "name": "Rich",
            "trigger": {"type": "balance", "currency": "gold", "threshold": 100},
        }
    )
    assert [u.achievement_id for u in world.apply(manual("a1", gold=100)).unlocks] == ["rich"]


def test_level_reached_and_level_interval() -> None:
    world = achievements(
        {"id": "five", "name": "Five", "trigger": {"type": "level", "level": 5}},
        {"id": "every2", "name": "Every two", "trigger": {"type": "level_interval", "every": 2}},
        levels={"curve": {"type": "linear", "xp_per_level": 10}},
    )
    outcome = world.apply(manual("a1", xp=50))
    assert [u.achievement_id for u in outcome.unlocks] == ["five", "every2:2", "every2:4"]
    again = world.apply(manual("a2", xp=10, at=T0 + 1))
    assert [u.achievement_id for u in again.unlocks] == ["every2:6"]


def test_streak_achievement() -> None:
    world = achievements({"id": "three", "name": "Three", "trigger": {"type": "streak", "days": 3}})
    unlocked = [world.apply(message(f"e{d}", at=T0 + d * DAY)).unlocks for d in range(3)]
    assert [len(u) for u in unlocked] == [0, 0, 1]


def test_tenure_achievement_is_checked_on_next_event() -> None:
    world = achievements({"id": "year", "name": "Year", "trigger": {"type": "tenure", "days": 365}})
    world.apply(simple("j1", EventKind.MEMBER_JOINED))
    assert world.apply(message("e1", at=T0 + 364 * DAY)).unlocks == ()
    assert len(world.apply(message("e2", at=T0 + 365 * DAY)).unlocks) == 1


def test_first_event_of_a_kind() -> None:
    world = achievements(
        {"id": "hello", "name": "Hello", "trigger": {"type": "first_event", "kind": "postback"}}
    )
    assert world.apply(message("e1")).unlocks == ()
    assert len(world.apply(simple("p1", EventKind.POSTBACK, at=T0 + 5)).unlocks) == 1


def test_manual_achievement_only_by_award_and_revocable() -> None:
    world = achievements(
        {
            "id": "helper",
            "name": "Helper",
            "trigger": {"type": "manual"},
            "reward": {"role_id": "helper-role"},
        }
    )
    assert world.apply(message("e1")).unlocks == ()
    granted = world.apply(manual("a1", achievement="helper", at=T0 + 1))
    assert [u.achievement_id for u in granted.unlocks] == ["helper"]
    assert [(r.role_id, r.grant) for r in granted.role_changes] == [("helper-role", True)]
    revoked = world.apply(manual("a2", achievement="helper", revoke=True, at=T0 + 2))
    assert "helper" not in revoked.state.achievements
    assert [(r.role_id, r.grant) for r in revoked.role_changes] == [("helper-role", False)]


def test_max_earners_is_enforced() -> None:
    world = achievements(chatter(1, 1, max_earners=1))
    assert len(world.apply(message("e1", member="alice")).unlocks) == 1
    assert world.apply(message("e2", member="bob")).unlocks == ()


def test_achievement_reward_can_level_up() -> None:
    world = achievements(
        chatter(1, 1, reward={"xp": 100, "gold": 5}),
        {"id": "lvl3", "name": "Level 3", "trigger": {"type": "level", "level": 3}},
        levels={"curve": {"type": "linear", "xp_per_level": 30}},
    )
    outcome = world.apply(message("e1"))
    assert outcome.state.level == 3  # 15 + 100 XP
    assert [u.achievement_id for u in outcome.unlocks] == ["chatter-1", "lvl3"]
    assert outcome.state.lifetime.gold == 1 + 5


def test_unlock_carries_category_rarity_and_hidden() -> None:
    world = achievements(chatter(1, 1, category="social", rarity="epic", hidden=True))
    unlock = world.apply(message("e1")).unlocks[0]
    assert (unlock.category, unlock.rarity, unlock.hidden) == ("social", "epic", True)


def test_evaluation_order_is_deterministic() -> None:
    items = [
        {
            "id": f"a{i}",
            "name": "A",
            "trigger": {"type": "counter", "counter": "messages", "threshold": 1},
        }
        for i in (3, 1, 2)
    ]
    outcome = apply(MemberState("alice"), quiet_rules(achievements=items), message())
    assert [u.achievement_id for u in outcome.unlocks] == ["a3", "a1", "a2"]


def test_duplicate_achievement_ids_are_rejected() -> None:
    with pytest.raises(ValidationError, match="unique"):
        CommunityConfig.model_validate({"achievements": [chatter(1, 1), chatter(1, 2)]})


def test_series_with_gap_is_rejected() -> None:
    with pytest.raises(ValidationError, match="without gaps"):
        CommunityConfig.model_validate({"achievements": [chatter(1, 1), chatter(3, 2)]})
