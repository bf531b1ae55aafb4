import itertools
import math

from tests.core.builders import DAY, T0, World, quiet_rules, reaction
from townsquare.core.balances import Balances
from townsquare.core.explain import BlockReason
from townsquare.core.kinds import Counter
from townsquare.core.outcomes import LedgerReason, OutcomeStatus


def test_reaction_gives_stars_to_author_and_xp_to_giver() -> None:
    world = World(quiet_rules())
    outcome = world.apply(reaction("r1"))
    assert outcome.receiver_state is not None
    assert outcome.receiver_state.lifetime == Balances(stars=1)
    assert outcome.state.lifetime == Balances(xp=1)
    assert {e.reason for e in outcome.ledger} == {
        LedgerReason.REACTION_RECEIVED,
        LedgerReason.ACTIVITY,
    }


def test_self_reaction_gives_nothing() -> None:
    world = World(quiet_rules())
    outcome = world.apply(reaction("r1", giver="alice", receiver="alice"))
    assert outcome.status is OutcomeStatus.BLOCKED
    assert outcome.breakdowns[0].blocked_by is BlockReason.SELF_REACTION
    assert outcome.ledger == ()


def test_reaction_removal_reverses_reward() -> None:
    world = World(quiet_rules())
    world.apply(reaction("r1"))
    removal = world.apply(reaction("r2", removed=True, at=T0 + 60))
    assert world.state("alice").lifetime == Balances()
    assert world.state("bob").lifetime == Balances()
    assert {e.reason for e in removal.ledger} == {LedgerReason.REACTION_REVERSED}
    assert world.state("alice").counter(Counter.REACTIONS_RECEIVED) == 0
    assert world.state("alice").message_reactions == {}


def test_reaction_removal_reverses_what_was_given_not_todays_rules() -> None:
    world = World(quiet_rules(multipliers={"channel_rules": [{"target_id": "x", "multiplier": 5}]}))
    world.apply(reaction("r1", channel="x"))
    assert world.state("alice").lifetime.stars == 5
    world.rules = quiet_rules()  # the admin changed the config in between
    world.apply(reaction("r2", removed=True, at=T0 + 60))
    assert world.state("alice").lifetime.stars == 0


def test_removing_a_reaction_that_gave_nothing_reverses_nothing() -> None:
    world = World(quiet_rules())
    outcome = world.apply(reaction("r1", removed=True))
    assert outcome.breakdowns[0].blocked_by is BlockReason.NOTHING_TO_REVERSE
    assert outcome.ledger == ()


def test_second_emoji_from_same_giver_earns_nothing_until_all_removed() -> None:
    world = World(quiet_rules())
    world.apply(reaction("r1"))
    second = world.apply(reaction("r2", at=T0 + 1))
    assert second.breakdowns[0].blocked_by is BlockReason.ALREADY_REACTED
    first_removed = world.apply(reaction("r3", removed=True, at=T0 + 2))
    assert first_removed.breakdowns[0].blocked_by is BlockReason.STILL_REACTED
    assert world.state("alice").lifetime.stars == 1
    world.apply(reaction("r4", removed=True, at=T0 + 3))
    assert world.state("alice").lifetime.stars == 0


def test_many_reactions_have_diminishing_returns() -> None:
    config = quiet_rules(base_rewards={"reaction_received": {"stars": 10}})
    world = World(config)
    gains = []
    for i in range(30):
        before = world.state("alice").lifetime.stars
        world.apply(reaction(f"r{i}", giver=f"g{i}"))
        gains.append(world.state("alice").lifetime.stars - before)
    assert gains[:4] == [10, 8, 6, 5]
    # each reactor gives at most the (rounded-up) geometric share 10 x 0.8^i ...
    assert all(gain <= math.ceil(10 * 0.8**i) for i, gain in enumerate(gains))
    # ... so every five reactors together give less than the five before them
    windows = [sum(gains[i : i + 5]) for i in range(0, 25, 5)]
    assert all(later < earlier for earlier, later in itertools.pairwise(windows))
    # the geometric series bounds the total: 10 / (1 - 0.8) = 50, and past 25 reactors nothing
    assert sum(gains) <= 50
    assert gains[25:] == [0] * 5


def test_reactor_limit_blocks_further_reactions() -> None:
    config = quiet_rules(anti_gaming={"max_rewarded_reactors": 2})
    world = World(config)
    for i in range(3):
        last = world.apply(reaction(f"r{i}", giver=f"g{i}"))
    assert last.breakdowns[0].blocked_by is BlockReason.REACTOR_LIMIT


def test_giver_to_receiver_daily_cap() -> None:
    config = quiet_rules(anti_gaming={"reaction_pair_daily_cap": 2})
    world = World(config)
    outcomes = [world.apply(reaction(f"r{i}", message_id=f"m{i}", at=T0 + i)) for i in range(3)]
    assert outcomes[2].breakdowns[0].blocked_by is BlockReason.PAIR_CAP
    assert world.state("alice").lifetime.stars == 2
    next_day = world.apply(reaction("r9", message_id="m9", at=T0 + DAY))
    assert next_day.receiver_state is not None
    assert next_day.receiver_state.lifetime.stars == 3


def test_daily_partner_limit_bounds_the_pair_table() -> None:
    config = quiet_rules(anti_gaming={"reaction_partners_per_day": 2})
    world = World(config)
    for i in range(3):
        last = world.apply(reaction(f"r{i}", receiver=f"author{i}", at=T0 + i))
    assert last.breakdowns[0].blocked_by is BlockReason.PARTNER_LIMIT
    assert len(world.state("bob").today.reactions_given_to) == 2


def test_tracked_reaction_messages_are_bounded() -> None:
    config = quiet_rules(anti_gaming={"tracked_reaction_messages": 3})
    world = World(config)
    for i in range(5):
        world.apply(reaction(f"r{i}", giver=f"g{i}", message_id=f"m{i}", at=T0 + i))
    assert list(world.state("alice").message_reactions) == ["m2", "m3", "m4"]


def test_reaction_to_member_with_no_reward_role_gives_them_nothing() -> None:
    config = quiet_rules(multipliers={"no_reward_roles": ["bot"]})
    world = World(config)
    outcome = world.apply(reaction("r1", target_roles=("bot",)))
    assert outcome.receiver_state is not None
    assert outcome.receiver_state.lifetime == Balances()
    assert outcome.state.lifetime == Balances(xp=1)


def test_reaction_removal_next_day_keeps_todays_totals() -> None:
    config = quiet_rules()
    world = World(config)
    world.apply(reaction("r1"))
    world.apply(reaction("r2", giver="carol", message_id="m2", at=T0 + DAY))
    world.apply(reaction("r3", removed=True, at=T0 + DAY + 5))
    alice = world.state("alice")
    assert alice.lifetime.stars == 1
    assert alice.today.earned.stars == 1  # yesterday's grant is not taken from today's total
    assert alice.counter(Counter.REACTIONS_RECEIVED) == 1
