"""What the pipeline passes besides the acting member's state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from townsquare.core.state import MemberState

_NO_COUNTS: Mapping[str, int] = MappingProxyType({})


def _no_counts() -> Mapping[str, int]:
    return _NO_COUNTS


@dataclass(frozen=True, slots=True)
class EventContext:
    """Other state an event's rules need.

    ``receiver`` is the state of the member reacted to (required for reaction events, whose
    outcome then carries the receiver's new state). ``earner_counts`` maps achievement id ->
    how many members have it, community-wide, before this event (for ``max_earners``); the
    pipeline updates its copy from each outcome's unlocks before the next event.
    """

    receiver: MemberState | None = None
    earner_counts: Mapping[str, int] = field(default_factory=_no_counts)


NO_CONTEXT = EventContext()
