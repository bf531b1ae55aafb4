"""Retention of the event lake: drop whole days, keep what they counted.

Events older than the cutoff are removed, but the lifetime counters they contributed to
must not shrink: reconciliation rebuilds lifetime counters as ``counter_rollups`` plus the
counter deltas the lake still holds (each event's ``outcome["counters"]``: a list of
``[member_id, counter_name, delta]``). So before a day goes, its deltas are added to
``counter_rollups``, in the same transaction as the DROP (DDL is transactional): either
both happen or neither, and a retried or concurrent run can never add a day twice.

* Dated partitions entirely older than the cutoff: one transaction each — take the
  partition-maintenance lock, re-read the catalog, DETACH (which waits for in-flight writer
  transactions and then keeps every writer out of the table until commit, so no late row
  can slip in between the rollup and the drop), fold its deltas into the rollups, DROP.
* Old rows in ``events_default`` (rare: days that never had a partition): one statement
  that deletes them and folds exactly the deleted rows' deltas (``DELETE … RETURNING``).
* ``counters`` rows of period ``day`` older than the cutoff are deleted.
* Partitions for today and the next ``days_ahead`` days are created, so new events do not
  pile up in the default partition.

The cutoff is a UTC day boundary: ``keep_days`` whole days before today (UTC) are kept,
and today itself. Counter deltas of members that no longer exist are dropped with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from townsquare.config.settings import DatabaseSettings
from townsquare.errors import TownsquareError
from townsquare.store.engine import translate_errors
from townsquare.store.locks import PARTITION_MAINTENANCE_LOCK_KEY
from townsquare.store.partitions import (
    EVENTS_TABLE,
    CreatedPartition,
    EventPartition,
    default_partition,
    ensure_daily_partitions,
    list_partitions,
    translate_errors_for,
)

log = structlog.get_logger(__name__)

DEFAULT_DAYS_AHEAD = 7
DEFAULT_LOCK_TIMEOUT_MS = 10_000
_LOCK_NOT_AVAILABLE = "55P03"


class RetentionPolicyInvalid(TownsquareError):
    """The retention settings given would delete data nobody meant to delete."""

    code = "retention_policy_invalid"


def _rollup_sql(source: str) -> str:
    """Add the counter deltas of the events in ``source`` (a table or CTE) to the rollups."""
    return f"""
        INSERT INTO counter_rollups AS r (community_id, member_id, name, value)
        SELECT d.community_id, d.member_id, d.name, d.value
        FROM (
            SELECT t.community_id, (t.item->>0)::bigint AS member_id, t.item->>1 AS name,
                   sum((t.item->>2)::bigint) AS value
            FROM (
                SELECT e.community_id, jsonb_array_elements(e.outcome->'counters') AS item
                FROM {source} e
                WHERE jsonb_typeof(e.outcome->'counters') = 'array'
            ) t
            GROUP BY 1, 2, 3
        ) d
        WHERE d.value <> 0 AND EXISTS (
            SELECT 1 FROM members m WHERE m.community_id = d.community_id AND m.id = d.member_id
        )
        ON CONFLICT (community_id, member_id, name) DO UPDATE SET value = r.value + EXCLUDED.value
    """  # noqa: S608 - source is a catalog name or a CTE name, never input


@dataclass(frozen=True)
class DroppedPartition:
    name: str
    lower: datetime | None
    upper: datetime
    events: int
    rollup_rows: int
    bytes_freed: int


@dataclass(frozen=True)
class RetentionReport:
    cutoff: datetime
    dropped: tuple[DroppedPartition, ...]
    # Partitions left for the next run: their lock was not granted within the timeout.
    skipped: tuple[str, ...]
    default_events_removed: int
    default_rollup_rows: int
    day_counters_removed: int
    partitions_created: tuple[date, ...]
    # Creating the partitions ahead had to wait too long for its lock; the next run will.
    partitions_ahead_busy: bool = False

    @property
    def events_rolled_up(self) -> int:
        return sum(p.events for p in self.dropped) + self.default_events_removed

    @property
    def rollup_rows(self) -> int:
        """Rows of ``counter_rollups`` inserted or increased (one per member, counter, day)."""
        return sum(p.rollup_rows for p in self.dropped) + self.default_rollup_rows

    @property
    def bytes_freed(self) -> int:
        """Size of the dropped partitions (the default partition's space is reused, not freed)."""
        return sum(p.bytes_freed for p in self.dropped)


def retention_cutoff(now: datetime, keep_days: int) -> datetime:
    """Midnight UTC ``keep_days`` days before today (UTC); events before it are removed."""
    if isinstance(keep_days, bool) or not isinstance(keep_days, int) or keep_days < 1:
        raise RetentionPolicyInvalid(
            f"keep_days must be a whole number of days, at least 1 (got {keep_days!r}); "
            "retention never removes today's or yesterday's events."
        )
    if now.tzinfo is None or now.utcoffset() is None:
        raise RetentionPolicyInvalid(f"now must carry a time zone (got {now.isoformat()})")
    today = now.astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=keep_days), time(), UTC)


