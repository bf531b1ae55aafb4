"""Daily partitions of the event lake ``events`` (``events_pYYYYMMDD``, one UTC day each).

``events`` is partitioned by ``RANGE (occurred_at)`` with a DEFAULT partition
(``events_default``, created by the first migration) that catches rows of any day without a
partition of its own. Creating a day's partition ahead of time keeps the default partition
empty, so retention can drop whole days instead of deleting rows.

PostgreSQL refuses to create a partition for a range the DEFAULT partition already holds
rows of; `ensure_daily_partitions` then moves those rows into the new partition in the
same transaction, so the lake never loses or duplicates an event.

Concurrency: creation takes the partition-maintenance advisory lock (transaction level)
and re-reads the catalog under it, so two processes ensuring the same days at once create
each partition exactly once. Creating a partition takes an ACCESS EXCLUSIVE lock on
``events`` until commit (the writer's inserts wait for that moment), so callers should
ensure days well ahead of time and commit promptly; and call it at the start of a READ
COMMITTED transaction that holds no other locks on ``events``.

Partition names and bounds are generated from ``date`` objects only, never from input
text, so the DDL (which cannot take bind parameters) is safe to format.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from townsquare.config.settings import DatabaseSettings
from townsquare.store.engine import translate_errors
from townsquare.store.locks import PARTITION_MAINTENANCE_LOCK_KEY

log = structlog.get_logger(__name__)

EVENTS_TABLE = "events"
PARTITION_PREFIX = "events_p"

# Every partition of ``events`` with its bounds. The bound text PostgreSQL prints is cast
# back to timestamptz in the same session and handed over as UTC ISO text, so the session's
# TimeZone and DateStyle do not matter. MINVALUE/MAXVALUE bounds come back as NULL.
_PARTITIONS_SQL = text(
    r"""
    SELECT name, is_default,
           to_char(lower AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24\:MI\:SS.US') AS lower,
           to_char(upper AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24\:MI\:SS.US') AS upper
    FROM (
        SELECT c.oid::regclass::text AS name,
               b.bound = 'DEFAULT' AS is_default,
               (regexp_match(b.bound, 'FROM \(''([^'']*)''\)'))[1]::timestamptz AS lower,
               (regexp_match(b.bound, 'TO \(''([^'']*)''\)'))[1]::timestamptz AS upper
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) b
        WHERE i.inhparent = 'events'::regclass
    ) p
    ORDER BY p.lower NULLS FIRST, name
    """
)


@dataclass(frozen=True)
class EventPartition:
    """One partition of ``events``: ``[lower, upper)``; ``None`` is unbounded."""

    name: str
    lower: datetime | None
    upper: datetime | None

    @property
    def day(self) -> date | None:
        """The UTC day the partition holds, when it holds exactly one UTC day."""
        if self.lower is None or self.upper is None:
            return None
        lower = self.lower.astimezone(UTC)
        if lower.timetz() != time(tzinfo=UTC) or self.upper - self.lower != timedelta(days=1):
            return None
        return lower.date()

    def overlaps(self, lower: datetime, upper: datetime) -> bool:
        return (self.lower is None or self.lower < upper) and (
            self.upper is None or self.upper > lower
        )


@dataclass(frozen=True)
class CreatedPartition:
    """A daily partition `ensure_daily_partitions` created, and the rows it took over."""

    day: date
    name: str
    moved_rows: int


def partition_name(day: date) -> str:
    """``events_pYYYYMMDD`` (always eight digits, so names sort by date)."""
    return f"{PARTITION_PREFIX}{day.year:04d}{day.month:02d}{day.day:02d}"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[day 00:00 UTC, next day 00:00 UTC)``."""
    lower = datetime.combine(day, time(), UTC)
    return lower, lower + timedelta(days=1)


def translate_errors_for(
    conn: AsyncConnection, settings: DatabaseSettings | None = None
) -> AbstractAsyncContextManager[None]:
    """`translate_errors` for a connection we were handed (its engine's URL)."""
    url = conn.engine.url.render_as_string(hide_password=False)
    return translate_errors(url, settings or DatabaseSettings())


def _utc(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


async def _catalog(conn: AsyncConnection) -> tuple[list[EventPartition], str | None]:
    partitions: list[EventPartition] = []
    default: str | None = None
    for row in (await conn.execute(_PARTITIONS_SQL)).all():
        if row.is_default:
            default = row.name
        else:
            partitions.append(EventPartition(row.name, _utc(row.lower), _utc(row.upper)))
    return partitions, default


async def list_partitions(
    conn: AsyncConnection, *, settings: DatabaseSettings | None = None
) -> list[EventPartition]:
    """Every partition of ``events`` except the DEFAULT one, oldest first."""
    async with translate_errors_for(conn, settings):
        partitions, _default = await _catalog(conn)
    return partitions


async def default_partition(
    conn: AsyncConnection, *, settings: DatabaseSettings | None = None
) -> str | None:
    """The (quoted if need be) name of the DEFAULT partition of ``events``, if there is one."""
    async with translate_errors_for(conn, settings):
        _partitions, default = await _catalog(conn)
    return default


def _missing(days: Sequence[date], partitions: Sequence[EventPartition]) -> list[date]:
    # A day that overlaps any partition (even a wider or odd-shaped one made by hand) is
    # left alone: PostgreSQL would refuse an overlapping partition anyway.
    return [day for day in days if not any(p.overlaps(*day_bounds(day)) for p in partitions)]


def _quoted(name: str) -> str:
    assert name.replace("_", "").isalnum(), name
    return f'"{name}"'


async def ensure_daily_partitions(
    conn: AsyncConnection,
    first_day: date,
    last_day: date,
    *,
    settings: DatabaseSettings | None = None,
) -> list[CreatedPartition]:
    """Create the missing daily partitions for ``first_day`` … ``last_day`` (inclusive).

    Runs in the caller's transaction (the caller commits); idempotent; rows of those days
    already in the DEFAULT partition move into the new partitions. Returns what was created.
    """
    if first_day > last_day:
        raise ValueError(f"first day {first_day} is after last day {last_day}")
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    created: list[CreatedPartition] = []
    async with translate_errors_for(conn, settings):
        partitions, _default = await _catalog(conn)
        if not _missing(days, partitions):
            return created
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": PARTITION_MAINTENANCE_LOCK_KEY}
        )
        # Another process may have created them while we waited for the lock.
        partitions, default = await _catalog(conn)
        missing = _missing(days, partitions)
        if not missing:
            return created
        # Lock the parent first, as the writer's inserts do, so moving rows out of the
        # default partition cannot deadlock with them or miss a row inserted meanwhile.
        await conn.execute(text(f"LOCK TABLE {EVENTS_TABLE} IN ACCESS EXCLUSIVE MODE"))
        for day in missing:
            created.append(await _create(conn, day, default))
    log.info(
        "partitions_created",
        count=len(created),
        first=created[0].name,
        last=created[-1].name,
        moved_rows=sum(partition.moved_rows for partition in created),
    )
    return created


async def _create(conn: AsyncConnection, day: date, default: str | None) -> CreatedPartition:
    name = partition_name(day)
    lower, upper = day_bounds(day)
    bounds = {"lower": lower, "upper": upper}
    moved = 0
    stranded = False
    if default is not None:
        stranded = bool(
            await conn.scalar(
                text(
                    f"SELECT EXISTS (SELECT 1 FROM {default} "  # noqa: S608 - name from catalog
                    "WHERE occurred_at >= :lower AND occurred_at < :upper)"
                ),
                bounds,
            )
        )
    if stranded:
        assert default is not None
        await conn.execute(text("DROP TABLE IF EXISTS pg_temp.events_moving"))
        await conn.execute(text(f"CREATE TEMP TABLE events_moving (LIKE {default})"))
        moved = (
            await conn.execute(
                text(
                    f"WITH moved AS (DELETE FROM {default} "  # noqa: S608 - name from catalog
                    "WHERE occurred_at >= :lower AND occurred_at < :upper RETURNING *) "
                    "INSERT INTO pg_temp.events_moving SELECT * FROM moved"
                ),
                bounds,
            )
        ).rowcount
    await conn.execute(
        text(
            f"CREATE TABLE {_quoted(name)} PARTITION OF {EVENTS_TABLE} "
            f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
        )
    )
    if stranded:
        await conn.execute(
            text(f"INSERT INTO {_quoted(name)} SELECT * FROM pg_temp.events_moving")  # noqa: S608
        )
        await conn.execute(text("DROP TABLE pg_temp.events_moving"))
    return CreatedPartition(day=day, name=name, moved_rows=moved)
