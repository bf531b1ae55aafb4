"""The audit log: entries as recorded, filtered and paged newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tests.services.factories import ADMIN, OTHER_ADMIN, make_plaza
from townsquare.services.audit import (
    MAX_PAGE,
    Actor,
    ActorType,
    AuditFilters,
    list_entries,
    record,
)
from townsquare.store.models import AuditEntry


async def test_recorded_entry_reads_back_with_actor_target_and_values(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session)

    entry = await record(
        session,
        ADMIN,
        plaza.community_id,
        "config.channel_rule.put",
        "channel_rule",
        "100/*",
        None,
        {"target_id": "100", "multiplier": 2.0},
        "double XP in #events",
    )

    page = await list_entries(session, plaza.community_id)
    assert page.entries == [entry]
    assert entry.actor == ADMIN
    assert entry.actor.source_ip == "203.0.113.7"
    assert (entry.before, entry.after) == (None, {"target_id": "100", "multiplier": 2.0})
    assert entry.reason == "double XP in #events"
    assert page.next_before_id is None


async def test_list_values_and_long_reasons_are_kept(session: AsyncSession) -> None:
    plaza = await make_plaza(session)

    entry = await record(
        session,
        ADMIN,
        plaza.community_id,
        "config.achievements.replace",
        "config_section",
        "achievements",
        [],
        [{"id": "a"}],
        "x" * 600,
    )

    assert entry.after == [{"id": "a"}]
    assert entry.reason == "x" * 500


async def test_filters_select_by_actor_action_target_and_time(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    cid = plaza.community_id
    old = datetime(2020, 1, 1, tzinfo=UTC)
    first_id = (
        await session.execute(
            insert(AuditEntry)
            .values(
                community_id=cid,
                occurred_at=old,
                actor_type="user",
                actor_id="admin-1",
                action="grant.award",
                target_type="member",
                target_id="1",
            )
            .returning(AuditEntry.id)
        )
    ).scalar_one()
    second = await record(session, OTHER_ADMIN, cid, "grant.award", "member", "2", None, {}, None)
    third = await record(
        session, ADMIN, cid, "config.quality.replace", "config_section", "quality", {}, {}, None
    )

    async def ids(**filters: object) -> list[int]:
        page = await list_entries(session, cid, AuditFilters.model_validate(filters))
        return [entry.id for entry in page.entries]

    assert await ids() == [third.id, second.id, first_id]
    assert await ids(actor_type=ActorType.API_TOKEN) == [second.id]
    assert await ids(actor_id="admin-1") == [third.id, first_id]
    assert await ids(action="grant.award") == [second.id, first_id]
    assert await ids(target_type="member", target_id="2") == [second.id]
    assert await ids(since=old + timedelta(days=1)) == [third.id, second.id]
    assert await ids(until=old + timedelta(days=1)) == [first_id]


async def test_pages_walk_every_entry_once_newest_first(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    cid = plaza.community_id
    made = [
        (await record(session, ADMIN, cid, "grant.award", "member", str(n), None, {}, None)).id
        for n in range(7)
    ]

    seen: list[int] = []
    before_id = None
    while True:
        page = await list_entries(session, cid, before_id=before_id, limit=3)
        seen += [entry.id for entry in page.entries]
        if page.next_before_id is None:
            break
        before_id = page.next_before_id

    assert seen == sorted(made, reverse=True)


async def test_a_page_never_exceeds_the_maximum(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    for n in range(3):
        await record(session, ADMIN, plaza.community_id, "a", "member", str(n), None, {}, None)

    assert len((await list_entries(session, plaza.community_id, limit=10_000)).entries) == 3
    assert len((await list_entries(session, plaza.community_id, limit=0)).entries) == 1
    assert MAX_PAGE == 200


async def test_entries_of_other_communities_are_not_listed(session: AsyncSession) -> None:
    mine, theirs = await make_plaza(session), await make_plaza(session)
    await record(session, ADMIN, theirs.community_id, "a", "member", "1", None, {}, None)

    assert (await list_entries(session, mine.community_id)).entries == []


def test_an_actor_with_an_invalid_source_ip_is_refused() -> None:
    with pytest.raises(ValidationError):
        Actor(type=ActorType.USER, id="u", source_ip="not-an-ip")
    assert Actor(type=ActorType.CLI, id="u", source_ip=" ::1 ").source_ip == "::1"
