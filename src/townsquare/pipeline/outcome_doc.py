"""What the event lake records about each event's result (``events.outcome``, ``metadata``).

``counters`` is the contract with retention and reconciliation: the change of every
lifetime counter the event caused, as ``[member_id, counter, delta]`` — so lifetime
counters can be rebuilt from the lake plus the rollups of dropped partitions. ``why`` keeps
the reward breakdowns compactly (defaults left out) so `/rank --explain` and the dashboard
can show how recent rewards were computed, and `decode_breakdown` gives them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from townsquare.core import Balances, BlockReason, Currency, Event, RewardBreakdown, RewardKind
from townsquare.core.balances import ZERO
from townsquare.core.explain import NEUTRAL, AppliedFactor, CapHit, QualityBreakdown
from townsquare.core.state import NO_COUNTS, MemberState

#: Lifetime counter changes: (internal member id, counter name, delta).
CounterDelta = tuple[int, str, int]


def event_metadata(event: Event) -> dict[str, Any]:
    """The event's metadata for the lake: never content, only what the rules saw."""
    doc: dict[str, Any] = {}
    if (message := event.message) is not None:
        doc["length"] = message.length
        if message.links:
            doc["links"] = message.links
        if message.code_blocks:
            doc["code_blocks"] = message.code_blocks
        if message.attachments:
            doc["attachments"] = message.attachments
        if message.emoji:
            doc["emoji"] = message.emoji
        if message.is_reply:
            doc["reply"] = True
        if message.in_thread:
            doc["thread"] = True
    if (voice := event.voice) is not None:
        doc["minutes"] = voice.minutes
        flags = [name for name in ("muted", "deafened", "alone", "afk") if getattr(voice, name)]
        if flags:
            doc["flags"] = flags
    if event.target_message_id is not None:
        doc["target_message"] = event.target_message_id
    if event.roles:
        doc["roles"] = list(event.roles)
    return doc


def counter_deltas(member_id: int, before: MemberState, after: MemberState) -> list[CounterDelta]:
    """The lifetime counter changes between two states of one member.

    Counter names are the `Counter` members themselves (string enums: JSON writes their
    values), which saves an enum ``.value`` lookup per counter on the writer's hot path.
    """
    if after.counters is before.counters:
        return []
    old = before.counters
    deltas: list[CounterDelta] = []
    for counter, counts in after.counters.items():
        change = counts[0] - old.get(counter, NO_COUNTS)[0]
        if change:
            deltas.append((member_id, counter, change))
    for counter, counts in old.items():
        if counter not in after.counters and counts[0]:
            deltas.append((member_id, counter, -counts[0]))
    return deltas


def encode_breakdown(breakdown: RewardBreakdown) -> dict[str, Any]:
    """A compact dict of a breakdown (member id as the engine saw it).

    Built once per rewarded member per event, so it avoids the work JSON does anyway:
    enums stay enums (string enums: orjson and `json` write their values) and the shared
    ``ZERO``/``NEUTRAL`` defaults are recognised by identity before comparing values.
    """
    doc: dict[str, Any] = {"m": breakdown.member_id}
    if breakdown.reward_kind is not None:
        doc["k"] = breakdown.reward_kind
    if breakdown.blocked_by is not None:
        doc["b"] = breakdown.blocked_by
    if (base := breakdown.base) is not ZERO and not base.is_zero():
        doc["base"] = [base.xp, base.stars, base.gold]
    if breakdown.units != 1:
        doc["u"] = breakdown.units
    if (channel := breakdown.channel) is not NEUTRAL and channel != NEUTRAL:
        doc["ch"] = [channel.value, channel.source]
    if (role := breakdown.role) is not NEUTRAL and role != NEUTRAL:
        doc["ro"] = [role.value, role.source]
    if (quality := breakdown.quality) is not None:
        doc["q"] = [
            quality.length_tier,
            [list(f) for f in quality.factors],
            quality.raw,
            quality.applied,
        ]
    if breakdown.diminishing_position is not None:
        doc["d"] = breakdown.diminishing_position
    if (computed := breakdown.computed) is not ZERO and not computed.is_zero():
        doc["c"] = [computed.xp, computed.stars, computed.gold]
    if breakdown.caps:
        doc["caps"] = [[hit.currency, hit.requested, hit.granted] for hit in breakdown.caps]
    if (granted := breakdown.granted) is not ZERO and not granted.is_zero():
        doc["g"] = [granted.xp, granted.stars, granted.gold]
    if breakdown.notes:
        doc["n"] = list(breakdown.notes)
    return doc


def _balances(values: list[int] | None) -> Balances:
    if values is None:
        return Balances()
    return Balances(values[0], values[1], values[2])


def decode_breakdown(doc: Mapping[str, Any]) -> RewardBreakdown:
    """The breakdown `encode_breakdown` stored (for `render_breakdown`)."""
    quality = None
    if (q := doc.get("q")) is not None:
        quality = QualityBreakdown(q[0], tuple((name, value) for name, value in q[1]), q[2], q[3])
    channel = AppliedFactor(*doc["ch"]) if "ch" in doc else NEUTRAL
    role = AppliedFactor(*doc["ro"]) if "ro" in doc else NEUTRAL
    return RewardBreakdown(
        member_id=doc["m"],
        reward_kind=RewardKind(doc["k"]) if "k" in doc else None,
        base=_balances(doc.get("base")),
        units=doc.get("u", 1),
        channel=channel,
        role=role,
        quality=quality,
        diminishing_position=doc.get("d"),
        computed=_balances(doc.get("c")),
        caps=tuple(CapHit(Currency(c), r, g) for c, r, g in doc.get("caps", ())),
        granted=_balances(doc.get("g")),
        blocked_by=BlockReason(doc["b"]) if "b" in doc else None,
        notes=tuple(doc.get("n", ())),
    )
