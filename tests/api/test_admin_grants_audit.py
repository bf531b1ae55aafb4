"""Grants (idempotent by header), the audit log's filters and paging, the mutation limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.admin_helpers import World, copied_database, open_world


@pytest.fixture(scope="module")
async def world(postgres_server: str, migrated_template: str) -> AsyncIterator[World]:
    with copied_database(postgres_server, migrated_template) as url:
        async with open_world(url) as opened:
            yield opened


def _award(world: World, xp: int = 100) -> dict[str, object]:
    return {
        "member_id": world.plaza.members["alice"],
        "action": "award",
        "xp": xp,
        "reason": "winner",
    }


async def test_a_replayed_grant_returns_the_first_one_once(world: World) -> None:
    headers = {"Idempotency-Key": "form-1"}
    first = await world.request("moderator", "POST", "/grants", json=_award(world), headers=headers)
    again = await world.request(
        "token-grant", "POST", "/grants", json=_award(world), headers=headers
    )

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert first.json()["status"] == "pending"
    listed = await world.request("viewer", "GET", "/grants")
    assert [grant["id"] for grant in listed.json()["grants"]] == [first.json()["id"]]
    one = await world.request("token-read", "GET", f"/grants/{first.json()['id']}")
    assert one.json() == first.json()


async def test_the_same_key_for_another_grant_is_a_409(world: World) -> None:
    headers = {"Idempotency-Key": "form-2"}
    await world.request("moderator", "POST", "/grants", json=_award(world), headers=headers)

    response = await world.request(
        "moderator", "POST", "/grants", json=_award(world, xp=5), headers=headers
    )

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"


async def test_a_grant_needs_an_idempotency_key(world: World) -> None:
    response = await world.request("moderator", "POST", "/grants", json=_award(world))

    assert response.status_code == 422


async def test_a_grant_for_a_member_of_another_community_is_a_404(world: World) -> None:
    body = _award(world) | {"member_id": world.other.members["alice"]}
    response = await world.request(
        "moderator", "POST", "/grants", json=body, headers={"Idempotency-Key": "form-3"}
    )

    assert response.status_code == 404


async def test_audit_filters_by_actor_action_target_and_time_and_pages(world: World) -> None:
    for number in range(3):
        await world.request(
            "admin",
            "POST",
            "/grants",
            json=_award(world, xp=10 + number),
            headers={"Idempotency-Key": f"audit-{number}"},
        )
    admin_id = str(world.callers["admin"].user_id)
    filters = {"actor_type": "user", "actor_id": admin_id, "action": "grant.award"}

    first = await world.request("viewer", "GET", "/audit", params=filters | {"limit": 2})
    page = first.json()
    second = await world.request(
        "viewer",
        "GET",
        "/audit",
        params=filters | {"limit": 2, "before_id": page["next_before_id"]},
    )

    entries = page["entries"] + second.json()["entries"]
    assert [entry["after"]["xp"] for entry in entries] == [12, 11, 10]
    assert second.json()["next_before_id"] is None
    assert {entry["actor"]["id"] for entry in entries} == {admin_id}
    member = str(world.plaza.members["alice"])
    by_target = await world.request(
        "viewer", "GET", "/audit", params={"target_type": "member", "target_id": member}
    )
    assert len(by_target.json()["entries"]) >= 3
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = await world.request("viewer", "GET", "/audit", params={"since": future})
    assert later.json()["entries"] == []
    earlier = await world.request("viewer", "GET", "/audit", params={"until": future})
    assert len(earlier.json()["entries"]) >= 3


async def test_audit_times_must_carry_a_zone(world: World) -> None:
    response = await world.request("viewer", "GET", "/audit", params={"since": "2026-01-01T00:00"})

    assert response.status_code == 422


async def test_mutations_over_the_limit_are_429_with_retry_after(
    postgres_server: str, migrated_template: str
) -> None:
    with copied_database(postgres_server, migrated_template) as url:
        async with open_world(url, mutation_rate_limit="2/minute") as world:
            statuses = []
            for _ in range(3):
                response = await world.request(
                    "moderator",
                    "POST",
                    "/grants",
                    json=_award(world),
                    headers={"Idempotency-Key": "limit"},  # replays count too
                )
                statuses.append(response.status_code)
            other_caller = await world.request("owner", "GET", "/audit")

    assert statuses == [202, 202, 429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["code"] == "rate_limited"
    assert other_caller.status_code == 200


async def test_problems_list_the_open_ones_counted_and_forget_resolved_ones(
    world: World,
) -> None:
    from townsquare.services.communities import record_problem, resolve_problems

    async with world.session() as session:
        for _ in range(3):
            await record_problem(
                session, world.community_id, "discord", "role_forbidden", "42", "too low"
            )
        await record_problem(session, world.community_id, "discord", "role_missing", "7", "gone")
        await resolve_problems(session, world.community_id, "discord", "role_missing", "7")
        await session.commit()

    response = await world.request("viewer", "GET", "/problems")

    assert response.status_code == 200
    assert [(p["kind"], p["subject"], p["occurrences"]) for p in response.json()["problems"]] == [
        ("role_forbidden", "42", 3)
    ]
    assert (await world.request("anonymous", "GET", "/problems")).status_code == 401
