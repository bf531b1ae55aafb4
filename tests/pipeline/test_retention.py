"""Retention of the event lake against a real PostgreSQL (it commits DDL: own databases).

The predecessor's bug to never repeat: after a 90-day retention, reconciliation rebuilt
lifetime counters from the events that were left and shrank them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.pipeline.test_reconcile import FIRST_DAY, World, build_world
from townsquare.config.settings import DatabaseSettings
from townsquare.errors import DatabaseUnavailable
from townsquare.pipeline.reconcile import reconcile, try_lock_community
from townsquare.pipeline.retention import (
    RetentionPolicyInvalid,
    RetentionReport,
    apply_retention,
    retention_cutoff,
)
from townsquare.store import migrate
from townsquare.store.engine import create_db_engine, create_sync_engine
from townsquare.store.partitions import ensure_daily_partitions, list_partitions

# The main scenario: 100 days of activity, 90 kept. The others need fewer partitions.
DAYS, KEEP_DAYS = 100, 90
SHORT_DAYS, SHORT_KEEP = 20, 10
# Days without a partition of their own: their events sit in the default partition.
UNPARTITIONED = 3


def _now(days: int) -> datetime:
    """Noon of the last day with activity."""
    return datetime.combine(FIRST_DAY + timedelta(days=days - 1), time(12), UTC)


def _cutoff(days: int, keep_days: int) -> datetime:
    """Midnight ``keep_days`` days before the last day."""
    return datetime.combine(FIRST_DAY + timedelta(days=days - 1 - keep_days), time(), UTC)


NOW = _now(DAYS)
CUTOFF = _cutoff(DAYS, KEEP_DAYS)


@pytest.fixture
async def lake(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    sync_engine = create_sync_engine(fresh_database, DatabaseSettings())
    try:
        migrate.upgrade(sync_engine)
    finally:
        sync_engine.dispose()
    engine = create_db_engine(fresh_database, DatabaseSettings(pool_size=4))
    yield engine
    await engine.dispose()


def _activity_days(days: int) -> list[date]:
    """A day of activity every other day, and the last day (so the cutoff day is busy)."""
    active = [FIRST_DAY + timedelta(days=n) for n in range(0, days, 2)]
    return [*active, FIRST_DAY + timedelta(days=days - 1)]


def _old_days(days: int, keep_days: int) -> list[date]:
    return [day for day in _activity_days(days) if day < _cutoff(days, keep_days).date()]


async def _world(lake: AsyncEngine, days: int) -> World:
    """Activity every other day (the first days' in the default partition), derived state."""
    async with lake.begin() as conn:
        # Partitions for the days with activity only (fewer partitions: a faster test).
        for day in _activity_days(days):
            if day >= FIRST_DAY + timedelta(days=UNPARTITIONED):
                await ensure_daily_partitions(conn, day, day)
        world = await build_world(conn, members=8, days=_activity_days(days))
        await world.rollup(world.members[2], "messages", 1000)
        await world.write_derived()
        await conn.execute(
            text(
                "INSERT INTO counters (community_id, member_id, period, period_key, name, value) "
                "SELECT :c, m, 'day', d, 'messages', 1 FROM unnest(CAST(:members AS bigint[])) m, "
                "unnest(CAST(:days AS text[])) d"
            ),
            {
                "c": world.community_id,
                "members": world.members,
                "days": [day.isoformat() for day in _activity_days(days)],
            },
        )
    return world


async def _rollups(conn: AsyncConnection) -> dict[tuple[int, str], int]:
    rows = await conn.execute(text("SELECT member_id, name, value FROM counter_rollups"))
    return {(row[0], row[1]): row[2] for row in rows}


async def _lake_events(conn: AsyncConnection) -> int:
    return int(await conn.scalar(text("SELECT count(*) FROM events")) or 0)


async def test_lifetime_counters_survive_retention_and_reconciliation(lake: AsyncEngine) -> None:
    world = await _world(lake, DAYS)
    async with lake.connect() as conn:
        assert not (await reconcile(conn, world.community_id, correct=False)).has_drift
        before = await _lake_events(conn)
        await conn.rollback()

    report = await apply_retention(lake, keep_days=KEEP_DAYS, now=NOW)

    assert report.cutoff == CUTOFF
    dropped_days = {p.lower.date() for p in report.dropped if p.lower is not None}
    old_days = _old_days(DAYS, KEEP_DAYS)
    assert {day for day in old_days if (day - FIRST_DAY).days >= UNPARTITIONED} <= dropped_days
    assert all(p.upper <= CUTOFF for p in report.dropped)
    assert report.default_events_removed == 2 * len(world.members)  # days 0 and 2
    assert report.events_rolled_up == len(old_days) * len(world.members)
    assert report.bytes_freed > 0
    assert report.rollup_rows > 0
    async with lake.connect() as conn:
        assert await _lake_events(conn) == before - report.events_rolled_up
        oldest = min(p.lower for p in await list_partitions(conn) if p.lower is not None)
        assert oldest.date() == min(day for day in _activity_days(DAYS) if day >= CUTOFF.date())
        await conn.rollback()
        # Reconciliation after retention: nothing shrank, nothing to correct.
        async with conn.begin():
            assert await try_lock_community(conn, world.community_id)
            after = await reconcile(conn, world.community_id, correct=True)
        assert after.total == 0, after
        assert await World(conn, world.community_id, world.members).stored_counters() == {
            key: value for key, value in world.counters.items() if value != 0
        }


async def test_running_retention_twice_rolls_up_nothing_twice(lake: AsyncEngine) -> None:
    world = await _world(lake, SHORT_DAYS)
    now = _now(SHORT_DAYS)
    first = await apply_retention(lake, keep_days=SHORT_KEEP, now=now)
    async with lake.connect() as conn:
        rollups = await _rollups(conn)
    second = await apply_retention(lake, keep_days=SHORT_KEEP, now=now)
    assert first.events_rolled_up > 0
    assert second.dropped == ()
    assert second.events_rolled_up == second.rollup_rows == 0
    async with lake.connect() as conn:
        assert await _rollups(conn) == rollups
        assert not (await reconcile(conn, world.community_id, correct=False)).has_drift


async def test_concurrent_runs_drop_each_day_once(lake: AsyncEngine) -> None:
    world = await _world(lake, SHORT_DAYS)
    async with lake.connect() as conn:
        events = await _lake_events(conn)
    now = _now(SHORT_DAYS)
    reports = await asyncio.gather(
        apply_retention(lake, keep_days=SHORT_KEEP, now=now),
        apply_retention(lake, keep_days=SHORT_KEEP, now=now),
    )
    names = [p.name for report in reports for p in report.dropped]
    assert len(names) == len(set(names)) > 0
    rolled_up = _old_days(SHORT_DAYS, SHORT_KEEP)
    assert sum(r.events_rolled_up for r in reports) == len(rolled_up) * len(world.members)
    async with lake.connect() as conn:
        assert await _lake_events(conn) == events - len(rolled_up) * len(world.members)
    async with lake.connect() as conn:
        assert not (await reconcile(conn, world.community_id, correct=False)).has_drift


async def test_day_counters_before_the_cutoff_are_pruned(lake: AsyncEngine) -> None:
    world = await _world(lake, SHORT_DAYS)
    report = await apply_retention(lake, keep_days=SHORT_KEEP, now=_now(SHORT_DAYS))
    cutoff_day = _cutoff(SHORT_DAYS, SHORT_KEEP).date()
    kept_days = [day for day in _activity_days(SHORT_DAYS) if day >= cutoff_day]
    assert report.day_counters_removed == len(world.members) * len(
        _old_days(SHORT_DAYS, SHORT_KEEP)
    )
    async with lake.connect() as conn:
        keys = (
            await conn.execute(
                text("SELECT DISTINCT period_key FROM counters WHERE period = 'day'")
            )
        ).scalars()
        assert sorted(keys) == [day.isoformat() for day in kept_days]
        lifetime = await conn.scalar(
            text("SELECT count(*) FROM counters WHERE period = 'lifetime'")
        )
    assert lifetime == len(world.counters)


async def test_recent_default_rows_stay_and_partitions_ahead_are_created(
    lake: AsyncEngine,
) -> None:
    now = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    async with lake.begin() as conn:
        world = await build_world(conn, members=2, days=[date(2026, 5, 1), date(2026, 5, 30)])
        await world.write_derived()
    report = await apply_retention(lake, keep_days=7, now=now, days_ahead=3)
    assert report.partitions_created == tuple(date(2026, 6, day) for day in range(1, 5))
    assert report.default_events_removed == 2
    assert report.dropped == ()
    async with lake.connect() as conn:
        where = (
            await conn.execute(text("SELECT DISTINCT tableoid::regclass::text FROM events"))
        ).scalars()
        assert list(where) == ["events_default"]
        assert await _lake_events(conn) == 2
        assert not (await reconcile(conn, world.community_id, correct=False)).has_drift
    again = await apply_retention(lake, keep_days=7, now=now, days_ahead=3)
    assert again == RetentionReport(
        cutoff=datetime(2026, 5, 25, tzinfo=UTC),
        dropped=(),
        skipped=(),
        default_events_removed=0,
        default_rollup_rows=0,
        day_counters_removed=0,
        partitions_created=(),
    )


@pytest.mark.parametrize("keep_days", [0, -3, 1.5, True])
def test_keep_days_below_one_day_is_refused(keep_days: object) -> None:
    with pytest.raises(RetentionPolicyInvalid, match="keep_days must be a whole number"):
        retention_cutoff(NOW, keep_days)  # type: ignore[arg-type]


async def test_invalid_policy_touches_nothing(lake: AsyncEngine) -> None:
    with pytest.raises(RetentionPolicyInvalid, match="at least 1"):
        await apply_retention(lake, keep_days=0, now=NOW)
    with pytest.raises(RetentionPolicyInvalid, match="time zone"):
        await apply_retention(lake, keep_days=30, now=NOW.replace(tzinfo=None))
    async with lake.connect() as conn:
        assert await list_partitions(conn) == []


async def test_an_unreachable_database_is_a_typed_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://app:secret@127.0.0.1:{port}/townsquare"
    engine = create_db_engine(url, DatabaseSettings(connect_timeout=2))
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await apply_retention(engine, keep_days=30, now=NOW)
    finally:
        await engine.dispose()
    assert "secret" not in caught.value.message


def test_the_cutoff_is_a_utc_day_boundary() -> None:
    # Already 11 March in Tokyo, still 10 March in UTC: the UTC day counts.
    morning_in_tokyo = datetime(2026, 3, 11, 7, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert retention_cutoff(morning_in_tokyo, 1) == datetime(2026, 3, 9, tzinfo=UTC)
    assert retention_cutoff(morning_in_tokyo, 30) == datetime(2026, 2, 8, tzinfo=UTC)


async def test_a_partition_kept_busy_is_left_for_the_next_run(lake: AsyncEngine) -> None:
    world = await _world(lake, SHORT_DAYS)
    now = _now(SHORT_DAYS)
    async with lake.connect() as reader:
        # A long read of the lake: DETACH cannot have its lock within the timeout.
        await reader.execute(text("SELECT count(*) FROM events"))
        busy = await apply_retention(lake, keep_days=SHORT_KEEP, now=now, lock_timeout_ms=50)
        await reader.rollback()
    partitioned = [
        day
        for day in _old_days(SHORT_DAYS, SHORT_KEEP)
        if day >= FIRST_DAY + timedelta(days=UNPARTITIONED)
    ]
    assert busy.dropped == ()
    assert len(busy.skipped) == len(partitioned) > 0
    assert busy.partitions_created == ()
    assert busy.partitions_ahead_busy
    async with lake.connect() as conn:
        assert not (await reconcile(conn, world.community_id, correct=False)).has_drift
    later = await apply_retention(lake, keep_days=SHORT_KEEP, now=now)
    assert [p.name for p in later.dropped] == list(busy.skipped)
    assert later.skipped == ()
    assert later.partitions_created
    async with lake.connect() as conn:
        covered = {p.day for p in await list_partitions(conn)}
        assert {now.date() + timedelta(days=n) for n in range(8)} <= covered
        assert not (await reconcile(conn, world.community_id, correct=False)).has_drift
