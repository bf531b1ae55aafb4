"""What the event lake records about each event's result (``events.outcome``, ``metadata``).

``counters`` is the contract with retention and reconciliation: the change of every
lifetime counter the event caused, as ``[member_id, counter, delta]`` — so lifetime
counters can be rebuilt from the lake plus the rollups of dropped partitions. ``why`` keeps
the reward breakdowns compactly (positional arrays, defaults left out: `encode_breakdown`)
so `/rank --explain` and the dashboard can show how recent rewards were computed, and
`decode_breakdown` gives them back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
        if not message.text_known:
            doc["text_known"] = False
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


#: Positions in an encoded breakdown (``why`` entries); trailing defaults are left out.
MEMBER, KIND, BLOCKED, BASE, UNITS, CHANNEL, ROLE, QUALITY, POSITION = range(9)
COMPUTED, CAPS, GRANTED, NOTES = range(9, 13)
_FIELDS = 13


def _amounts(value: Balances) -> list[int] | None:
    """``[xp, stars, gold]``, or None for zero."""
    if value is ZERO or not (value.xp or value.stars or value.gold):
        return None
    return [value.xp, value.stars, value.gold]


def _relative(value: Balances, reference: Balances) -> list[int] | int | None:
    """None when ``value`` equals ``reference`` (the common case), 0 when zero, else a list."""
    if value is reference or (
        value.xp == reference.xp and value.stars == reference.stars and value.gold == reference.gold
    ):
        return None
    if not (value.xp or value.stars or value.gold):
        return 0
    return [value.xp, value.stars, value.gold]


def encode_breakdown(breakdown: RewardBreakdown) -> list[Any]:
    """A breakdown as a positional JSON array (member id as the engine saw it).

    ``[member, kind, blocked_by, base, units, channel, role, quality, diminishing position,
    computed, caps, granted, notes]`` with null for a default and trailing nulls left out:
    a rewarded message is ``[member, "message", null, [15, 0, 1], null, null, null,
    [20, ["length>=20", 10000], 10000]]``. ``computed`` is null when it equals ``base`` and
    ``granted`` when it equals ``computed`` (0 means zero); quality is ``[tier, [name,
    value, …], raw]`` plus ``applied`` when the clamp changed it; caps are flat
    ``[currency, requested, granted, …]``. An array is cheaper than an object to build
    here and for PostgreSQL to parse into JSONB and store (no keys), and it is one entry
    per rewarded member of nearly every event. `decode_breakdown` reads it back, and reads
    the object form events were stored with before.

    Enums stay enums (string enums: orjson and `json` write their values), and the shared
    ``ZERO``/``NEUTRAL`` defaults are recognised by identity before comparing values.
    """
    base = breakdown.base
    computed = breakdown.computed
    channel = breakdown.channel
    role = breakdown.role
    quality = breakdown.quality
    q: list[Any] | None = None
    if quality is not None:
        q = [quality.length_tier, [part for factor in quality.factors for part in factor]]
        q.append(quality.raw)
        if quality.applied != quality.raw:
            q.append(quality.applied)
    caps = breakdown.caps
    doc: list[Any] = [
        breakdown.member_id,
        breakdown.reward_kind,
        breakdown.blocked_by,
        _amounts(base),
        None if breakdown.units == 1 else breakdown.units,
        None if channel is NEUTRAL or channel == NEUTRAL else [channel.value, channel.source],
        None if role is NEUTRAL or role == NEUTRAL else [role.value, role.source],
        q,
        breakdown.diminishing_position,
        _relative(computed, base),
        [part for hit in caps for part in (hit.currency, hit.requested, hit.granted)]
        if caps
        else None,
        _relative(breakdown.granted, computed),
        list(breakdown.notes) if breakdown.notes else None,
    ]
    while doc[-1] is None:
        doc.pop()
    return doc


def _balances(values: list[int] | None) -> Balances:
    if not values:
        return ZERO
    return Balances(values[0], values[1], values[2])


def _from(values: list[int] | int | None, reference: Balances) -> Balances:
    if values is None:
        return reference
    if isinstance(values, int):  # 0: zero
        return ZERO
    return _balances(values)


def decode_breakdown(doc: Sequence[Any] | Mapping[str, Any]) -> RewardBreakdown:
    """The breakdown `encode_breakdown` stored (for `render_breakdown`)."""
    if isinstance(doc, Mapping):
        return _decode_object(doc)
    f = [*doc, *([None] * (_FIELDS - len(doc)))]
    quality = None
    if (q := f[QUALITY]) is not None:
        names, values = q[1][::2], q[1][1::2]
        applied = q[3] if len(q) > 3 else q[2]
        quality = QualityBreakdown(q[0], tuple(zip(names, values, strict=True)), q[2], applied)
    base = _balances(f[BASE])
    computed = _from(f[COMPUTED], base)
    caps = f[CAPS] or ()
    return RewardBreakdown(
        member_id=f[MEMBER],
        reward_kind=None if f[KIND] is None else RewardKind(f[KIND]),
        base=base,
        units=1 if f[UNITS] is None else f[UNITS],
        channel=NEUTRAL if f[CHANNEL] is None else AppliedFactor(*f[CHANNEL]),
        role=NEUTRAL if f[ROLE] is None else AppliedFactor(*f[ROLE]),
        quality=quality,
        diminishing_position=f[POSITION],
        computed=computed,
        caps=tuple(
            CapHit(Currency(caps[i]), caps[i + 1], caps[i + 2]) for i in range(0, len(caps), 3)
        ),
        granted=_from(f[GRANTED], computed),
        blocked_by=None if f[BLOCKED] is None else BlockReason(f[BLOCKED]),
        notes=tuple(f[NOTES] or ()),
    )


def _decode_object(doc: Mapping[str, Any]) -> RewardBreakdown:
    """A breakdown stored as an object (events written before the positional form)."""
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
