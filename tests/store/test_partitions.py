"""Daily partitions of the event lake, against a real PostgreSQL.

Partition DDL commits, so each test gets a migrated database of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from townsquare.config.settings import DatabaseSettings
from townsquare.store import migrate
from townsquare.store.engine import create_db_engine, create_sync_engine
from townsquare.store.partitions import (
    EventPartition,
    ensure_daily_partitions,
    list_partitions,
    partition_name,
)

DAY = date(2026, 3, 10)


@pytest.fixture
async def lake(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    sync_engine = create_sync_engine(fresh_database, DatabaseSettings())
    try:
        migrate.upgrade(sync_engine)
    finally:
        sync_engine.dispose()
    engine = create_db_engine(fresh_database, DatabaseSettings(pool_size=3))
    yield engine
    await engine.dispose()


async def _community(conn: AsyncConnection) -> int:
    community_id = await conn.scalar(
        text("INSERT INTO communities (slug, name) VALUES ('plaza', 'Plaza') RETURNING id")
    )
    assert isinstance(community_id, int)
    return community_id


async def _event(conn: AsyncConnection, community_id: int, at: datetime, event_id: str) -> None:
    await conn.execute(
        text(
            "INSERT INTO events (community_id, occurred_at, platform, platform_event_id, kind, "
            "status, outcome) VALUES (:c, :at, 'discord', :pe, 'message', 'zero', "
            "'{\"counters\": []}')"
        ),
        {"c": community_id, "at": at, "pe": event_id},
    )


async def _where(conn: AsyncConnection) -> dict[str, str]:
    """platform event id -> the partition holding it."""
    rows = await conn.execute(
        text("SELECT platform_event_id, tableoid::regclass::text FROM events")
    )
    return {row[0]: row[1] for row in rows}


async def test_partitions_cover_whole_utc_days_and_are_listed(lake: AsyncEngine) -> None:
    async with lake.begin() as conn:
        created = await ensure_daily_partitions(conn, DAY, DAY + timedelta(days=2))
    assert [p.day for p in created] == [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    async with lake.connect() as conn:
        listed = await list_partitions(conn)
    assert listed == [
        EventPartition(
            partition_name(day),
            datetime(day.year, day.month, day.day, tzinfo=UTC),
            datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1),
        )
        for day in (DAY, DAY + timedelta(days=1), DAY + timedelta(days=2))
    ]
    assert [p.day for p in listed] == [p.day for p in created]
    assert listed[0].name == "events_p20260310"


async def test_bounds_do_not_depend_on_the_session_time_zone(lake: AsyncEngine) -> None:
    async with lake.begin() as conn:
        await conn.execute(text("SET LOCAL TimeZone = 'Asia/Tokyo'"))
        await conn.execute(text("SET LOCAL DateStyle = 'SQL, DMY'"))
        await ensure_daily_partitions(conn, DAY, DAY)
        listed = await list_partitions(conn)
        community_id = await _community(conn)
        # 23:59 UTC belongs to the day; 00:00 UTC of the next day does not.
        await _event(conn, community_id, datetime(2026, 3, 10, 23, 59, tzinfo=UTC), "late")
        await _event(conn, community_id, datetime(2026, 3, 11, 0, 0, tzinfo=UTC), "next")
        where = await _where(conn)
    assert [p.day for p in listed] == [DAY]
    assert where == {"late": "events_p20260310", "next": "events_default"}


async def test_creation_is_idempotent(lake: AsyncEngine) -> None:
    async with lake.begin() as conn:
        first = await ensure_daily_partitions(conn, DAY, DAY + timedelta(days=1))
    async with lake.begin() as conn:
        again = await ensure_daily_partitions(conn, DAY, DAY + timedelta(days=1))
        wider = await ensure_daily_partitions(conn, DAY - timedelta(days=1), DAY + timedelta(2))
    assert len(first) == 2
    assert again == []
    assert [p.day for p in wider] == [DAY - timedelta(days=1), DAY + timedelta(days=2)]
    async with lake.connect() as conn:
        assert len(await list_partitions(conn)) == 4


async def test_rows_already_in_the_default_partition_move_into_the_new_one(
    lake: AsyncEngine,
) -> None:
    async with lake.begin() as conn:
        community_id = await _community(conn)
        await _event(conn, community_id, datetime(2026, 3, 10, 0, 0, tzinfo=UTC), "first")
        await _event(conn, community_id, datetime(2026, 3, 10, 13, 0, tzinfo=UTC), "noon")
        await _event(conn, community_id, datetime(2026, 3, 11, 1, 0, tzinfo=UTC), "other-day")
    async with lake.connect() as conn:
        assert set((await _where(conn)).values()) == {"events_default"}

    async with lake.begin() as conn:
        created = await ensure_daily_partitions(conn, DAY, DAY)
    assert [(p.name, p.moved_rows) for p in created] == [("events_p20260310", 2)]

    async with lake.connect() as conn:
        assert await _where(conn) == {
            "first": "events_p20260310",
            "noon": "events_p20260310",
            "other-day": "events_default",
        }
        # Moved rows keep their ids and contents, and a redelivery is still a duplicate.
        count = await conn.scalar(text("SELECT count(DISTINCT id) FROM events"))
        assert count == 3
        with pytest.raises(IntegrityError, match="duplicate key"):
            await _event(conn, community_id, datetime(2026, 3, 10, 13, 0, tzinfo=UTC), "noon")


async def test_future_days_are_created_and_receive_their_rows(lake: AsyncEngine) -> None:
    future = date.today() + timedelta(days=400)
    async with lake.begin() as conn:
        created = await ensure_daily_partitions(conn, future, future + timedelta(days=6))
        community_id = await _community(conn)
        at = datetime(future.year, future.month, future.day, 8, tzinfo=UTC)
        await _event(conn, community_id, at + timedelta(days=6), "ahead")
    assert len(created) == 7
    async with lake.connect() as conn:
        assert await _where(conn) == {"ahead": partition_name(future + timedelta(days=6))}


async def test_an_empty_range_is_refused(lake: AsyncEngine) -> None:
    async with lake.connect() as conn:
        with pytest.raises(ValueError, match="after last day"):
            await ensure_daily_partitions(conn, DAY, DAY - timedelta(days=1))


async def _waiting_on_a_lock(engine: AsyncEngine, pid: int) -> bool:
    async with engine.connect() as probe:
        kind = await probe.scalar(
            text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )
    return bool(kind == "Lock")


async def test_two_processes_creating_the_same_days_at_once_both_succeed(
    lake: AsyncEngine,
) -> None:
    days = (DAY, DAY + timedelta(days=4))
    async with lake.connect() as first, lake.connect() as second:
        second_pid = await second.scalar(text("SELECT pg_backend_pid()"))
        await second.commit()
        assert isinstance(second_pid, int)
        await first.begin()
        made_first = await ensure_daily_partitions(first, *days)
        # The second run starts while the first has created but not yet committed.
        racing = asyncio.create_task(_ensure_and_commit(second, *days))
        for _ in range(200):
            if await _waiting_on_a_lock(lake, second_pid):
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the second run never waited for the first")
        assert not racing.done()
        await first.commit()
        made_second = await asyncio.wait_for(racing, timeout=10)
    assert len(made_first) == 5
    assert made_second == []
    async with lake.connect() as conn:
        assert [p.day for p in await list_partitions(conn)] == [p.day for p in made_first]


async def _ensure_and_commit(conn: AsyncConnection, first: date, last: date) -> list[object]:
    async with conn.begin():
        return list(await ensure_daily_partitions(conn, first, last))


async def test_a_hand_made_wider_partition_is_respected(lake: AsyncEngine) -> None:
    async with lake.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE events_2026_03 PARTITION OF events "
                "FOR VALUES FROM ('2026-03-01 00:00+00') TO ('2026-04-01 00:00+00')"
            )
        )
        created = await ensure_daily_partitions(conn, date(2026, 3, 30), date(2026, 4, 2))
        listed = await list_partitions(conn)
    assert [p.day for p in created] == [date(2026, 4, 1), date(2026, 4, 2)]
    assert listed[0].name == "events_2026_03"
    assert listed[0].day is None
