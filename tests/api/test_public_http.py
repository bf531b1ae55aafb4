"""The public API's HTTP contract: ETags and 304s, problem+json 422s, 429s, the OpenAPI."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.api.test_public_reads import Town, api, client_for, town, town_url
from townsquare.api.app import create_app
from townsquare.config.settings import load_settings

__all__ = ["api", "town", "town_url"]  # module-scoped fixtures shared with the content tests

# A well-formed cursor (version 1, value 60, member 9) whose checksum is wrong.
FORGED_CURSOR = base64.urlsafe_b64encode(b"1.60.9.000000000000").decode().rstrip("=")


@pytest.mark.parametrize(
    "path",
    [
        "/communities",
        "/communities/town",
        "/communities/town/leaderboard",
        "/communities/town/members/discord:u03",
        "/communities/town/achievements",
        "/communities/town/seasons",
    ],
)
async def test_a_matching_if_none_match_is_a_bodiless_304(
    api: httpx.AsyncClient, path: str
) -> None:
    first = await api.get(path)
    etag = first.headers["etag"]

    again = await api.get(path, headers={"If-None-Match": etag})
    listed = await api.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    stale = await api.get(path, headers={"If-None-Match": '"not-it"'})

    assert first.status_code == 200
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert listed.status_code == 304
    assert stale.status_code == 200
    assert stale.json() == first.json()


async def test_the_etag_changes_with_the_content(api: httpx.AsyncClient) -> None:
    small = await api.get("/communities/town/leaderboard", params={"limit": 2})
    large = await api.get("/communities/town/leaderboard", params={"limit": 3})

    assert small.headers["etag"] != large.headers["etag"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"currency": "diamonds"}, "invalid_request"),
        ({"limit": 0}, "invalid_request"),
        ({"limit": 101}, "invalid_request"),
        ({"season": "no spaces"}, "invalid_request"),
        ({"after": "not-a-cursor"}, "invalid_cursor"),
        ({"after": FORGED_CURSOR}, "invalid_cursor"),
    ],
)
async def test_bad_leaderboard_parameters_are_422_problems(
    api: httpx.AsyncClient, params: dict[str, str | int], code: str
) -> None:
    response = await api.get("/communities/town/leaderboard", params=params)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["code"]) == (422, code)
    assert problem["type"] == f"urn:townsquare:problem:{code}"


async def test_a_cursor_from_another_board_is_refused(api: httpx.AsyncClient) -> None:
    xp = (await api.get("/communities/town/leaderboard", params={"limit": 2})).json()

    response = await api.get(
        "/communities/town/leaderboard",
        params={"currency": "stars", "after": xp["next_cursor"]},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"


async def test_bad_community_cursor_and_member_reference_are_422(api: httpx.AsyncClient) -> None:
    cursor = await api.get("/communities", params={"after": "%%%"})
    member = await api.get("/communities/town/members/not a member")

    assert (cursor.status_code, cursor.json()["code"]) == (422, "invalid_cursor")
    assert (member.status_code, member.json()["code"]) == (422, "invalid_request")


async def test_reads_over_the_per_ip_limit_get_429_with_retry_after(town: Town) -> None:
    async with client_for(town.url, read_rate_limit="3/minute") as client:
        statuses = [(await client.get("/communities/town")).status_code for _ in range(4)]
        limited = await client.get("/communities/town/leaderboard")

    assert statuses == [200, 200, 200, 429]
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 61


def test_every_public_route_documents_its_responses_with_examples() -> None:
    spec = create_app(load_settings(), "postgresql://unused@127.0.0.1/unused").openapi()
    public = {p: ops for p, ops in spec["paths"].items() if p.startswith("/api/v1/communities")}

    assert len(public) == 8
    for path, operations in public.items():
        responses = operations["get"]["responses"]
        assert {"200", "304", "404", "422", "429"} <= set(responses), path
        ref = responses["200"]["content"]["application/json"]["schema"]["$ref"]
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert schema.get("examples"), path
        assert "application/problem+json" in responses["404"]["content"]
