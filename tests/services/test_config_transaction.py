"""An edit, its audit entry and its NOTIFY commit together or not at all."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.services.factories import ADMIN, audit_count, config_version, make_plaza
from townsquare.config.settings import DatabaseSettings
from townsquare.services.community_config import apply_edit, edits
from townsquare.store.engine import create_db_engine, create_session_factory, libpq_url
from townsquare.store.notify import NotifyChannel, pending_notifications


async def test_a_rolled_back_edit_leaves_neither_audit_entry_nor_notification(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session)
    edit = await session.begin_nested()
    await apply_edit(
        session, ADMIN, plaza.community_id, edits.put_role_multiplier("vip", 2), expected_version=0
    )
    assert len(pending_notifications(session)) == 1
    assert await audit_count(session, plaza.community_id) == 1

    await edit.rollback()

    assert pending_notifications(session) == []
    assert await audit_count(session, plaza.community_id) == 0
    assert await config_version(session, plaza.community_id) == 1


@pytest.fixture
async def sessions(migrated_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_db_engine(migrated_database, DatabaseSettings(pool_size=2))
    yield create_session_factory(engine)
    await engine.dispose()


async def test_listeners_hear_a_committed_edit_and_never_a_rolled_back_one(
    sessions: async_sessionmaker[AsyncSession], migrated_database: str
) -> None:
    async with sessions() as session:
        plaza = await make_plaza(session)
        await session.commit()
    cid = plaza.community_id
    async with await psycopg.AsyncConnection.connect(
        libpq_url(migrated_database), autocommit=True
    ) as listener:
        await listener.execute(f"LISTEN {NotifyChannel.CONFIG.value}")

        async with sessions() as session:
            await apply_edit(
                session, ADMIN, cid, edits.put_role_multiplier("vip", 2), expected_version=0
            )
            await session.rollback()
        assert [n async for n in listener.notifies(timeout=0.3)] == []

        async with sessions() as session:
            await apply_edit(
                session, ADMIN, cid, edits.put_role_multiplier("vip", 3), expected_version=0
            )
            heard_before_commit = [n async for n in listener.notifies(timeout=0.2)]
            await session.commit()
        heard = [json.loads(n.payload) async for n in listener.notifies(timeout=2.0, stop_after=1)]

    assert heard_before_commit == []
    assert heard == [{"community": cid, "version": 2, "sections": ["multipliers"]}]
    async with sessions() as session:
        assert await audit_count(session, cid) == 1
        assert await config_version(session, cid) == 2
