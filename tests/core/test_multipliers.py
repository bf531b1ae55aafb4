import pytest

from tests.core.builders import message, reaction, rules
from townsquare.core import multipliers
from townsquare.core.explain import BlockReason
from townsquare.core.kinds import ChannelType
from townsquare.core.multipliers import (
    _resolve_channel_factor,
    channel_factor,
    no_reward_block,
    role_factor,
)

CHAIN = rules(
    multipliers={
        "channel_rules": [
            {"target_id": "c1", "kind": "message", "multiplier": 2.0},
            {"target_id": "c1", "multiplier": 3.0},
            {"target_id": "c2", "multiplier": 4.0},
            {"target_id": "parent", "kind": "message", "multiplier": 5.0},
            {"target_id": "cat", "multiplier": 6.0},
        ],
        "channel_type_defaults": [
            {"channel_type": "thread", "kind": "message", "multiplier": 7.0},
            {"channel_type": "thread", "multiplier": 8.0},
        ],
    }
)


def test_channel_rule_for_the_kind_wins_over_any_kind() -> None:
    assert channel_factor(CHAIN, message(channel="c1")).value == 20_000


def test_channel_rule_for_any_kind_applies_to_other_kinds() -> None:
    event = message(channel="c2", parent="parent", category="cat")
    assert channel_factor(CHAIN, event).value == 40_000


def test_thread_parent_rule_applies_when_thread_has_none() -> None:
    event = message(channel="t1", parent="parent", category="cat")
    factor = channel_factor(CHAIN, event)
    assert factor.value == 50_000
    assert factor.source.startswith("thread parent parent")


def test_category_rule_applies_when_channel_and_parent_have_none() -> None:
    assert channel_factor(CHAIN, message(channel="t1", category="cat")).value == 60_000


def test_channel_type_default_for_kind_then_any_kind() -> None:
    thread = message(channel="t1", channel_type=ChannelType.THREAD)
    assert channel_factor(CHAIN, thread).value == 70_000
    only_any = rules(
        multipliers={"channel_type_defaults": [{"channel_type": "thread", "multiplier": 8.0}]}
    )
    assert channel_factor(only_any, thread).value == 80_000


def test_no_rule_means_one() -> None:
    factor = channel_factor(CHAIN, message(channel="elsewhere"))
    assert (factor.value, factor.source) == (10_000, "default")


ROLES = {"booster": 1.5, "mod": 2.0, "newbie": 0.5}


def test_role_multipliers_combine_by_max() -> None:
    config = rules(multipliers={"role_multipliers": ROLES})
    assert role_factor(config, ("booster", "mod", "other")).value == 20_000


def test_role_multipliers_combine_by_product() -> None:
    config = rules(multipliers={"role_multipliers": ROLES, "role_combine": "product"})
    assert role_factor(config, ("booster", "newbie")).value == 7_500


@pytest.mark.parametrize("combine", ["max", "product"])
def test_a_single_role_gets_its_own_factor_and_source(combine: str) -> None:
    config = rules(multipliers={"role_multipliers": ROLES, "role_combine": combine})
    factor = role_factor(config, ("newbie",))
    assert (factor.value, factor.source) == (5_000, "role newbie")


def test_member_without_multiplier_roles_gets_one() -> None:
    config = rules(multipliers={"role_multipliers": ROLES})
    assert role_factor(config, ("other",)).value == 10_000


def test_no_reward_channel_covers_threads_and_categories() -> None:
    config = rules(multipliers={"no_reward_channels": ["bots", "archive"]})
    assert no_reward_block(config, message(channel="bots"), ()) is BlockReason.NO_REWARD_CHANNEL
    in_thread = message(channel="t9", parent="bots")
    assert no_reward_block(config, in_thread, ()) is BlockReason.NO_REWARD_CHANNEL
    in_category = message(channel="c9", category="archive")
    assert no_reward_block(config, in_category, ()) is BlockReason.NO_REWARD_CHANNEL
    assert no_reward_block(config, message(channel="general"), ()) is None


def test_no_reward_role_blocks() -> None:
    config = rules(multipliers={"no_reward_roles": ["muted"]})
    assert no_reward_block(config, message(), ("x", "muted")) is BlockReason.NO_REWARD_ROLE
    assert no_reward_block(config, message(), ()) is None
    assert no_reward_block(config, message(), ("x",)) is None


def test_remembered_channel_factors_depend_on_the_whole_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The memo never answers for a place with the factor of a similar one."""
    places = [
        message(channel=channel, parent=parent, category=category, channel_type=channel_type)
        for channel in ("c1", "c2", "t1")
        for parent in (None, "parent")
        for category in (None, "cat")
        for channel_type in (ChannelType.TEXT, ChannelType.THREAD)
    ]
    places.append(reaction("r1", channel="c1"))
    fresh = [_resolve_channel_factor(CHAIN, event) for event in places]
    assert [channel_factor(CHAIN, event) for event in places] == fresh
    assert [channel_factor(CHAIN, event) for event in reversed(places)] == fresh[::-1]
    monkeypatch.setattr(multipliers, "CHANNEL_MEMO_LIMIT", 1)
    assert [channel_factor(CHAIN, event) for event in places] == fresh
