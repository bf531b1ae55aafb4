"""The guarantees the schema itself enforces, whatever the code above it does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.store.models import (
    Balance,
    Base,
    Community,
    Event,
    LedgerEntry,
    Member,
    MemberIdentity,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def _community(session: AsyncSession, slug: str = "plaza") -> int:
    return (
        await session.execute(
            insert(Community).values(slug=slug, name=slug.title()).returning(Community.id)
        )
    ).scalar_one()


async def _member(session: AsyncSession, community_id: int, member_id: int | None = None) -> int:
    values: dict[str, object] = {"community_id": community_id, "display_name": "Ana"}
    if member_id is not None:
        values["id"] = member_id
    return (
        await session.execute(insert(Member).values(**values).returning(Member.id))
    ).scalar_one()


# Accounts belong to the instance (one person administers several communities).
INSTANCE_TABLES = {"communities", "users", "user_identities", "auth_sessions"}


def test_every_table_is_keyed_by_community_first() -> None:
    for table in Base.metadata.sorted_tables:
        if table.name in INSTANCE_TABLES:
            continue
        first = next(iter(table.primary_key.columns))
        assert first.name == "community_id", table.name


def test_every_integer_column_is_64_bit() -> None:
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.type.python_type is int:
                assert column.type.compile() == "BIGINT", f"{table.name}.{column.name}"


async def test_ids_beyond_32_bits_are_stored(session: AsyncSession) -> None:
    community_id = await _community(session)
    big = 2**40 + 7
    assert await _member(session, community_id, member_id=big) == big


async def test_ledger_is_append_only(session: AsyncSession) -> None:
    community_id = await _community(session)
    member_id = await _member(session, community_id)
    await session.execute(
        insert(LedgerEntry).values(
            community_id=community_id,
            member_id=member_id,
            xp=15,
            gold=2,
            reason="message",
            occurred_at=NOW,
        )
    )
    for statement in ("UPDATE ledger_entries SET xp = 1000", "DELETE FROM ledger_entries"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with session.begin_nested():
                await session.execute(text(statement))
    total = (await session.execute(select(func.sum(LedgerEntry.xp)))).scalar()
    assert total == 15


async def test_erasing_a_community_is_explicit_and_complete(session: AsyncSession) -> None:
    community_id = await _community(session)
    member_id = await _member(session, community_id)
    await session.execute(
        insert(LedgerEntry).values(
            community_id=community_id,
            member_id=member_id,
            gold=5,
            reason="grant",
            occurred_at=NOW,
        )
    )
    await session.execute(text("SET LOCAL townsquare.allow_erase = 'on'"))
    await session.execute(text("DELETE FROM communities WHERE id = :id"), {"id": community_id})
    for model in (Member, LedgerEntry):
        count = (
            await session.execute(
                select(func.count()).select_from(model).where(model.community_id == community_id)
            )
        ).scalar()
        assert count == 0


async def test_redelivered_event_is_a_no_op(session: AsyncSession) -> None:
    community_id = await _community(session)
    row = {
        "community_id": community_id,
        "platform": "discord",
        "platform_event_id": "1176543210987654321",
        "kind": "message",
        "occurred_at": NOW,
        "metadata_": {"length": 42},
    }
    statement = pg_insert(Event).on_conflict_do_nothing().returning(Event.id)
    first = (await session.execute(statement, [row])).scalars().all()
    again = (await session.execute(statement, [row])).scalars().all()
    assert len(first) == 1
    assert again == []


async def test_events_of_any_date_have_a_partition(session: AsyncSession) -> None:
    community_id = await _community(session)
    for year in (1999, 2026, 2099):
        await session.execute(
            insert(Event).values(
                community_id=community_id,
                platform="line",
                platform_event_id=f"e{year}",
                kind="message",
                occurred_at=NOW.replace(year=year),
            )
        )
    count = (await session.execute(select(func.count()).select_from(Event))).scalar()
    assert count == 3


async def test_a_platform_account_belongs_to_one_member(session: AsyncSession) -> None:
    community_id = await _community(session)
    first = await _member(session, community_id)
    second = await _member(session, community_id)
    identity = {"community_id": community_id, "platform": "line", "external_user_id": "U1234"}
    await session.execute(insert(MemberIdentity).values(member_id=first, **identity))
    await session.execute(
        insert(MemberIdentity).values(
            member_id=first, community_id=community_id, platform="discord", external_user_id="99"
        )
    )
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await session.execute(insert(MemberIdentity).values(member_id=second, **identity))


async def test_balance_rows_default_to_zero_lifetime(session: AsyncSession) -> None:
    community_id = await _community(session)
    member_id = await _member(session, community_id)
    await session.execute(insert(Balance).values(community_id=community_id, member_id=member_id))
    row = (await session.execute(select(Balance))).scalar_one()
    assert (row.season, row.xp, row.stars, row.gold, row.level) == ("", 0, 0, 0, 0)
