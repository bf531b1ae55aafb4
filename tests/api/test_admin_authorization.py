"""The authorization matrix: every admin route × every kind of caller.

The routes come from the app itself, and the table of what each needs must cover exactly
them, so a new admin route fails here until someone decides who may call it. Requests are
minimal (unknown ids, a body with an extra field): any answer but 401/403 means the caller
got past authorization, and nothing is changed on the way.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from fastapi.routing import iter_route_contexts

from tests.api.admin_helpers import ADMIN_PREFIX, World, copied_database, open_world
from townsquare.api.app import create_app
from townsquare.config.settings import load_settings
from townsquare.services.accounts import Permission

READ, GRANT, CONFIGURE, ACCESS = (
    Permission.READ,
    Permission.GRANT,
    Permission.CONFIGURE,
    Permission.MANAGE_ACCESS,
)
#: What each admin route needs, by method and path below the community.
EXPECTED: dict[tuple[str, str], Permission] = {
    ("GET", "/config"): READ,
    ("GET", "/config/sections/{section}"): READ,
    ("PUT", "/config/sections/{section}"): CONFIGURE,
    ("POST", "/config/import"): CONFIGURE,
    ("PUT", "/config/channel-rules/{target_id}"): CONFIGURE,
    ("DELETE", "/config/channel-rules/{target_id}"): CONFIGURE,
    ("PUT", "/config/channel-type-defaults/{channel_type}"): CONFIGURE,
    ("DELETE", "/config/channel-type-defaults/{channel_type}"): CONFIGURE,
    ("PUT", "/config/role-multipliers/{role_id}"): CONFIGURE,
    ("DELETE", "/config/role-multipliers/{role_id}"): CONFIGURE,
    ("PUT", "/config/role-combine"): CONFIGURE,
    ("PUT", "/config/no-reward-channels/{channel_id}"): CONFIGURE,
    ("DELETE", "/config/no-reward-channels/{channel_id}"): CONFIGURE,
    ("PUT", "/config/no-reward-roles/{role_id}"): CONFIGURE,
    ("DELETE", "/config/no-reward-roles/{role_id}"): CONFIGURE,
    ("PUT", "/config/achievements/{achievement_id}"): CONFIGURE,
    ("DELETE", "/config/achievements/{achievement_id}"): CONFIGURE,
    ("PUT", "/config/catalog/{kind}/{key}"): CONFIGURE,
    ("DELETE", "/config/catalog/{kind}/{key}"): CONFIGURE,
    ("PUT", "/config/seasons/windows/{season_id}"): CONFIGURE,
    ("DELETE", "/config/seasons/windows/{season_id}"): CONFIGURE,
    ("POST", "/config/seasons/end-current"): CONFIGURE,
    ("PUT", "/config/seasons/schedule"): CONFIGURE,
    ("DELETE", "/config/seasons/schedule"): CONFIGURE,
    ("POST", "/grants"): GRANT,
    ("GET", "/grants"): READ,
    ("GET", "/grants/{grant_id}"): READ,
    ("GET", "/audit"): READ,
    ("GET", "/problems"): READ,
    ("GET", "/lake/events"): READ,
    ("POST", "/lake/retention"): CONFIGURE,
    ("POST", "/lake/reconcile"): CONFIGURE,
    ("POST", "/lake/backfill"): CONFIGURE,
    ("GET", "/access/roles"): ACCESS,
    ("PUT", "/access/roles/{user_id}"): ACCESS,
    ("DELETE", "/access/roles/{user_id}"): ACCESS,
    ("GET", "/access/tokens"): ACCESS,
    ("POST", "/access/tokens"): ACCESS,
    ("DELETE", "/access/tokens/{token_id}"): ACCESS,
}
#: What each caller may do in the community under test (None: not signed in at all).
CALLERS: dict[str, frozenset[Permission] | None] = {
    "anonymous": None,
    "viewer": frozenset({READ}),
    "moderator": frozenset({READ, GRANT}),
    "admin": frozenset({READ, GRANT, CONFIGURE}),
    "owner": frozenset(Permission),
    "instance-admin": frozenset(Permission),
    "token-read": frozenset({READ}),
    "token-grant": frozenset({GRANT}),
    "token-configure": frozenset({CONFIGURE}),
    "other-owner": frozenset(),
    "other-token": frozenset(),
}
#: Values for path parameters that name nothing, so an authorized call changes nothing.
_PATH_VALUES = {
    "section": "general",
    "target_id": "999",
    "channel_type": "text",
    "role_id": "999",
    "channel_id": "999",
    "achievement_id": "nope",
    "kind": "rarities",
    "key": "nope",
    "season_id": "nope",
    "grant_id": "999999",
    "user_id": "999999",
    "token_id": "999999",
}
_PREFIX = f"{ADMIN_PREFIX}/{{community_id}}"


def admin_routes() -> set[tuple[str, str]]:
    app = create_app(load_settings(), "postgresql://nobody@127.0.0.1:1/none")
    found = set()
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if path.startswith(ADMIN_PREFIX):
            assert path.startswith(_PREFIX), f"{path} is not below a community"
            for method in route.methods or ():
                found.add((method, path.removeprefix(_PREFIX)))
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: _PATH_VALUES[match.group(1)], path)


@pytest.fixture(scope="module")
async def world(postgres_server: str, migrated_template: str) -> AsyncIterator[World]:
    with copied_database(postgres_server, migrated_template) as url:
        async with open_world(url) as opened:
            yield opened


def test_every_admin_route_is_in_the_matrix() -> None:
    assert admin_routes() == set(EXPECTED)


@pytest.mark.parametrize("caller", sorted(CALLERS))
async def test_each_caller_reaches_exactly_the_routes_its_permissions_allow(
    world: World, caller: str
) -> None:
    allowed = CALLERS[caller]
    wrong = []
    for method, path in sorted(EXPECTED):
        response = await world.request(
            caller,
            method,
            concrete(path),
            **({"json": {"not_a_field": True}} if method in ("PUT", "POST") else {}),
        )
        if allowed is None:
            expected = "401"
        elif EXPECTED[(method, path)] in allowed:
            expected = "allowed"
        else:
            expected = "403"
        got = str(response.status_code) if response.status_code in (401, 403) else "allowed"
        if got != expected:
            wrong.append(f"{method} {path}: expected {expected}, got {response.status_code}")
        assert response.status_code < 500, f"{method} {path}: {response.text}"
    assert wrong == []


async def test_a_cookie_change_without_the_csrf_header_is_forbidden(world: World) -> None:
    owner = world.callers["owner"].without_csrf()
    response = await world.request(
        owner, "PUT", "/config/sections/general", json={"value": {}, "expected_version": 0}
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "X-CSRF-Token" in response.json()["detail"]


async def test_a_cookie_read_needs_no_csrf_header(world: World) -> None:
    viewer = world.callers["viewer"].without_csrf()
    response = await world.request(viewer, "GET", "/config")
    assert response.status_code == 200


async def test_a_wrong_bearer_token_is_401_never_anonymous(world: World) -> None:
    response = await world.client.get(
        world.url("/config"), headers={"Authorization": "Bearer tsq_not-a-token"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_every_admin_operation_documents_its_problems_and_examples() -> None:
    schema = create_app(load_settings(), "postgresql://nobody@127.0.0.1:1/none").openapi()
    undocumented = []
    for method, path in sorted(EXPECTED):
        operation = schema["paths"][_PREFIX + path][method.lower()]
        responses = operation["responses"]
        success = next(code for code in responses if code.startswith("2"))
        example_needed = success != "204"  # no content, nothing to show
        if not {"401", "403"} <= set(responses) or (
            example_needed and "example" not in str(responses[success])
        ):
            undocumented.append(f"{method} {path}: responses")
        if method in ("PUT", "POST") and "example" not in str(operation.get("requestBody")):
            undocumented.append(f"{method} {path}: request example")
    assert undocumented == []
