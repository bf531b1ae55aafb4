"""Roles and API tokens over HTTP: audited, the plaintext shown once, an owner always left."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.admin_helpers import World, copied_database, open_world, signed_in
from townsquare.services.accounts import Role


@pytest.fixture(scope="module")
async def world(postgres_server: str, migrated_template: str) -> AsyncIterator[World]:
    with copied_database(postgres_server, migrated_template) as url:
        async with open_world(url) as opened:
            yield opened


async def _new_user(world: World, name: str) -> int:
    async with world.session() as session:
        caller = await signed_in(session, name, role=None, community_id=None)
        await session.commit()
    assert caller.user_id is not None
    return caller.user_id


async def test_a_role_is_set_listed_and_removed_with_audit_entries(world: World) -> None:
    user_id = await _new_user(world, "newcomer")

    put = await world.request(
        "owner", "PUT", f"/access/roles/{user_id}", json={"role": "moderator", "reason": "help"}
    )
    listed = await world.request("owner", "GET", "/access/roles")
    removed = await world.request("owner", "DELETE", f"/access/roles/{user_id}")

    assert put.status_code == 200
    assert put.json()["role"] == "moderator"
    assert {"user_id": user_id, "role": "moderator"}.items() <= next(
        row for row in listed.json() if row["user_id"] == user_id
    ).items()
    assert removed.status_code == 204
    audit = await world.request(
        "owner", "GET", "/audit", params={"target_type": "user", "target_id": str(user_id)}
    )
    assert [entry["action"] for entry in audit.json()["entries"]] == [
        "access.role.remove",
        "access.role.set",
    ]


async def test_a_role_for_an_unknown_user_is_a_404(world: World) -> None:
    response = await world.request("owner", "PUT", "/access/roles/987654", json={"role": "viewer"})

    assert response.status_code == 404


async def test_the_last_owner_cannot_be_demoted_or_removed(world: World) -> None:
    owner_id = world.callers["owner"].user_id

    demoted = await world.request(
        "instance-admin", "PUT", f"/access/roles/{owner_id}", json={"role": Role.ADMIN}
    )
    removed = await world.request("instance-admin", "DELETE", f"/access/roles/{owner_id}")

    assert demoted.status_code == removed.status_code == 409
    assert demoted.json()["code"] == "last_owner"


async def test_a_token_is_shown_once_works_and_stops_working_when_revoked(
    world: World,
) -> None:
    created = await world.request(
        "owner", "POST", "/access/tokens", json={"name": "bot", "permissions": ["read"]}
    )
    assert created.status_code == 201
    token, details = created.json()["token"], created.json()["details"]
    bearer = {"Authorization": f"Bearer {token}"}

    listed = await world.request("owner", "GET", "/access/tokens")
    works = await world.client.get(world.url("/config"), headers=bearer)
    revoked = await world.request("owner", "DELETE", f"/access/tokens/{details['id']}")
    after = await world.client.get(world.url("/config"), headers=bearer)

    assert token not in listed.text
    assert works.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert after.status_code == 401
    audit = await world.request(
        "owner", "GET", "/audit", params={"target_type": "api_token", "target_id": details["id"]}
    )
    assert token not in audit.text
    assert [entry["action"] for entry in audit.json()["entries"]] == [
        "access.token.revoke",
        "access.token.create",
    ]


async def test_no_token_can_manage_access(world: World) -> None:
    response = await world.request(
        "owner",
        "POST",
        "/access/tokens",
        json={"name": "escalate", "permissions": ["manage_access"]},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "access_invalid"
