"""`fast_init` changes how frozen value objects are built, never what they are."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Mapping
from types import MappingProxyType

import pytest

from townsquare.core.balances import Balances
from townsquare.core.events import Event, ManualMeta, MessageMeta, VoiceMeta
from townsquare.core.explain import RewardBreakdown
from townsquare.core.fast_init import direct_constructor, fast_init
from townsquare.core.kinds import Currency, EventKind, Platform, RewardKind
from townsquare.core.outcomes import LedgerEntry, LedgerReason
from townsquare.core.state import DayWindow, MemberState, Streak


def _empty() -> Mapping[str, int]:
    return MappingProxyType({})


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """A required field, a default and a default factory."""

    name: str
    count: int = 3
    extra: Mapping[str, int] = dataclasses.field(default_factory=_empty)


def test_positional_keyword_and_default_construction() -> None:
    assert Sample("a", 5) == Sample(name="a", count=5) == Sample(count=5, name="a")
    assert Sample("a").count == 3
    assert Sample("a").extra == {}
    assert Sample("a", extra={"x": 1}).extra == {"x": 1}
    assert Balances(gold=5) == Balances(0, 0, 5)
    assert type(Sample("a")) is Sample
    assert isinstance(Balances(), Balances)


def test_missing_and_unknown_arguments_are_errors() -> None:
    with pytest.raises(TypeError):
        Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Sample("a", colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Balances(1, 2, 3, 4)  # type: ignore[call-arg]


def test_assignment_and_deletion_raise() -> None:
    balances = Balances(1, 2, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        balances.xp = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del balances.gold
    with pytest.raises((AttributeError, TypeError)):
        balances.other = 1  # type: ignore[attr-defined]
    assert balances == Balances(1, 2, 3)


def _equal(left: object, right: object) -> bool:
    return left == right


def test_equal_by_value_only_to_the_same_class() -> None:
    assert Balances(1, 2, 3) == Balances(1, 2, 3)
    assert Balances(1, 2, 3) != Balances(1, 2, 4)
    assert not _equal(Balances(1, 2, 3), (1, 2, 3))
    assert not _equal((1, 2, 3), Balances(1, 2, 3))
    assert not _equal(Balances(1, 2, 3), Streak(1, 2, 3))  # same values, other class
    assert not _equal(Balances(1, 2, 3), [1, 2, 3])


def test_hash_follows_equality() -> None:
    assert hash(Balances(1, 2, 3)) == hash(Balances(1, 2, 3))
    assert len({Balances(1, 2, 3), Balances(1, 2, 3), Balances(3, 2, 1)}) == 2
    entry = LedgerEntry("m", Currency.XP, 5, 5, "s1", LedgerReason.ACTIVITY, "e1")
    assert {entry: 1}[LedgerEntry("m", Currency.XP, 5, 5, "s1", LedgerReason.ACTIVITY, "e1")]


def test_repr_is_the_dataclass_repr() -> None:
    assert repr(Balances(1, 2, 3)) == "Balances(xp=1, stars=2, gold=3)"
    assert repr(Sample("a", 4, {})) == "Sample(name='a', count=4, extra={})"


def test_dataclass_introspection_and_replace_still_work() -> None:
    assert [field.name for field in dataclasses.fields(Balances)] == ["xp", "stars", "gold"]
    assert dataclasses.replace(Balances(1, 2, 3), stars=9) == Balances(1, 9, 3)
    assert dataclasses.asdict(Balances(1, 2, 3)) == {"xp": 1, "stars": 2, "gold": 3}
    state = MemberState("m")
    assert dataclasses.replace(state, level=4) == MemberState("m", level=4)
    assert Balances.__match_args__ == ("xp", "stars", "gold")


def test_pickle_and_copy_round_trip() -> None:
    entry = LedgerEntry("m", Currency.GOLD, -2, 0, None, LedgerReason.MANUAL_REVOKE, "e9")
    breakdown = RewardBreakdown("m", RewardKind.MESSAGE, Balances(1), granted=Balances(1))
    state = MemberState("m", 3, Balances(1, 2, 3), today=DayWindow(4, reactions_given_to={}))
    state = dataclasses.replace(state, counters={}, message_reactions={})
    for value in (Balances(1, 2, 3), entry, breakdown, state, Sample("a", 1, {"b": 2})):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            restored = pickle.loads(pickle.dumps(value, protocol))
            assert restored == value
            assert type(restored) is type(value)
        assert copy.copy(value) == value
        assert copy.deepcopy(value) == value


def test_only_final_slotted_dataclasses_are_accepted() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        value: int

    with pytest.raises(TypeError):
        fast_init(NoSlots)

    class NotADataclass:
        __slots__ = ("value",)

    with pytest.raises(TypeError):
        fast_init(NotADataclass)


def test_direct_constructor_builds_the_same_objects_as_the_class() -> None:
    build = direct_constructor(Sample)
    assert build("a") == Sample("a")
    assert build("a", 4, {"x": 1}) == Sample("a", 4, {"x": 1})
    assert build(count=2, name="b") == Sample("b", 2)
    assert type(build("a")) is Sample
    assert isinstance(build("a").extra, MappingProxyType)  # the default factory ran
    built = direct_constructor(Balances)(1, 2)
    assert built == Balances(1, 2)
    assert repr(built) == "Balances(xp=1, stars=2, gold=0)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.xp = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        direct_constructor(Balances)(1, 2, 3, 4)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        build()  # type: ignore[call-arg]


def test_events_keep_keyword_construction_and_replace() -> None:
    event = Event(
        event_id="e1",
        kind=EventKind.VOICE_SEGMENT,
        platform=Platform.DISCORD,
        community_id="c",
        member_id="m",
        at=10,
        voice=VoiceMeta(minutes=5),
        manual=ManualMeta(Balances(1)),
        message=MessageMeta(length=3),
    )
    voice = VoiceMeta(minutes=5)
    moved = dataclasses.replace(event, at=20, voice=dataclasses.replace(voice, afk=True))
    assert moved.at == 20
    assert moved.voice == VoiceMeta(5, afk=True)
    assert moved.message is event.message
    assert dataclasses.replace(moved, at=10, voice=VoiceMeta(5)) == event
    assert pickle.loads(pickle.dumps(event)) == event
