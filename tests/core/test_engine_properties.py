"""Properties of the engine over random event sequences and configurations."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.builders import T0, World, manual, message, quiet_rules, reaction, rules, voice
from townsquare.core.community_rules import CommunityRules
from townsquare.core.context import EventContext
from townsquare.core.engine import apply
from townsquare.core.events import Event
from townsquare.core.outcomes import Outcome
from townsquare.core.state import MemberState

MEMBERS = ("alice", "bob", "carol")
ACHIEVEMENTS = [
    {
        "id": f"talk-{tier}",
        "name": "Talk",
        "series": "talk",
        "tier": tier,
        "trigger": {"type": "counter", "counter": "messages", "threshold": tier * 2},
        "reward": {"xp": 40, "gold": 3},
    }
    for tier in (1, 2, 3)
] + [
    {"id": "lvl2", "name": "L2", "trigger": {"type": "level", "level": 2}, "reward": {"xp": 5}},
    {"id": "every", "name": "E", "trigger": {"type": "level_interval", "every": 1}},
    {
        "id": "stars",
        "name": "S",
        "max_earners": 1,
        "trigger": {"type": "balance", "currency": "stars", "threshold": 2},
    },
]
CONFIGS: list[CommunityRules] = [
    rules(),
    rules(
        achievements=ACHIEVEMENTS,
        levels={"curve": {"type": "linear", "xp_per_level": 20}, "allow_level_down": True},
        anti_gaming={"daily_caps": {"xp": 60, "stars": 3, "gold": 5}, "cooldown_seconds": 10},
        seasons={"recurring": {"anchor_at": T0, "length_days": 1}},
    ),
    rules(
        multipliers={
            "channel_rules": [{"target_id": "general", "multiplier": 0}],
            "role_multipliers": {"r": 0.0},
        },
        quality={"length_tiers": []},
        anti_gaming={"daily_caps": {"xp": 0, "stars": 0, "gold": 0}, "voice_daily_cap_minutes": 0},
    ),
    quiet_rules(
        levels={"curve": {"type": "table", "thresholds": [10, 30, 70]}, "gold_per_level_up": 7},
        multipliers={"channel_rules": [{"target_id": "general", "multiplier": 2.5}]},
        anti_gaming={"max_rewarded_reactors": 3, "reaction_pair_daily_cap": 2},
    ),
]


@dataclass(frozen=True)
class Step:
    kind: str
    member: int
    other: int
    message: int
    gap: int
    amount: int
    fingerprint: int


steps = st.builds(
    Step,
    kind=st.sampled_from(["message", "message", "react", "unreact", "voice", "award", "revoke"]),
    member=st.integers(0, 2),
    other=st.integers(0, 2),
    message=st.integers(0, 2),
    gap=st.sampled_from([0, 1, 30, 3600, 86_400]),
    amount=st.integers(0, 60),
    fingerprint=st.sampled_from([0, 0xF0F0F0F0, 0xF0F0F0F3, 0x12345678ABCD]),
)


def to_events(sequence: list[Step]) -> list[Event]:
    events: list[Event] = []
    at = T0
    for index, step in enumerate(sequence):
        at += step.gap
        member, other = MEMBERS[step.member], MEMBERS[step.other]
        event_id = f"e{index}"
        if step.kind == "message":
            event = message(
                event_id, member=member, at=at, length=step.amount * 5, fingerprint=step.fingerprint
            )
        elif step.kind in ("react", "unreact"):
            event = reaction(
                event_id,
                giver=member,
                receiver=other,
                message_id=f"m{step.message}",
                at=at,
                removed=step.kind == "unreact",
            )
        elif step.kind == "voice":
            event = voice(event_id, step.amount, member=member, at=at)
        else:
            event = manual(
                event_id,
                member=member,
                at=at,
                revoke=step.kind == "revoke",
                xp=step.amount,
                gold=step.amount // 2,
                stars=step.amount // 10,
            )
        events.append(event)
    return events


def run(config: CommunityRules, events: list[Event]) -> tuple[World, list[Outcome]]:
    world = World(config)
    return world, [world.apply(event) for event in events]


sequences = st.lists(steps, min_size=1, max_size=25)
configs = st.sampled_from(range(len(CONFIGS)))


@settings(max_examples=60, deadline=None)
@given(config=configs, sequence=sequences)
def test_engine_is_deterministic(config: int, sequence: list[Step]) -> None:
    events = to_events(sequence)
    _, first = run(CONFIGS[config], events)
    _, second = run(CONFIGS[config], events)
    assert first == second


@settings(max_examples=60, deadline=None)
@given(config=configs, sequence=sequences)
def test_replaying_an_event_changes_nothing(config: int, sequence: list[Step]) -> None:
    world = World(CONFIGS[config])
    for event in to_events(sequence):
        world.apply(event)
        before = dict(world.states)
        replay = world.apply(event)
        assert world.states == before
        assert replay.ledger == ()
        assert replay.unlocks == ()


@settings(max_examples=60, deadline=None)
@given(config=configs, sequence=sequences)
def test_daily_caps_are_never_exceeded(config: int, sequence: list[Step]) -> None:
    rules_ = CONFIGS[config]
    caps = rules_.daily_caps
    world = World(rules_)
    for event in to_events(sequence):
        world.apply(event)
        for state in world.states.values():
            earned = (state.today.earned.xp, state.today.earned.stars, state.today.earned.gold)
            for value, cap in zip(earned, caps, strict=True):
                assert cap is None or value <= cap
            voice_cap = rules_.voice_daily_cap_minutes
            assert voice_cap is None or state.today.voice_minutes <= voice_cap


@settings(max_examples=60, deadline=None)
@given(config=configs, sequence=sequences)
def test_balances_never_go_negative(config: int, sequence: list[Step]) -> None:
    world, _ = run(CONFIGS[config], to_events(sequence))
    for state in world.states.values():
        for balances in (state.lifetime, state.season.balances, state.today.earned):
            assert min(balances.xp, balances.stars, balances.gold) >= 0


@settings(max_examples=60, deadline=None)
@given(config=configs, sequence=sequences)
def test_level_follows_the_curve(config: int, sequence: list[Step]) -> None:
    rules_ = CONFIGS[config]
    world, _ = run(rules_, to_events(sequence))
    for state in world.states.values():
        expected = rules_.curve.level_for(state.lifetime.xp)
        if rules_.levels.allow_level_down:
            assert state.level == expected
        else:
            assert state.level >= expected


REACTION_CONFIGS = [
    quiet_rules(anti_gaming={"max_rewarded_reactors": 3, "daily_caps": {"stars": 2, "xp": 5}}),
    rules(
        levels={"gold_per_level_up": 0},
        multipliers={"channel_rules": [{"target_id": "general", "multiplier": 1.7}]},
    ),
]


@settings(max_examples=60, deadline=None)
@given(
    config=st.sampled_from(REACTION_CONFIGS),
    sequence=st.lists(steps, max_size=15),
    giver=st.sampled_from(MEMBERS),
    receiver=st.sampled_from(MEMBERS),
)
def test_reaction_add_then_remove_nets_to_zero(
    config: CommunityRules, sequence: list[Step], giver: str, receiver: str
) -> None:
    events = to_events(sequence)
    world, _ = run(config, events)
    at = events[-1].at + 5 if events else T0
    before = {member: world.state(member) for member in (giver, receiver)}
    world.apply(reaction("add", giver=giver, receiver=receiver, message_id="new", at=at))
    world.apply(
        reaction("rm", giver=giver, receiver=receiver, message_id="new", at=at, removed=True)
    )
    for member, old in before.items():
        new = world.state(member)
        assert new.lifetime == old.lifetime
        assert new.season.balances == old.season.balances
        assert {k: v[0] for k, v in new.counters.items()} == {
            k: v[0] for k, v in old.counters.items()
        }
        if new.today.day == old.today.day:  # otherwise the day window rolled in between
            assert new.today == old.today
            assert new.counters == old.counters
    assert "new" not in world.state(receiver).message_reactions


def test_apply_does_not_mutate_its_inputs() -> None:
    config = CONFIGS[1]
    state = MemberState("alice")
    receiver = MemberState("bob")
    snapshot = (repr(state), repr(receiver))
    apply(state, config, message("e1"))
    apply(state, config, reaction("r1", giver="alice", receiver="bob"), EventContext(receiver))
    assert (repr(state), repr(receiver)) == snapshot
