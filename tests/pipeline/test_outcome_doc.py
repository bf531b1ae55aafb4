"""What the lake records about an event: breakdowns round-trip, counter deltas add up."""

from __future__ import annotations

import orjson
from hypothesis import given, settings

from tests.core.test_engine_properties import CONFIGS, Step, configs, run, sequences, to_events
from townsquare.core import MemberState, render_breakdown
from townsquare.core.balances import Balances
from townsquare.core.explain import (
    AppliedFactor,
    BlockReason,
    CapHit,
    QualityBreakdown,
    RewardBreakdown,
)
from townsquare.core.kinds import Counter, Currency, RewardKind
from townsquare.pipeline.outcome_doc import (
    counter_deltas,
    decode_breakdown,
    encode_breakdown,
    event_metadata,
)


@settings(max_examples=60, deadline=None)
@given(config=configs, sequence=sequences)
def test_every_breakdown_survives_the_lake(config: int, sequence: list[Step]) -> None:
    _, outcomes = run(CONFIGS[config], to_events(sequence))
    for outcome in outcomes:
        for breakdown in outcome.breakdowns:
            stored = orjson.loads(orjson.dumps(encode_breakdown(breakdown)))
            restored = decode_breakdown(stored)
            assert restored == breakdown
            assert render_breakdown(restored) == render_breakdown(breakdown)


@settings(max_examples=60, deadline=None)
@given(config=configs, sequence=sequences)
def test_counter_deltas_sum_to_the_lifetime_counters(config: int, sequence: list[Step]) -> None:
    events = to_events(sequence)
    world, _ = run(CONFIGS[config], [])
    totals: dict[tuple[str, str], int] = {}
    for event in events:
        touched = {event.member_id, event.target_member_id} - {None}
        before = {m: world.state(m) for m in touched if m is not None}
        world.apply(event)
        for member, old in before.items():
            for _, name, delta in counter_deltas(0, old, world.state(member)):
                totals[(member, name)] = totals.get((member, name), 0) + delta
    for member, state in world.states.items():
        for counter in Counter:
            assert totals.get((member, counter.value), 0) == state.counter(counter)


def test_unchanged_state_has_no_deltas() -> None:
    state = MemberState("1")
    assert counter_deltas(1, state, state) == []


def test_metadata_never_holds_content() -> None:
    event = to_events([Step("message", 0, 0, 0, 0, 30, 0xF0F0F0F0)])[0]
    doc = event_metadata(event)
    assert doc["length"] == 150
    assert "fingerprint" not in doc
    assert all(not isinstance(value, str) or len(value) < 20 for value in doc.values())


def _rewarded_message() -> RewardBreakdown:
    return RewardBreakdown(
        member_id="5919",
        reward_kind=RewardKind.MESSAGE,
        base=Balances(15, 0, 1),
        role=AppliedFactor(11_000, "role regular"),
        quality=QualityBreakdown(20, (("length>=20", 10_000),), 10_000, 10_000),
        computed=Balances(16, 0, 1),
        granted=Balances(16, 0, 1),
    )


def test_a_breakdown_is_stored_as_a_positional_array_without_trailing_defaults() -> None:
    assert orjson.loads(orjson.dumps(encode_breakdown(_rewarded_message()))) == [
        "5919",
        "message",
        None,
        [15, 0, 1],
        None,
        None,
        [11_000, "role regular"],
        [20, ["length>=20", 10_000], 10_000],
        None,
        [16, 0, 1],
    ]
    blocked = RewardBreakdown(
        member_id="7",
        reward_kind=RewardKind.MESSAGE,
        base=Balances(15, 0, 1),
        blocked_by=BlockReason.COOLDOWN,
        granted=Balances(),
    )
    assert orjson.loads(orjson.dumps(encode_breakdown(blocked))) == [
        "7",
        "message",
        "cooldown",
        [15, 0, 1],
        None,
        None,
        None,
        None,
        None,
        0,
    ]


def test_a_cap_and_a_clamped_quality_round_trip() -> None:
    capped = RewardBreakdown(
        member_id="692",
        reward_kind=RewardKind.MESSAGE,
        base=Balances(15, 0, 1),
        quality=QualityBreakdown(0, (("length>=0", 5_000), ("links", 30_000)), 15_000, 12_000),
        computed=Balances(7, 0, 0),
        caps=(CapHit(Currency.XP, 7, 0),),
        granted=Balances(0, 0, 0),
        notes=("first message of the day",),
    )
    assert decode_breakdown(orjson.loads(orjson.dumps(encode_breakdown(capped)))) == capped


def test_breakdowns_stored_as_objects_by_earlier_versions_still_decode() -> None:
    stored = orjson.loads(
        '{"c": [16, 0, 1], "g": [16, 0, 1], "k": "message", "m": "5919", '
        '"q": [20, [["length>=20", 10000]], 10000, 10000], "ro": [11000, "role regular"], '
        '"base": [15, 0, 1]}'
    )
    assert decode_breakdown(stored) == _rewarded_message()
    capped = orjson.loads(
        '{"c": [7, 0, 0], "k": "message", "m": "692", "q": [0, [["length>=0", 5000]], '
        '5000, 5000], "base": [15, 0, 1], "caps": [["xp", 7, 0]]}'
    )
    assert decode_breakdown(capped).caps == (CapHit(Currency.XP, 7, 0),)
    assert decode_breakdown(capped).granted == Balances()
