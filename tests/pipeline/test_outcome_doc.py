"""What the lake records about an event: breakdowns round-trip, counter deltas add up."""

from __future__ import annotations

import orjson
from hypothesis import given, settings

from tests.core.test_engine_properties import CONFIGS, Step, configs, run, sequences, to_events
from townsquare.core import MemberState, render_breakdown
from townsquare.core.kinds import Counter
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
