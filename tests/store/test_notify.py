from __future__ import annotations

import json
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from townsquare.errors import NotifyRejected
from townsquare.store.engine import create_session_factory, libpq_url
from townsquare.store.notify import (
    MAX_PAYLOAD_BYTES,
    NotifyChannel,
    pending_notifications,
    queue_notify,
)

CHANNEL = NotifyChannel.CONFIG


@pytest.fixture
async def listener(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[object]]:
    async with await psycopg.AsyncConnection.connect(
        libpq_url(database_url), autocommit=True
    ) as conn:
        await conn.execute(f"LISTEN {CHANNEL}")
        yield conn


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


async def _received(conn: psycopg.AsyncConnection[object], wait: float = 0.5) -> list[str]:
    return [n.payload async for n in conn.notifies(timeout=wait)]


async def test_notification_fires_when_the_transaction_commits(
    listener: psycopg.AsyncConnection[object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        await session.execute(text("SELECT 1"))
        queue_notify(session, CHANNEL, {"community": 7, "version": 3})
        assert await _received(listener, 0.2) == []  # queued, not sent
        await session.commit()
    assert [json.loads(p) for p in await _received(listener)] == [{"community": 7, "version": 3}]


async def test_notification_is_sent_inside_the_transaction_not_after(
    listener: psycopg.AsyncConnection[object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        queue_notify(session, CHANNEL, "hello")
        await session.execute(text("CREATE TEMP TABLE probe (x int) ON COMMIT DROP"))
        # Make the commit itself fail after before_commit ran: the NOTIFY must die with it.
        await session.execute(
            text(
                "CREATE TEMP TABLE parent (id int PRIMARY KEY) ON COMMIT DROP; "
                "CREATE TEMP TABLE child (id int REFERENCES parent DEFERRABLE INITIALLY DEFERRED)"
                " ON COMMIT DROP; INSERT INTO child VALUES (1)"
            )
        )
        with pytest.raises(Exception, match="foreign key"):
            await session.commit()
    assert await _received(listener) == []


async def test_rolled_back_transaction_sends_nothing(
    listener: psycopg.AsyncConnection[object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        await session.execute(text("SELECT 1"))
        queue_notify(session, CHANNEL, "never")
        await session.rollback()
        assert pending_notifications(session) == []
        await session.commit()
    assert await _received(listener) == []


async def test_rolled_back_savepoint_takes_only_its_own_notifications(
    listener: psycopg.AsyncConnection[object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        queue_notify(session, CHANNEL, "kept")
        try:
            async with session.begin_nested():
                queue_notify(session, CHANNEL, "dropped")
                raise RuntimeError("undo the savepoint")
        except RuntimeError:
            pass
        async with session.begin_nested():
            queue_notify(session, CHANNEL, "kept too")
        await session.commit()
    assert sorted(await _received(listener)) == ["kept", "kept too"]


async def test_identical_notifications_are_sent_once(
    listener: psycopg.AsyncConnection[object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        for _ in range(3):
            queue_notify(session, CHANNEL, {"community": 1})
        await session.commit()
    assert len(await _received(listener)) == 1


async def test_largest_allowed_payload_arrives_intact(
    listener: psycopg.AsyncConnection[object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    payload = "é" * ((MAX_PAYLOAD_BYTES - 1) // 2) + "x"
    assert len(payload.encode()) == MAX_PAYLOAD_BYTES
    async with sessions() as session:
        queue_notify(session, CHANNEL, payload)
        await session.commit()
    assert await _received(listener) == [payload]


def test_payload_over_the_limit_is_refused_when_queued(session: AsyncSession) -> None:
    with pytest.raises(NotifyRejected, match=f"{MAX_PAYLOAD_BYTES + 1} bytes"):
        queue_notify(session, CHANNEL, "x" * (MAX_PAYLOAD_BYTES + 1))
    assert pending_notifications(session) == []


def test_channel_outside_the_allowlist_is_refused(session: AsyncSession) -> None:
    with pytest.raises(NotifyRejected, match="not allowed"):
        queue_notify(session, "pg_catalog; DROP TABLE x", "boom")
