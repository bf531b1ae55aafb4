"""Member states survive the trip through JSON unchanged, and damage is reported clearly."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from tests.core.test_engine_properties import CONFIGS, Step, configs, run, sequences, to_events
from townsquare.core import MemberState
from townsquare.pipeline.state_codec import FORMAT, StateFormatError, decode_state, encode_state


def _round_trip(state: MemberState) -> MemberState:
    stored = json.loads(json.dumps(encode_state(state)))
    return decode_state(state.member_id, stored)


def test_a_fresh_state_round_trips() -> None:
    assert _round_trip(MemberState("42")) == MemberState("42")


@settings(max_examples=80, deadline=None)
@given(config=configs, sequence=sequences)
def test_every_state_the_engine_produces_round_trips(config: int, sequence: list[Step]) -> None:
    world, _ = run(CONFIGS[config], to_events(sequence))
    for state in world.states.values():
        restored = _round_trip(state)
        assert restored == state
        # The restored state behaves the same: applying more events gives equal outcomes.
        assert encode_state(restored) == encode_state(state)


def test_a_reaction_grant_keeps_the_order_of_messages() -> None:
    world, _ = run(CONFIGS[0], to_events([Step("react", 0, 1, m, 30, 0, 0) for m in (2, 0, 1)]))
    receiver = world.states["bob"]
    assert list(_round_trip(receiver).message_reactions) == list(receiver.message_reactions)


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(StateFormatError, match=f"format {FORMAT + 1} is not known"):
        decode_state("1", encode_state(MemberState("1")), FORMAT + 1)


@pytest.mark.parametrize(
    "damage",
    [
        lambda doc: doc.pop("b"),
        lambda doc: doc.update(b=[1, 2]),
        lambda doc: doc.update(c={"no-such-counter": [1, 1, 1]}),
        lambda doc: doc.update(d="yesterday"),
    ],
)
def test_a_damaged_document_is_a_clear_error(damage: object) -> None:
    doc = encode_state(MemberState("7"))
    damage(doc)  # type: ignore[operator]
    with pytest.raises(StateFormatError, match="member state 7 is damaged"):
        decode_state("7", doc)
