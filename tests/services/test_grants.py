"""Manual grants: recorded with their audit entry, idempotent, refused when meaningless."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.services.factories import ADMIN, OTHER_ADMIN, audit_count, make_plaza
from townsquare.config.settings import DatabaseSettings
from townsquare.errors import ConfigInvalid, IdempotencyConflict, NotFound
from townsquare.services.audit import list_entries
from townsquare.services.community_config import apply_edit, edits
from townsquare.services.grants import (
    GrantAction,
    GrantInvalid,
    GrantRequest,
    GrantStatus,
    get_grant,
    list_grants,
    request_grant,
)
from townsquare.store.engine import create_db_engine, create_session_factory


def award(member_id: int, key: str = "k1", **values: Any) -> GrantRequest:
    fields: dict[str, Any] = {"xp": 100, "gold": 5, "reason": "event winner", **values}
    return GrantRequest(
        member_id=member_id, action=GrantAction.AWARD, idempotency_key=key, **fields
    )


async def test_a_grant_is_recorded_pending_with_its_audit_entry(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    alice = plaza.members["alice"]

    grant = await request_grant(session, ADMIN, plaza.community_id, award(alice))

    assert grant.status is GrantStatus.PENDING
    assert (grant.member_id, grant.xp, grant.stars, grant.gold) == (alice, 100, 0, 5)
    assert (grant.attempts, grant.event_id, grant.applied_at) == (0, None, None)
    assert grant.actor.id == ADMIN.id
    [entry] = (await list_entries(session, plaza.community_id)).entries
    assert (entry.action, entry.target_type, entry.target_id) == (
        "grant.award",
        "member",
        str(alice),
    )
    assert entry.after["grant_id"] == grant.id
    assert entry.actor == ADMIN
    assert await get_grant(session, plaza.community_id, grant.id) == grant


async def test_the_same_key_and_request_returns_the_first_grant_once(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session)
    request = award(plaza.members["alice"])

    first = await request_grant(session, ADMIN, plaza.community_id, request)
    again = await request_grant(session, OTHER_ADMIN, plaza.community_id, request)

    assert again == first
    assert await audit_count(session, plaza.community_id) == 1
    assert len((await list_grants(session, plaza.community_id)).grants) == 1


@pytest.mark.parametrize(
    "changed",
    [{"xp": 101}, {"gold": 0, "stars": 5}, {"reason": "another"}, {"member": "bob"}],
    ids=["xp", "currency", "reason", "member"],
)
async def test_the_same_key_with_a_different_request_conflicts(
    session: AsyncSession, changed: dict[str, Any]
) -> None:
    plaza = await make_plaza(session)
    await request_grant(session, ADMIN, plaza.community_id, award(plaza.members["alice"]))
    member = plaza.members[changed.pop("member", "alice")]

    with pytest.raises(IdempotencyConflict):
        await request_grant(session, ADMIN, plaza.community_id, award(member, **changed))

    assert await audit_count(session, plaza.community_id) == 1


async def test_keys_are_scoped_to_their_community(session: AsyncSession) -> None:
    mine, theirs = await make_plaza(session), await make_plaza(session)

    a = await request_grant(session, ADMIN, mine.community_id, award(mine.members["alice"]))
    b = await request_grant(session, ADMIN, theirs.community_id, award(theirs.members["alice"]))

    assert a.id != b.id


async def test_a_member_of_another_community_is_not_found(session: AsyncSession) -> None:
    mine, theirs = await make_plaza(session), await make_plaza(session)

    with pytest.raises(NotFound):
        await request_grant(session, ADMIN, mine.community_id, award(theirs.members["alice"]))

    assert await audit_count(session, mine.community_id) == 0


async def test_a_grant_of_nothing_is_refused(session: AsyncSession) -> None:
    plaza = await make_plaza(session)

    with pytest.raises(GrantInvalid) as invalid:
        await request_grant(
            session, ADMIN, plaza.community_id, award(plaza.members["alice"], xp=0, gold=0)
        )

    assert isinstance(invalid.value, ConfigInvalid)
    assert invalid.value.message.startswith("The grant is not valid")
    assert await audit_count(session, plaza.community_id) == 0


async def test_an_achievement_the_community_does_not_define_is_refused(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session)
    request = award(plaza.members["alice"], xp=0, gold=0, achievement_key="ghost")

    with pytest.raises(GrantInvalid) as invalid:
        await request_grant(session, ADMIN, plaza.community_id, request)

    assert invalid.value.errors[0][0] == ("achievement_key",)


async def test_a_defined_achievement_can_be_awarded_and_revoked(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    cid, alice = plaza.community_id, plaza.members["alice"]
    hero = {"id": "hero", "name": "Hero", "trigger": {"type": "manual"}}
    await apply_edit(session, ADMIN, cid, edits.put_achievement(hero), expected_version=0)

    granted = await request_grant(
        session, ADMIN, cid, award(alice, "k-award", xp=0, gold=0, achievement_key="hero")
    )
    revoked = await request_grant(
        session,
        ADMIN,
        cid,
        GrantRequest(
            member_id=alice,
            action=GrantAction.REVOKE,
            achievement_key="hero",
            idempotency_key="k-revoke",
        ),
    )

    assert (granted.achievement_key, revoked.action) == ("hero", GrantAction.REVOKE)


def test_negative_amounts_are_refused_before_the_service() -> None:
    with pytest.raises(ValidationError):
        award(1, xp=-5)


async def test_grants_are_listed_newest_first_with_filters_and_pages(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session)
    cid = plaza.community_id
    alice, bob = plaza.members["alice"], plaza.members["bob"]
    made = [
        (await request_grant(session, ADMIN, cid, award(member, f"k{n}"))).id
        for n, member in enumerate([alice, bob, alice, alice])
    ]

    first = await list_grants(session, cid, limit=3)
    rest = await list_grants(session, cid, before_id=first.next_before_id, limit=3)
    assert [g.id for g in first.grants + rest.grants] == made[::-1]
    assert rest.next_before_id is None
    by_bob = await list_grants(session, cid, member_id=bob)
    assert [g.id for g in by_bob.grants] == [made[1]]
    assert (await list_grants(session, cid, status=GrantStatus.APPLIED)).grants == []


async def test_an_unknown_grant_is_not_found(session: AsyncSession) -> None:
    plaza = await make_plaza(session)

    with pytest.raises(NotFound):
        await get_grant(session, plaza.community_id, 10**12)


@pytest.fixture
async def sessions(migrated_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_db_engine(migrated_database, DatabaseSettings(pool_size=3))
    yield create_session_factory(engine)
    await engine.dispose()


async def test_concurrent_retries_of_one_key_record_one_grant(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        plaza = await make_plaza(session)
        await session.commit()
    request = award(plaza.members["alice"])
    first_inserted = asyncio.Event()

    async def first() -> int:
        async with sessions() as session:
            grant = await request_grant(session, ADMIN, plaza.community_id, request)
            first_inserted.set()
            await asyncio.sleep(0.2)  # the retry now waits on the unique index
            await session.commit()
            return grant.id

    async def retry() -> int:
        await first_inserted.wait()
        async with sessions() as session:
            grant = await request_grant(session, ADMIN, plaza.community_id, request)
            await session.commit()
            return grant.id

    ids = await asyncio.gather(first(), retry())

    assert ids[0] == ids[1]
    async with sessions() as session:
        assert await audit_count(session, plaza.community_id) == 1