async def apply_retention(
    target: AsyncEngine | AsyncConnection,
    *,
    keep_days: int,
    now: datetime,
    days_ahead: int = DEFAULT_DAYS_AHEAD,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    settings: DatabaseSettings | None = None,
) -> RetentionReport:
    """Remove events before `retention_cutoff`, folding their counters into the rollups.

    A job with units of work of its own: it commits after each partition. Given a
    connection, the connection must not be inside a transaction.
    """
    cutoff = retention_cutoff(now, keep_days)
    if days_ahead < 0:
        raise RetentionPolicyInvalid(f"days_ahead must not be negative (got {days_ahead})")
    if isinstance(target, AsyncEngine):
        url = target.url.render_as_string(hide_password=False)
        async with (
            translate_errors(url, settings or DatabaseSettings()),
            target.connect() as conn,
        ):
            return await _run(conn, cutoff, now, days_ahead, lock_timeout_ms, settings)
    if target.in_transaction():
        raise ValueError("apply_retention commits per partition: pass a connection not in use")
    return await _run(target, cutoff, now, days_ahead, lock_timeout_ms, settings)


async def _run(
    conn: AsyncConnection,
    cutoff: datetime,
    now: datetime,
    days_ahead: int,
    lock_timeout_ms: int,
    settings: DatabaseSettings | None,
) -> RetentionReport:
    today = now.astimezone(UTC).date()
    dropped: list[DroppedPartition] = []
    skipped: list[str] = []
    created: list[CreatedPartition] = []
    ahead_busy = False
    async with translate_errors_for(conn, settings):
        try:
            async with conn.begin():
                await _set_lock_timeout(conn, lock_timeout_ms)
                created = await ensure_daily_partitions(
                    conn, today, today + timedelta(days=days_ahead), settings=settings
                )
        except DBAPIError as exc:
            if not _lock_not_available(exc):
                raise
            # New events wait in the default partition; the next run creates these.
            ahead_busy = True
            log.warning("retention_partitions_ahead_busy")
        while True:
            outcome = await _drop_oldest(conn, cutoff, lock_timeout_ms, skipped)
            if outcome is None:
                break
            if isinstance(outcome, str):
                skipped.append(outcome)
            else:
                dropped.append(outcome)
        async with conn.begin():
            await _maintenance_lock(conn)
            default_events, default_rollup_rows = await _prune_default(conn, cutoff)
            day_counters = (
                await conn.execute(
                    text("DELETE FROM counters WHERE period = 'day' AND period_key < :day"),
                    {"day": cutoff.date().isoformat()},
                )
            ).rowcount
    report = RetentionReport(
        cutoff=cutoff,
        dropped=tuple(dropped),
        skipped=tuple(skipped),
        default_events_removed=default_events,
        default_rollup_rows=default_rollup_rows,
        day_counters_removed=day_counters,
        partitions_created=tuple(p.day for p in created),
        partitions_ahead_busy=ahead_busy,
    )
    log.info(
        "retention_applied",
        cutoff=cutoff.isoformat(),
        partitions_dropped=len(report.dropped),
        partitions_skipped=len(report.skipped),
        events_rolled_up=report.events_rolled_up,
        rollup_rows=report.rollup_rows,
        bytes_freed=report.bytes_freed,
        day_counters_removed=report.day_counters_removed,
        partitions_created=len(report.partitions_created),
    )
    return report


