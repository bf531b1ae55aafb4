import pytest

from tests.core.builders import DAY, T0, World, manual, message, quiet_rules, rules, simple
from townsquare.core.balances import Balances
from townsquare.core.context import EventContext
from townsquare.core.engine import apply
from townsquare.core.errors import EngineInputError
from townsquare.core.explain import BlockReason
from townsquare.core.kinds import Counter, Currency, EventKind, Window
from townsquare.core.outcomes import AnnouncementKind, LedgerReason, OutcomeStatus
from townsquare.core.state import MemberState


def test_message_earns_base_times_channel_role_and_quality() -> None:
    config = rules(
        multipliers={
            "channel_rules": [{"target_id": "general", "multiplier": 1.5}],
            "role_multipliers": {"booster": 1.2},
        }
    )
    outcome = apply(MemberState("alice"), config, message(length=120, roles=("booster",)))
    # 15 x 1.5 x 1.2 x 1.2 = 32.4 -> 32 XP; 1 x 2.16 -> 2 Gold
    assert outcome.state.lifetime == Balances(xp=32, gold=2)
    assert outcome.status is OutcomeStatus.APPLIED


def test_ledger_entries_carry_reason_source_event_and_season() -> None:
    outcome = apply(MemberState("alice"), quiet_rules(), message("evt-9"))
    assert [(e.currency, e.delta, e.reason, e.event_id, e.season_id) for e in outcome.ledger] == [
        (Currency.XP, 15, LedgerReason.ACTIVITY, "evt-9", "default"),
        (Currency.GOLD, 1, LedgerReason.ACTIVITY, "evt-9", "default"),
    ]


def test_replayed_event_changes_nothing() -> None:
    config = quiet_rules()
    first = apply(MemberState("alice"), config, message("e1"))
    again = apply(first.state, config, message("e1"))
    assert again.status is OutcomeStatus.REPLAY
    assert again.state is first.state
    assert again.ledger == ()


def test_zero_multiplier_channel_earns_nothing_but_counts() -> None:
    config = quiet_rules(multipliers={"channel_rules": [{"target_id": "general", "multiplier": 0}]})
    outcome = apply(MemberState("alice"), config, message())
    assert outcome.state.lifetime == Balances()
    assert outcome.state.counter(Counter.MESSAGES) == 1


def test_zero_role_multiplier_earns_nothing() -> None:
    config = quiet_rules(multipliers={"role_multipliers": {"muted": 0.0}})
    assert apply(MemberState("alice"), config, message(roles=("muted",))).ledger == ()


def test_no_reward_channel_says_why_and_does_not_start_cooldown() -> None:
    config = rules(multipliers={"no_reward_channels": ["bots"]})
    outcome = apply(MemberState("alice"), config, message(channel="bots"))
    assert outcome.breakdowns[0].blocked_by is BlockReason.NO_REWARD_CHANNEL
    assert outcome.state.last_rewarded_at is None
    follow_up = apply(outcome.state, config, message("e2", at=T0 + 1))
    assert follow_up.state.lifetime.xp > 0


def test_several_level_ups_in_one_event() -> None:
    config = quiet_rules(levels={"curve": {"type": "linear", "xp_per_level": 10}})
    outcome = apply(MemberState("alice"), config, manual("a1", xp=35))
    assert outcome.state.level == 3
    assert [(c.old_level, c.new_level) for c in outcome.level_changes] == [(0, 3)]
    assert [a.level for a in outcome.announcements if a.kind is AnnouncementKind.LEVEL_UP] == [3]


def test_level_up_pays_gold_bonus_per_level() -> None:
    config = quiet_rules(
        levels={"curve": {"type": "linear", "xp_per_level": 10}, "gold_per_level_up": 5}
    )
    outcome = apply(MemberState("alice"), config, manual("a1", xp=30))
    bonus = [e for e in outcome.ledger if e.reason is LedgerReason.LEVEL_UP_BONUS]
    assert [(e.currency, e.delta) for e in bonus] == [(Currency.GOLD, 15)]
    assert outcome.state.lifetime.gold == 15


def test_level_roles_are_granted_on_level_up() -> None:
    config = quiet_rules(
        levels={"curve": {"type": "linear", "xp_per_level": 10}, "level_roles": {2: "regular"}}
    )
    outcome = apply(MemberState("alice"), config, manual("a1", xp=25))
    assert [(r.role_id, r.grant) for r in outcome.role_changes] == [("regular", True)]


def test_xp_removal_keeps_level_by_default() -> None:
    config = quiet_rules(levels={"curve": {"type": "linear", "xp_per_level": 10}})
    up = apply(MemberState("alice"), config, manual("a1", xp=30))
    down = apply(up.state, config, manual("r1", xp=25, revoke=True))
    assert (down.state.lifetime.xp, down.state.level) == (5, 3)


