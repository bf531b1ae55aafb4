"""SQL of the durable webhook inbox: store, claim, finish, release, measure, expire.

Why a table and not a queue in memory: a webhook is acknowledged only after its events are
here, so a crash between the acknowledgement and the processing loses nothing. Workers in
any number of processes share the table:

- ``claim_due`` takes due events with ``FOR UPDATE SKIP LOCKED`` (workers never wait for
  each other) and only the oldest open event of each ordering key, so one chat's events are
  handled one at a time, in the order they arrived, across processes.
- A claimed event is ``processing`` and its ``next_attempt_at`` is the claimer's lease: a
  worker that dies leaves it due again when the lease runs out. The lease value is also a
  fencing token: ``finish``/``renew_leases``/``release`` change a row only while it still
  holds the value the worker was given, so a worker whose lease was taken over cannot
  overwrite the new owner's outcome.

Everything is scoped by ``platform`` and keyed by ``(community_id, id)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import BigInteger, Boolean, DateTime, String, Text

Database = AsyncConnection | AsyncSession
Outcome = Literal["done", "retry", "dead"]
#: ``last_error`` is for operators; a long exception text is cut to this.
MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class NewInboxEvent:
    """One verified webhook event, ready to store."""

    community_id: int
    channel_key: str
    webhook_event_id: str
    ordering_key: str
    event_type: str
    payload: dict[str, Any]
    is_redelivery: bool


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """An event a worker now holds until ``lease`` (its fencing token)."""

    community_id: int
    id: int
    channel_key: str
    webhook_event_id: str
    ordering_key: str
    event_type: str
    payload: dict[str, Any] | None
    is_redelivery: bool
    attempts: int  # failed attempts so far, a lease that expired counted as one
    received_at: datetime
    lease: datetime
    lease_expired: bool  # a previous claimer died (or stalled) holding it


@dataclass(frozen=True, slots=True)
class InboxDepth:
    pending: int
    processing: int
    dead: int
    oldest_pending_seconds: float | None


_INSERT = text(
    "INSERT INTO webhook_inbox (community_id, platform, channel_key, webhook_event_id, "
    "ordering_key, event_type, payload, is_redelivery) "
    "SELECT c, :platform, k, e, o, t, p::jsonb, r FROM unnest(:c, :k, :e, :o, :t, :p, :r) "
    "WITH ORDINALITY AS n(c, k, e, o, t, p, r, position) ORDER BY position "
    "ON CONFLICT (community_id, platform, webhook_event_id) DO NOTHING RETURNING id"
).bindparams(
    bindparam("c", type_=ARRAY(BigInteger())),
    bindparam("k", type_=ARRAY(String())),
    bindparam("e", type_=ARRAY(String())),
    bindparam("o", type_=ARRAY(String())),
    bindparam("t", type_=ARRAY(String())),
    bindparam("p", type_=ARRAY(Text())),  # JSON text: orjson is much faster than the driver
    bindparam("r", type_=ARRAY(Boolean())),
)


async def insert_events(db: Database, platform: str, events: Sequence[NewInboxEvent]) -> int:
    """Store ``events`` in one statement, in order; ones already stored (same
    ``webhook_event_id`` in the community) are skipped. Returns how many were new."""
    if not events:
        return 0
    rows = await db.execute(
        _INSERT,
        {
            "platform": platform,
            "c": [e.community_id for e in events],
            "k": [e.channel_key for e in events],
            "e": [e.webhook_event_id for e in events],
            "o": [e.ordering_key for e in events],
            "t": [e.event_type for e in events],
            "p": [orjson.dumps(e.payload).decode() for e in events],
            "r": [e.is_redelivery for e in events],
        },
    )
    return len(rows.all())


_CLAIM = text(
    """
    WITH picked AS (
        SELECT c.community_id, c.id, c.status AS was
        FROM webhook_inbox c
        WHERE c.platform = :platform AND c.status IN ('pending', 'processing')
          AND c.next_attempt_at <= now()
          AND c.ordering_key <> ALL(:busy)
          AND NOT EXISTS (
              SELECT 1 FROM webhook_inbox e
              WHERE e.community_id = c.community_id AND e.platform = c.platform
                AND e.ordering_key = c.ordering_key AND e.status IN ('pending', 'processing')
                AND e.id < c.id)
        ORDER BY c.next_attempt_at, c.id
        LIMIT :limit
        FOR UPDATE OF c SKIP LOCKED
    )
    UPDATE webhook_inbox w
    SET status = 'processing',
        attempts = w.attempts + CASE WHEN picked.was = 'processing' THEN 1 ELSE 0 END,
        last_error = CASE WHEN picked.was = 'processing'
                          THEN 'LeaseExpired: its worker stopped before finishing'
                          ELSE w.last_error END,
        next_attempt_at = now() + make_interval(secs => :lease_seconds)
    FROM picked
    WHERE w.community_id = picked.community_id AND w.id = picked.id
    RETURNING w.community_id, w.id, w.channel_key, w.webhook_event_id, w.ordering_key,
              w.event_type, w.payload, w.is_redelivery, w.attempts, w.received_at,
              w.next_attempt_at, picked.was = 'processing' AS lease_expired
    """
).bindparams(bindparam("busy", type_=ARRAY(String())))


async def claim_due(
    db: Database, platform: str, limit: int, lease_seconds: float, busy: Sequence[str] = ()
) -> list[ClaimedEvent]:
    """Up to ``limit`` due events, each the oldest open one of its ordering key and none of
    the keys in ``busy`` (held by the caller), leased for ``lease_seconds``; oldest due first.
    Call inside a transaction and commit at once (the row locks end with it)."""
    if limit <= 0:
        return []
    rows = await db.execute(
        _CLAIM,
        {"platform": platform, "limit": limit, "lease_seconds": lease_seconds, "busy": list(busy)},
    )
    claimed = [
        ClaimedEvent(
            community_id=int(row.community_id),
            id=int(row.id),
            channel_key=str(row.channel_key),
            webhook_event_id=str(row.webhook_event_id),
            ordering_key=str(row.ordering_key),
            event_type=str(row.event_type),
            payload=row.payload,
            is_redelivery=bool(row.is_redelivery),
            attempts=int(row.attempts),
            received_at=row.received_at,
            lease=row.next_attempt_at,
            lease_expired=bool(row.lease_expired),
        )
        for row in rows
    ]
    claimed.sort(key=lambda event: event.id)
    return claimed


_LEASE = bindparam("lease", type_=DateTime(timezone=True))
_FINISH_SQL = {
    "done": text(
        "UPDATE webhook_inbox SET status = 'done', payload = NULL, processed_at = now() "
        "WHERE community_id = :c AND id = :i AND status = 'processing' "
        "AND next_attempt_at = :lease"
    ).bindparams(_LEASE),
    "retry": text(
        "UPDATE webhook_inbox SET status = 'pending', attempts = attempts + 1, "
        "last_error = :error, next_attempt_at = now() + make_interval(secs => :delay) "
        "WHERE community_id = :c AND id = :i AND status = 'processing' "
        "AND next_attempt_at = :lease"
    ).bindparams(_LEASE),
    "dead": text(
        "UPDATE webhook_inbox SET status = 'dead', attempts = attempts + :counted, "
        "last_error = :error, processed_at = now() "
        "WHERE community_id = :c AND id = :i AND status = 'processing' "
        "AND next_attempt_at = :lease"
    ).bindparams(_LEASE),
}


async def finish(
    db: Database,
    claimed: ClaimedEvent,
    lease: datetime,
    outcome: Outcome,
    *,
    error: str | None = None,
    delay_seconds: float = 0.0,
    count_attempt: bool = True,
) -> bool:
    """Record what became of a claimed event: ``done`` (payload cleared: it is personal
    data), ``retry`` after ``delay_seconds`` or ``dead``; the last two count a failed
    attempt (``dead`` only if ``count_attempt``: an event dead-lettered without running
    was not attempted). False when the lease was lost (someone else holds the event now)."""
    params: dict[str, Any] = {"c": claimed.community_id, "i": claimed.id, "lease": lease}
    if outcome != "done":
        params["error"] = (error or "")[:MAX_ERROR_CHARS]
    if outcome == "retry":
        params["delay"] = delay_seconds
    if outcome == "dead":
        params["counted"] = int(count_attempt)
    result = await db.execute(_FINISH_SQL[outcome], params)
    return bool(getattr(result, "rowcount", 0))


_HELD_PARAMS = (
    bindparam("c", type_=ARRAY(BigInteger())),
    bindparam("i", type_=ARRAY(BigInteger())),
    bindparam("lease", type_=ARRAY(DateTime(timezone=True))),
)
_RENEW = text(
    "UPDATE webhook_inbox w SET next_attempt_at = now() + make_interval(secs => :seconds) "
    "FROM unnest(:c, :i, :lease) AS h(c, i, lease) WHERE w.community_id = h.c "
    "AND w.id = h.i AND w.status = 'processing' AND w.next_attempt_at = h.lease "
    "RETURNING w.community_id, w.id, w.next_attempt_at"
).bindparams(*_HELD_PARAMS)
_RELEASE = text(
    "UPDATE webhook_inbox w SET status = 'pending', next_attempt_at = now() "
    "FROM unnest(:c, :i, :lease) AS h(c, i, lease) WHERE w.community_id = h.c "
    "AND w.id = h.i AND w.status = 'processing' AND w.next_attempt_at = h.lease"
).bindparams(*_HELD_PARAMS)

Held = Sequence[tuple[int, int, datetime]]  # (community_id, id, lease)


def _held(held: Held) -> dict[str, Any]:
    return {
        "c": [community_id for community_id, _, _ in held],
        "i": [event_id for _, event_id, _ in held],
        "lease": [lease for _, _, lease in held],
    }


async def renew_leases(
    db: Database, held: Held, lease_seconds: float
) -> dict[tuple[int, int], datetime]:
    """Extend the leases still held; the new lease of each, by ``(community_id, id)``."""
    if not held:
        return {}
    rows = await db.execute(_RENEW, {**_held(held), "seconds": lease_seconds})
    return {(int(row.community_id), int(row.id)): row.next_attempt_at for row in rows}


async def release(db: Database, held: Held) -> int:
    """Give events back unprocessed (a worker stopping): due at once, no attempt counted."""
    if not held:
        return 0
    result = await db.execute(_RELEASE, _held(held))
    return int(getattr(result, "rowcount", 0))


_DEPTH = text(
    """
    SELECT
      (SELECT count(*) FROM webhook_inbox WHERE platform = :platform AND status = 'pending'),
      (SELECT count(*) FROM webhook_inbox WHERE platform = :platform AND status = 'processing'),
      (SELECT count(*) FROM webhook_inbox WHERE platform = :platform AND status = 'dead'),
      (SELECT extract(epoch FROM now() - min(received_at)) FROM webhook_inbox
        WHERE platform = :platform AND status IN ('pending', 'processing'))
    """
)


async def depth(db: Database, platform: str) -> InboxDepth:
    """How much is waiting, in flight and dead-lettered, and the age of the oldest open."""
    row = (await db.execute(_DEPTH, {"platform": platform})).one()
    return InboxDepth(
        pending=int(row[0]),
        processing=int(row[1]),
        dead=int(row[2]),
        oldest_pending_seconds=None if row[3] is None else float(row[3]),
    )


_EXPIRE_DONE = text(
    "DELETE FROM webhook_inbox WHERE (community_id, id) IN (SELECT community_id, id "
    "FROM webhook_inbox WHERE platform = :platform AND status = 'done' "
    "AND processed_at < now() - make_interval(secs => :age) LIMIT :batch)"
)
_EXPIRE_DEAD_PAYLOADS = text(
    "UPDATE webhook_inbox SET payload = NULL WHERE (community_id, id) IN (SELECT "
    "community_id, id FROM webhook_inbox WHERE platform = :platform AND status = 'dead' "
    "AND processed_at < now() - make_interval(secs => :age) AND payload IS NOT NULL "
    "LIMIT :batch)"
)
_EXPIRE_DEAD = text(
    "DELETE FROM webhook_inbox WHERE (community_id, id) IN (SELECT community_id, id "
    "FROM webhook_inbox WHERE platform = :platform AND status = 'dead' "
    "AND processed_at < now() - make_interval(secs => :age) LIMIT :batch)"
)


async def expire_finished(
    db: Database,
    platform: str,
    *,
    done_after: timedelta,
    dead_payload_after: timedelta,
    dead_after: timedelta,
    batch: int = 5_000,
) -> tuple[int, int, int]:
    """One bounded pass of retention: done rows deleted (their ``webhook_event_id`` no
    longer needed to spot a redelivery), dead payloads cleared, then old dead rows deleted.
    Returns the three counts; call again while any equals ``batch``."""
    counts = []
    for statement, age in (
        (_EXPIRE_DONE, done_after),
        (_EXPIRE_DEAD_PAYLOADS, dead_payload_after),
        (_EXPIRE_DEAD, dead_after),
    ):
        result = await db.execute(
            statement, {"platform": platform, "age": age.total_seconds(), "batch": batch}
        )
        counts.append(int(getattr(result, "rowcount", 0)))
    return counts[0], counts[1], counts[2]


_LINKED = text(
    "SELECT community_id FROM community_links WHERE platform = :platform "
    "AND external_id = :external_id"
)


async def linked_community(db: Database, platform: str, external_id: str) -> int | None:
    """The community a platform space already belongs to, without touching its link (a
    name set by someone else stays as it is)."""
    found = (
        await db.execute(_LINKED, {"platform": platform, "external_id": external_id})
    ).scalar_one_or_none()
    return None if found is None else int(found)


_LINK = text(
    "INSERT INTO community_links (community_id, platform, external_id, name) "
    "VALUES (:community_id, :platform, :external_id, :name) "
    "ON CONFLICT (platform, external_id) DO UPDATE SET community_id = EXCLUDED.community_id "
    "WHERE community_links.community_id <> EXCLUDED.community_id RETURNING community_id"
)


async def link_space(
    db: Database, platform: str, external_id: str, community_id: int, name: str
) -> bool:
    """Make a platform space belong to ``community_id`` (a setting chose it): linked if it
    was not, moved if it was linked elsewhere. True when the link was made or moved."""
    row = await db.execute(
        _LINK,
        {
            "community_id": community_id,
            "platform": platform,
            "external_id": external_id,
            "name": name[:200],
        },
    )
    return row.first() is not None