async def _maintenance_lock(conn: AsyncConnection) -> None:
    """Wait for any other partition maintenance (a concurrent run) to commit first."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": PARTITION_MAINTENANCE_LOCK_KEY}
    )


async def _set_lock_timeout(conn: AsyncConnection, lock_timeout_ms: int) -> None:
    """Bound every lock wait of this transaction from here on (tables and advisory locks)."""
    await conn.execute(
        text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": f"{lock_timeout_ms}ms"}
    )


def _lock_not_available(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE


def _expired(partition: EventPartition, cutoff: datetime) -> bool:
    return partition.upper is not None and partition.upper <= cutoff


async def _drop_oldest(
    conn: AsyncConnection, cutoff: datetime, lock_timeout_ms: int, skipped: list[str]
) -> DroppedPartition | str | None:
    """Roll up and drop the oldest expired partition; its name if it was busy; None if done.

    The catalog is read again under the lock, so a partition another run dropped meanwhile
    is simply not there any more.
    """
    name = ""
    try:
        async with conn.begin():
            await _maintenance_lock(conn)
            partitions = await list_partitions(conn)
            expired = [p for p in partitions if _expired(p, cutoff) and p.name not in skipped]
            if not expired:
                return None
            partition = expired[0]
            assert partition.upper is not None
            name = partition.name
            # Writers may be busy with the table; rather than queue them all behind us for
            # long, give up on this partition after the timeout and leave it to the next run.
            await _set_lock_timeout(conn, lock_timeout_ms)
            # DETACH first: it takes the parent's ACCESS EXCLUSIVE lock before anything else
            # (the order the writer locks in), and from then on nothing can write to the table.
            await conn.execute(text(f"ALTER TABLE {EVENTS_TABLE} DETACH PARTITION {name}"))
            size = await conn.scalar(
                text("SELECT pg_total_relation_size(CAST(:name AS regclass))"), {"name": name}
            )
            events = await conn.scalar(text(f"SELECT count(*) FROM {name}"))  # noqa: S608
            rollup_rows = (await conn.execute(text(_rollup_sql(name)))).rowcount
            await conn.execute(text(f"DROP TABLE {name}"))
    except DBAPIError as exc:
        if name and _lock_not_available(exc):
            log.warning("retention_partition_busy", partition=name)
            return name
        raise
    dropped = DroppedPartition(
        name=name,
        lower=partition.lower,
        upper=partition.upper,
        events=int(events or 0),
        rollup_rows=rollup_rows,
        bytes_freed=int(size or 0),
    )
    log.info("partition_dropped", partition=name, events=dropped.events)
    return dropped


async def _prune_default(conn: AsyncConnection, cutoff: datetime) -> tuple[int, int]:
    """Delete old rows of the default partition, rolling up exactly the rows deleted."""
    default = await default_partition(conn)
    if default is None:
        return 0, 0
    row = (
        await conn.execute(
            text(
                f"""
                WITH gone AS (
                    DELETE FROM {default} WHERE occurred_at < :cutoff
                    RETURNING community_id, outcome
                ),
                rolled AS ({_rollup_sql("gone")} RETURNING 1)
                SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM rolled)
                """  # noqa: S608 - the default partition's name comes from the catalog
            ),
            {"cutoff": cutoff},
        )
    ).one()
    return int(row[0]), int(row[1])
