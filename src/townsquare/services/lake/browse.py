"""Browsing a community's event lake: metadata and reward breakdowns, newest first.

Keyset pagination over the events table's own primary-key order ``(occurred_at, id)``:
each partition's primary-key index answers "the next page before this point" directly,
however deep an admin pages, and events arriving meanwhile do not shift the pages. The
cursor is opaque to clients (base64 of the last row's key) so the key can change later.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Row, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.core.explain import render_breakdown
from townsquare.core.fixed_point import to_float
from townsquare.pipeline.outcome_doc import decode_breakdown
from townsquare.services.lake.schemas import (
    Amounts,
    CapHitOut,
    CounterDeltaOut,
    LakeEventOut,
    LakeFilters,
    LakePage,
    LakeQueryInvalid,
    RewardBreakdownOut,
)
from townsquare.store.models import Event

log = structlog.get_logger(__name__)

#: Most events one page returns; larger requests get this many (the cursor continues).
MAX_PAGE = 200
#: The metadata keys the writer records (`pipeline.outcome_doc.event_metadata`); anything
#: else in an old row is left out, so the API can never echo something it should not.
_METADATA_KEYS = frozenset(
    {
        "length",
        "links",
        "code_blocks",
        "attachments",
        "emoji",
        "reply",
        "thread",
        "minutes",
        "flags",
        "target_message",
        "roles",
    }
)
_COLUMNS = (
    Event.id,
    Event.occurred_at,
    Event.received_at,
    Event.platform,
    Event.platform_event_id,
    Event.kind,
    Event.channel_id,
    Event.member_id,
    Event.target_member_id,
    Event.metadata_,
    Event.status,
    Event.outcome,
)


async def browse_events(
    session: AsyncSession,
    community_id: int,
    filters: LakeFilters | None = None,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> LakePage:
    """One page of a community's events, newest first, matching every filter given."""
    size = max(1, min(limit, MAX_PAGE))
    wanted = filters or LakeFilters()
    query = select(*_COLUMNS).where(Event.community_id == community_id)
    if wanted.kind is not None:
        query = query.where(Event.kind == wanted.kind.value)
    if wanted.member_id is not None:
        query = query.where(Event.member_id == wanted.member_id)
    if wanted.channel_id is not None:
        query = query.where(Event.channel_id == wanted.channel_id)
    if wanted.status is not None:
        query = query.where(Event.status == wanted.status)
    if wanted.since is not None:
        query = query.where(Event.occurred_at >= wanted.since)
    if wanted.until is not None:
        query = query.where(Event.occurred_at < wanted.until)
    if cursor is not None:
        at, event_id = decode_cursor(cursor)
        query = query.where(tuple_(Event.occurred_at, Event.id) < tuple_(at, event_id))
    query = query.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(size + 1)
    rows = (await session.execute(query)).all()
    events = [_event(row) for row in rows[:size]]
    last = events[-1] if len(rows) > size else None
    return LakePage(
        events=events,
        next_cursor=None if last is None else encode_cursor(last.occurred_at, last.id),
    )


def encode_cursor(occurred_at: datetime, event_id: int) -> str:
    raw = f"{occurred_at.isoformat()}|{event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The key a cursor stands for; `LakeQueryInvalid` for anything we did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, event_id = raw.partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("naive time")
        return when, int(event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise LakeQueryInvalid(
            "The cursor is not one this API issued; start again without it."
        ) from None


def _event(row: Row[Any]) -> LakeEventOut:
    outcome: dict[str, Any] = row.outcome or {}
    metadata = row.metadata_ or {}
    return LakeEventOut(
        id=row.id,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        platform=row.platform,
        platform_event_id=row.platform_event_id,
        kind=row.kind,
        channel_id=row.channel_id,
        member_id=row.member_id,
        target_member_id=row.target_member_id,
        status=row.status,
        metadata={key: value for key, value in metadata.items() if key in _METADATA_KEYS},
        breakdowns=_breakdowns(row.id, outcome.get("why")),
        counters=[
            CounterDeltaOut(member_id=int(item[0]), counter=str(item[1]), delta=int(item[2]))
            for item in outcome.get("counters") or []
        ],
        blocked_by=outcome.get("blocked_by"),
        error=outcome.get("error"),
    )


def _breakdowns(event_id: int, docs: Any) -> list[RewardBreakdownOut]:
    """The stored breakdowns; one that no longer decodes is logged and left out, so a
    single odd row cannot make a whole page fail."""
    found: list[RewardBreakdownOut] = []
    for doc in docs or []:
        try:
            breakdown = decode_breakdown(doc)
        except (KeyError, ValueError, TypeError, IndexError):
            log.warning("lake_breakdown_undecodable", event=event_id)
            continue
        quality = breakdown.quality
        found.append(
            RewardBreakdownOut(
                member_id=str(breakdown.member_id),
                reward_kind=None if breakdown.reward_kind is None else breakdown.reward_kind.value,
                base=_amounts(breakdown.base),
                units=breakdown.units,
                channel_multiplier=breakdown.channel.as_float,
                channel_source=breakdown.channel.source,
                role_multiplier=breakdown.role.as_float,
                role_source=breakdown.role.source,
                quality_multiplier=None if quality is None else to_float(quality.applied),
                diminishing_position=breakdown.diminishing_position,
                computed=_amounts(breakdown.computed),
                caps=[
                    CapHitOut(
                        currency=cap.currency.value, requested=cap.requested, granted=cap.granted
                    )
                    for cap in breakdown.caps
                ],
                granted=_amounts(breakdown.granted),
                blocked_by=None if breakdown.blocked_by is None else breakdown.blocked_by.value,
                notes=list(breakdown.notes),
                explanation=render_breakdown(breakdown),
            )
        )
    return found


def _amounts(balances: Any) -> Amounts:
    return Amounts(xp=balances.xp, stars=balances.stars, gold=balances.gold)
