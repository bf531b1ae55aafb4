"""The grant relay through a real pipeline: balances change, once, whatever crashes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.pipeline.test_pipeline import settings
from tests.services.factories import ADMIN, Plaza, add_member, make_plaza
from townsquare.config.settings import DatabaseSettings
from townsquare.pipeline.grants import GrantRelay, RelayRound, grant_event_id
from townsquare.pipeline.ingest import Pipeline
from townsquare.services.community_config import apply_edit, edits
from townsquare.services.grants import (
    GrantAction,
    GrantOut,
    GrantRequest,
    GrantStatus,
    get_grant,
    request_grant,
)
from townsquare.store.engine import create_db_engine, create_session_factory


@pytest.fixture
async def engine(migrated_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_db_engine(migrated_database, DatabaseSettings(pool_size=3))
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
async def plaza(sessions: async_sessionmaker[AsyncSession]) -> Plaza:
    async with sessions() as session:
        made = await make_plaza(session)
        await session.commit()
    return made


@pytest.fixture
async def pipeline(migrated_database: str, tmp_path: Path) -> AsyncIterator[Pipeline]:
    async with Pipeline(migrated_database, settings(tmp_path), DatabaseSettings()) as running:
        yield running


async def grant(
    sessions: async_sessionmaker[AsyncSession],
    plaza: Plaza,
    key: str,
    *,
    member: int | None = None,
    action: GrantAction = GrantAction.AWARD,
    **amounts: Any,
) -> GrantOut:
    request = GrantRequest(
        member_id=member or plaza.members["alice"],
        action=action,
        idempotency_key=key,
        **amounts,
    )
    async with sessions() as session:
        made = await request_grant(session, ADMIN, plaza.community_id, request)
        await session.commit()
    return made


async def reread(sessions: async_sessionmaker[AsyncSession], made: GrantOut) -> GrantOut:
    async with sessions() as session:
        return await get_grant(session, made.community_id, made.id)


async def scalar(sessions: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> Any:
    async with sessions() as session:
        return (await session.execute(text(sql), params)).scalar()


async def lifetime_xp(sessions: async_sessionmaker[AsyncSession], plaza: Plaza) -> int:
    found = await scalar(
        sessions,
        "SELECT xp FROM balances WHERE community_id = :c AND member_id = :m AND season = ''",
        c=plaza.community_id,
        m=plaza.members["alice"],
    )
    return int(found or 0)


async def test_an_award_and_a_revoke_change_the_balance_and_are_marked_applied(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], plaza: Plaza
) -> None:
    award = await grant(sessions, plaza, "k-award", xp=100, stars=3)
    revoke = await grant(sessions, plaza, "k-revoke", action=GrantAction.REVOKE, xp=30)
    relay = GrantRelay(pipeline, sessions)

    done = await relay.run_once()

    assert done == RelayRound(picked=2, applied=2)
    assert await lifetime_xp(sessions, plaza) == 70
    applied = await reread(sessions, award)
    assert applied.status is GrantStatus.APPLIED
    assert applied.event_id is not None
    assert applied.applied_at is not None
    assert (await reread(sessions, revoke)).status is GrantStatus.APPLIED
    lake_id = await scalar(
        sessions,
        "SELECT id FROM events WHERE community_id = :c AND platform_event_id = :e",
        c=plaza.community_id,
        e=grant_event_id(plaza.community_id, award.id),
    )
    assert lake_id == applied.event_id
    assert await relay.run_once() == RelayRound()


async def test_a_crash_before_marking_applied_does_not_apply_twice(
    migrated_database: str,
    tmp_path: Path,
    sessions: async_sessionmaker[AsyncSession],
    plaza: Plaza,
) -> None:
    made = await grant(sessions, plaza, "k1", xp=100, gold=7)
    async with Pipeline(migrated_database, settings(tmp_path), DatabaseSettings()) as before:
        await GrantRelay(before, sessions).run_once()
    ledger_rows = await scalar(
        sessions, "SELECT count(*) FROM ledger_entries WHERE community_id = :c", c=made.community_id
    )
    # The crash: the pipeline committed the event, the grant's status update never did.
    async with sessions() as session:
        await session.execute(
            text(
                "UPDATE manual_grants SET status = 'pending', event_id = NULL, "
                "applied_at = NULL WHERE community_id = :c AND id = :id"
            ),
            {"c": made.community_id, "id": made.id},
        )
        await session.commit()

    # A new process: a new pipeline (no state in memory) and a new relay deliver it again.
    async with Pipeline(migrated_database, settings(tmp_path), DatabaseSettings()) as after:
        done = await GrantRelay(after, sessions).run_once()
        refused_redeliveries = after.figures.duplicates

    assert done.applied == 1
    assert refused_redeliveries == 1  # the event lake refused the second delivery
    assert await lifetime_xp(sessions, plaza) == 100
    assert ledger_rows == await scalar(
        sessions, "SELECT count(*) FROM ledger_entries WHERE community_id = :c", c=made.community_id
    )
    events = await scalar(
        sessions, "SELECT count(*) FROM events WHERE community_id = :c", c=made.community_id
    )
    assert events == 1
    assert (await reread(sessions, made)).status is GrantStatus.APPLIED


async def test_an_achievement_grant_unlocks_it(
    migrated_database: str,
    tmp_path: Path,
    sessions: async_sessionmaker[AsyncSession],
    plaza: Plaza,
) -> None:
    hero = {"id": "hero", "name": "Hero", "trigger": {"type": "manual"}, "reward": {"gold": 50}}
    async with sessions() as session:
        await apply_edit(
            session, ADMIN, plaza.community_id, edits.put_achievement(hero), expected_version=0
        )
        await session.commit()
    made = await grant(sessions, plaza, "k-hero", achievement_key="hero")

    async with Pipeline(migrated_database, settings(tmp_path), DatabaseSettings()) as pipeline:
        assert (await GrantRelay(pipeline, sessions).run_once()).applied == 1

    awards = await scalar(
        sessions,
        "SELECT count(*) FROM achievement_awards WHERE community_id = :c AND member_id = :m "
        "AND achievement_key = 'hero'",
        c=plaza.community_id,
        m=made.member_id,
    )
    assert awards == 1


async def test_a_member_without_identity_fails_after_max_attempts(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], plaza: Plaza
) -> None:
    async with sessions() as session:
        ghost = await add_member(session, plaza.community_id, "ghost", identity=False)
        await session.commit()
    made = await grant(sessions, plaza, "k-ghost", member=ghost, gold=5)
    relay = GrantRelay(pipeline, sessions, max_attempts=2)

    assert await relay.run_once() == RelayRound(picked=1, retrying=1)
    waiting = await reread(sessions, made)
    assert (waiting.status, waiting.attempts) == (GrantStatus.PENDING, 1)
    assert await relay.run_once() == RelayRound(picked=1, failed=1)
    failed = await reread(sessions, made)
    assert (failed.status, failed.attempts) == (GrantStatus.FAILED, 2)
    assert failed.error is not None
    assert "platform identity" in failed.error
    assert await relay.run_once() == RelayRound()


async def test_the_started_relay_applies_new_grants_and_stops_promptly(
    pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], plaza: Plaza
) -> None:
    relay = GrantRelay(pipeline, sessions, poll_seconds=0.05)
    await relay.start()
    try:
        made = await grant(sessions, plaza, "k-live", xp=40)
        async with asyncio.timeout(10):
            while (await reread(sessions, made)).status is GrantStatus.PENDING:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        async with asyncio.timeout(2):
            await relay.stop()

    assert (await reread(sessions, made)).status is GrantStatus.APPLIED
    assert await lifetime_xp(sessions, plaza) == 40
