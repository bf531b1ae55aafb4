"""The grant relay: applies admins' manual grants through the pipeline, exactly once.

Admin services write grants to the ``manual_grants`` outbox (with their audit entry) and
never touch balances: the ingest writer owns member state. This relay turns pending grants
into manual events (``MANUAL_AWARD``/``MANUAL_REVOKE``) and hands them to the pipeline, so
grants follow the same rules, ledger and outcomes as every other event.

Exactly once: a grant's event id is ``grant:<community>:<grant id>`` and its time is the
grant's ``created_at``, so every delivery of one grant is the same event, and the event
lake ignores a second delivery of an event it holds. A crash after the pipeline committed
the event but before the grant was marked applied therefore costs nothing: the next round
delivers it again, the lake refuses it, and the grant is marked applied from the event the
lake already has. A grant is marked applied only when its event is found in ``events``.

A grant that cannot be delivered (its member has no platform identity in a linked space,
or the pipeline dead-letters its event) is retried on later rounds and marked ``failed``
with the error after ``max_attempts``. While the pipeline is not running normally (an
outage: events go to its spool and land later) undelivered grants are not charged an
attempt. One round holds its grants' rows locked (``FOR UPDATE SKIP LOCKED``), so relays in
several processes share the work without delivering a grant twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from townsquare.core import Balances, Event, EventKind, ManualMeta, Platform
from townsquare.pipeline.ingest import Pipeline
from townsquare.store.engine import create_session_factory

log = structlog.get_logger(__name__)

#: Pending grants, oldest first, each with the platform identity the event is sent as:
#: the member's earliest identity on a platform the community has a linked space on.
_PENDING = text(
    """
    SELECT g.community_id, g.id, g.action, g.xp, g.stars, g.gold, g.achievement_key,
           g.created_at, g.attempts, who.platform, who.external_user_id, space.external_id
    FROM manual_grants g
    LEFT JOIN LATERAL (
        SELECT i.platform, i.external_user_id FROM member_identities i
        WHERE i.community_id = g.community_id AND i.member_id = g.member_id
          AND EXISTS (SELECT 1 FROM community_links l
                      WHERE l.community_id = i.community_id AND l.platform = i.platform)
        ORDER BY i.linked_at, i.platform, i.external_user_id LIMIT 1
    ) who ON true
    LEFT JOIN LATERAL (
        SELECT l.external_id FROM community_links l
        WHERE l.community_id = g.community_id AND l.platform = who.platform
        ORDER BY l.linked_at, l.external_id LIMIT 1
    ) space ON true
    WHERE g.status = 'pending'
    ORDER BY g.id
    LIMIT :limit
    FOR UPDATE OF g SKIP LOCKED
    """
)
#: The events of a round that are in the lake (by its unique key, partition key included).
_LANDED = text(
    """
    SELECT e.community_id, e.platform_event_id, e.id, e.status,
           coalesce(e.outcome ->> 'error', e.outcome ->> 'blocked_by') AS problem
    FROM events e
    JOIN unnest(CAST(:communities AS bigint[]), CAST(:platforms AS text[]),
                CAST(:event_ids AS text[]), CAST(:times AS bigint[])) AS k(c, p, e, a)
      ON e.community_id = k.c AND e.platform = k.p AND e.platform_event_id = k.e
     AND e.occurred_at = to_timestamp(k.a)
    """
)
_APPLIED = text(
    "UPDATE manual_grants SET status = 'applied', event_id = :event_id, applied_at = now(), "
    "attempts = attempts + 1, error = NULL WHERE community_id = :community_id AND id = :id"
)
_REFUSED = text(
    "UPDATE manual_grants SET status = 'failed', event_id = :event_id, attempts = attempts + 1, "
    "error = :error WHERE community_id = :community_id AND id = :id"
)
_RETRY = text(
    "UPDATE manual_grants SET attempts = attempts + 1, error = :error, "
    "status = CASE WHEN attempts + 1 >= :max_attempts THEN 'failed' ELSE 'pending' END "
    "WHERE community_id = :community_id AND id = :id"
)
#: Event statuses meaning the rules applied the grant (``zero``: nothing was left to take).
_APPLIED_STATUSES = frozenset({"rewarded", "zero"})


@dataclass(frozen=True, slots=True)
class RelayRound:
    """What one round did: grants picked, applied, failed for good, left for a retry."""

    picked: int = 0
    applied: int = 0
    failed: int = 0
    retrying: int = 0


def grant_event_id(community_id: int, grant_id: int) -> str:
    """The event id every delivery of a grant carries (the lake's exactly-once key)."""
    return f"grant:{community_id}:{grant_id}"


class GrantRelay:
    """Owns one polling task that applies pending grants through ``pipeline``."""

    def __init__(
        self,
        pipeline: Pipeline,
        sessions: AsyncEngine | async_sessionmaker[AsyncSession],
        *,
        poll_seconds: float = 1.0,
        max_attempts: int = 5,
        batch_size: int = 500,
        flush_timeout_seconds: float = 60.0,
    ) -> None:
        self.pipeline = pipeline
        self._sessions = (
            create_session_factory(sessions) if isinstance(sessions, AsyncEngine) else sessions
        )
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.flush_timeout_seconds = flush_timeout_seconds
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Start polling (the pipeline must be running)."""
        if self._task is not None:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="townsquare-grant-relay")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Let the current round finish (bounded by ``grace_seconds``), then end the task."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_seconds)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.warning("grant_relay_stop_timed_out", grace_seconds=grace_seconds)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                done = await self.run_once()
            except Exception as exc:  # noqa: BLE001 - a bad round must not end the relay
                log.error("grant_relay_round_failed", error=type(exc).__name__)
                done = RelayRound()
            if done.picked >= self.batch_size:
                continue  # more are waiting: no pause
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.poll_seconds)

    async def run_once(self) -> RelayRound:
        """Deliver one batch of pending grants and record what became of each."""
        async with self._sessions() as session, session.begin():
            rows = (await session.execute(_PENDING, {"limit": self.batch_size})).all()
            if not rows:
                return RelayRound()
            events = {(row.community_id, row.id): _event(row) for row in rows}
            deliverable = [event for event in events.values() if event is not None]
            if deliverable:
                await self.pipeline.ingest_many(deliverable)
                try:
                    async with asyncio.timeout(self.flush_timeout_seconds):
                        await self.pipeline.flush()
                except TimeoutError:
                    # Still queued: they land later; the next round finds them in the lake.
                    log.warning("grant_relay_flush_timed_out", waiting=len(deliverable))
                    return RelayRound(picked=len(rows))
            landed = await _landed(session, rows, events)
            healthy = self.pipeline.figures.state == "running"
            return await self._settle(session, rows, events, landed, healthy)

    async def _settle(
        self,
        session: AsyncSession,
        rows: Sequence[Row[Any]],
        events: dict[tuple[int, int], Event | None],
        landed: dict[tuple[int, str], tuple[int, str, str | None]],
        healthy: bool,
    ) -> RelayRound:
        applied: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        retry: list[dict[str, Any]] = []
        exhausted = 0
        for row in rows:
            key = {"community_id": row.community_id, "id": row.id}
            event = events[(row.community_id, row.id)]
            found = None if event is None else landed.get((row.community_id, event.event_id))
            if found is not None:
                event_id, status, problem = found
                if status in _APPLIED_STATUSES:
                    applied.append({**key, "event_id": event_id})
                else:
                    error = f"the rules refused the event ({status}): {problem or 'no detail'}"
                    refused.append({**key, "event_id": event_id, "error": error[:500]})
                continue
            if event is None:
                error = "the member has no platform identity in a space linked to the community"
            elif healthy:
                error = "the event was not recorded (see the pipeline's dead-letter file)"
            else:
                continue  # spooled during an outage: it lands later, no attempt is charged
            retry.append({**key, "error": error, "max_attempts": self.max_attempts})
            exhausted += row.attempts + 1 >= self.max_attempts
        for statement, params in ((_APPLIED, applied), (_REFUSED, refused), (_RETRY, retry)):
            if params:
                await session.execute(statement, params)
        if applied or refused or retry:
            log.info(
                "grant_relay_round",
                picked=len(rows),
                applied=len(applied),
                refused=len(refused),
                retrying=len(retry),
            )
        return RelayRound(
            picked=len(rows),
            applied=len(applied),
            failed=len(refused) + exhausted,
            retrying=len(rows) - len(applied) - len(refused) - exhausted,
        )


def _event(row: Row[Any]) -> Event | None:
    """The manual event of a grant, or None when the member cannot be addressed."""
    if row.platform is None or row.external_id is None:
        return None
    created_at: datetime = row.created_at
    kind = EventKind.MANUAL_AWARD if row.action == "award" else EventKind.MANUAL_REVOKE
    return Event(
        event_id=grant_event_id(row.community_id, row.id),
        kind=kind,
        platform=Platform(row.platform),
        community_id=row.external_id,
        member_id=row.external_user_id,
        at=int(created_at.timestamp()),
        manual=ManualMeta(Balances(row.xp, row.stars, row.gold), row.achievement_key),
    )


async def _landed(
    session: AsyncSession,
    rows: Sequence[Row[Any]],
    events: dict[tuple[int, int], Event | None],
) -> dict[tuple[int, str], tuple[int, str, str | None]]:
    """(community, event id) → (events.id, status, problem) for the round's events in the lake."""
    sent = [
        (row.community_id, event)
        for row in rows
        if (event := events[(row.community_id, row.id)]) is not None
    ]
    if not sent:
        return {}
    found = await session.execute(
        _LANDED,
        {
            "communities": [community_id for community_id, _ in sent],
            "platforms": [event.platform.value for _, event in sent],
            "event_ids": [event.event_id for _, event in sent],
            "times": [event.at for _, event in sent],
        },
    )
    return {
        (int(row.community_id), str(row.platform_event_id)): (int(row.id), row.status, row.problem)
        for row in found
    }