def test_xp_removal_lowers_level_when_configured() -> None:
    config = quiet_rules(
        levels={
            "curve": {"type": "linear", "xp_per_level": 10},
            "allow_level_down": True,
            "level_roles": {2: "regular"},
        }
    )
    up = apply(MemberState("alice"), config, manual("a1", xp=30))
    down = apply(up.state, config, manual("r1", xp=25, revoke=True))
    assert down.state.level == 0
    assert [(c.old_level, c.new_level) for c in down.level_changes] == [(3, 0)]
    assert [(r.role_id, r.grant) for r in down.role_changes] == [("regular", False)]


def test_revoke_larger_than_balance_clamps_to_zero_and_says_so() -> None:
    config = quiet_rules()
    awarded = apply(MemberState("alice"), config, manual("a1", gold=10))
    revoked = apply(awarded.state, config, manual("r1", gold=25, revoke=True))
    assert revoked.state.lifetime.gold == 0
    assert [e.delta for e in revoked.ledger] == [-10]
    assert any("removed 10 of 25" in note for note in revoked.breakdowns[0].notes)


def test_revoke_may_go_negative_when_allowed() -> None:
    config = quiet_rules(allow_negative=["gold"])
    revoked = apply(MemberState("alice"), config, manual("r1", gold=25, revoke=True))
    assert revoked.state.lifetime.gold == -25


def test_manual_award_bypasses_daily_caps() -> None:
    config = rules(anti_gaming={"daily_caps": {"xp": 10}})
    outcome = apply(MemberState("alice"), config, manual("a1", xp=500))
    assert outcome.state.lifetime.xp == 500
    assert outcome.state.today.earned.xp == 0


def test_negative_manual_amount_is_an_input_error() -> None:
    with pytest.raises(EngineInputError):
        apply(MemberState("alice"), quiet_rules(), manual("a1", xp=-5))


def test_state_of_another_member_is_an_input_error() -> None:
    with pytest.raises(EngineInputError):
        apply(MemberState("bob"), quiet_rules(), message(member="alice"))


def test_welcome_reward_is_paid_on_first_join_only() -> None:
    world = World(rules())
    first = world.apply(simple("j1", EventKind.MEMBER_JOINED))
    world.apply(simple("l1", EventKind.MEMBER_LEFT, at=T0 + 10))
    again = world.apply(simple("j2", EventKind.MEMBER_JOINED, at=T0 + 20))
    assert first.state.lifetime.gold == 10
    assert again.breakdowns[0].blocked_by is BlockReason.ALREADY_JOINED
    assert world.state("alice").lifetime.gold == 10
    assert world.state("alice").joined_at == T0


def test_line_follow_sets_joined_at_and_pays_welcome() -> None:
    outcome = apply(MemberState("alice"), rules(), simple("f1", EventKind.FOLLOW))
    assert outcome.state.joined_at == T0
    assert outcome.state.lifetime.gold == 10


def test_postback_is_rewarded_and_counted() -> None:
    outcome = apply(MemberState("alice"), quiet_rules(), simple("p1", EventKind.POSTBACK))
    assert outcome.state.lifetime.xp == 2
    assert outcome.state.counter(Counter.POSTBACKS) == 1


def test_thread_creation_is_rewarded() -> None:
    outcome = apply(MemberState("alice"), quiet_rules(), simple("t1", EventKind.THREAD_CREATED))
    assert outcome.state.lifetime == Balances(xp=25, gold=2)


def test_member_left_is_recorded_without_reward() -> None:
    outcome = apply(MemberState("alice"), rules(), simple("l1", EventKind.MEMBER_LEFT))
    assert outcome.status is OutcomeStatus.BLOCKED
    assert outcome.breakdowns[0].blocked_by is BlockReason.NOT_REWARDED_KIND


def test_day_counters_reset_at_the_community_day_boundary() -> None:
    config = quiet_rules(day_offset_minutes=60)  # the community's day starts at 23:00 UTC
    world = World(config)
    world.apply(message("e1", at=T0 - 2 * 3600))  # 22:00 UTC, previous local day
    world.apply(message("e2", at=T0 - 30 * 60, fingerprint=2))  # 23:30 UTC, new local day
    state = world.state("alice")
    assert state.counter(Counter.MESSAGES, Window.DAY) == 1
    assert state.counter(Counter.MESSAGES) == 2


def test_streak_counts_consecutive_active_days() -> None:
    world = World(quiet_rules())
    for day in (0, 1, 2, 4, 5):
        world.apply(message(f"e{day}", at=T0 + day * DAY))
    streak = world.state("alice").streak
    assert (streak.current, streak.best) == (2, 3)


def test_outcome_of_reaction_without_receiver_state_is_an_input_error() -> None:
    from tests.core.builders import reaction

    with pytest.raises(EngineInputError):
        apply(MemberState("bob"), quiet_rules(), reaction("r1"), EventContext())
