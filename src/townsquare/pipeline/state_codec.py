"""`townsquare.core.MemberState` to and from the JSON stored in ``member_states.state``.

Positional arrays with one-letter keys keep a state of a busy member around half a
kilobyte, so the writer can load and store thousands per batch. ``FORMAT`` is stored
beside the document; a later change of shape bumps it and keeps a reader for the old one.
The member id is the row's key and is not repeated inside the document.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from townsquare.core import Balances, Counter, MemberState
from townsquare.core.state import DayWindow, ReactionGrant, SeasonStats, Streak

FORMAT = 1

_COUNTERS = {counter.value: counter for counter in Counter}


class StateFormatError(ValueError):
    """A stored state document cannot be read (unknown format or damaged)."""


def _balances(value: Balances) -> list[int]:
    return [value.xp, value.stars, value.gold]


def _grant(grant: ReactionGrant) -> list[Any]:
    return [
        _balances(grant.receiver),
        _balances(grant.giver),
        grant.day,
        grant.season_id,
        grant.live,
    ]


def encode_state(state: MemberState) -> dict[str, Any]:
    """The JSON document for a state (without its member id)."""
    today = state.today
    season = state.season
    doc: dict[str, Any] = {
        "l": state.level,
        "b": _balances(state.lifetime),
        "s": [season.season_id, *_balances(season.balances)],
        "d": [
            today.day,
            *_balances(today.earned),
            today.voice_minutes,
            dict(today.reactions_given_to),
        ],
        "c": {counter.value: list(counts) for counter, counts in state.counters.items()},
        "k": [state.streak.last_active_day, state.streak.current, state.streak.best],
    }
    if state.last_rewarded_at is not None:
        doc["r"] = state.last_rewarded_at
    if state.recent_fingerprints:
        doc["f"] = list(state.recent_fingerprints)
    if state.recent_event_ids:
        doc["e"] = list(state.recent_event_ids)
    if state.joined_at is not None:
        doc["j"] = state.joined_at
    if state.achievements:
        doc["a"] = sorted(state.achievements)
    if state.message_reactions:
        doc["m"] = [
            [message_id, [[giver, *_grant(grant)] for giver, grant in givers.items()]]
            for message_id, givers in state.message_reactions.items()
        ]
    return doc


def _read_balances(values: list[int]) -> Balances:
    xp, stars, gold = values
    return Balances(int(xp), int(stars), int(gold))


def _frozen(mapping: dict[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(mapping)


def decode_state(member_id: str, doc: Mapping[str, Any], fmt: int = FORMAT) -> MemberState:
    """The state a document describes; `StateFormatError` when it cannot be read."""
    if fmt != FORMAT:
        raise StateFormatError(
            f"member state format {fmt} is not known (this build reads {FORMAT})"
        )
    try:
        season = doc["s"]
        day = doc["d"]
        streak = doc["k"]
        reactions: dict[str, Mapping[str, ReactionGrant]] = {}
        for message_id, givers in doc.get("m", ()):
            reactions[message_id] = _frozen(
                {
                    giver: ReactionGrant(
                        _read_balances(receiver), _read_balances(given), day_, season_id, live
                    )
                    for giver, receiver, given, day_, season_id, live in givers
                }
            )
        return MemberState(
            member_id=member_id,
            level=int(doc["l"]),
            lifetime=_read_balances(doc["b"]),
            season=SeasonStats(season[0], _read_balances(season[1:4])),
            today=DayWindow(
                int(day[0]), _read_balances(day[1:4]), int(day[4]), _frozen(dict(day[5]))
            ),
            counters=_frozen(
                {
                    _COUNTERS[name]: (counts[0], counts[1], counts[2])
                    for name, counts in doc["c"].items()
                }
            ),
            last_rewarded_at=doc.get("r"),
            recent_fingerprints=tuple(doc.get("f", ())),
            recent_event_ids=tuple(doc.get("e", ())),
            streak=Streak(int(streak[0]), int(streak[1]), int(streak[2])),
            joined_at=doc.get("j"),
            achievements=frozenset(doc.get("a", ())),
            message_reactions=_frozen(reactions),
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise StateFormatError(f"member state {member_id} is damaged: {exc!r}") from exc
