"""The public read API over a small community built through the real ingest pipeline.

30 members post 1 to 4 messages each (so XP values tie in groups of 7-8), one member
reacts to others (received rewards show up in the receivers' profiles), a bot and a
member who leaves out-post everyone (and must not be seen), and a second community
exists for paging the community list. Achievements: a visible first-post one, a hidden one
earned at 2 messages, a hidden one nobody earns, a visible one at 3 messages.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

from tests.core.builders import DAY, T0, message, reaction
from townsquare.api.app import create_app
from townsquare.config.document import CommunityConfigDocument
from townsquare.config.settings import load_settings
from townsquare.core import CommunityConfig
from townsquare.pipeline.ingest import Pipeline
from townsquare.store.engine import libpq_url

NOW = datetime.fromtimestamp(T0 + DAY, UTC)
MEMBERS = [f"u{index:02d}" for index in range(1, 31)]

RULES = CommunityConfig.model_validate(
    {
        "quality": {"enabled": False},
        "anti_gaming": {
            "cooldown_seconds": 0,
            "daily_caps": {"xp": None, "stars": None, "gold": None},
        },
        "levels": {
            "curve": {"type": "linear", "xp_per_level": 40},
            "max_level": 50,
            "gold_per_level_up": 0,
        },
        "achievements": [
            {
                "id": "hello",
                "name": "Hello",
                "description": "Say something",
                "category": "chat",
                "trigger": {"type": "first_event", "kind": "message"},
            },
            {
                "id": "secret",
                "name": "Secret",
                "hidden": True,
                "rarity": "rare",
                "trigger": {"type": "counter", "counter": "messages", "threshold": 2},
            },
            {
                "id": "never",
                "name": "Never",
                "hidden": True,
                "trigger": {"type": "counter", "counter": "messages", "threshold": 1000},
            },
            {
                "id": "chatter",
                "name": "Chatter",
                "category": "chat",
                "trigger": {"type": "counter", "counter": "messages", "threshold": 3},
            },
        ],
        "seasons": {
            "windows": [
                {"id": "winter", "name": "Winter", "starts_at": T0 - 30 * DAY, "ends_at": T0},
                {"id": "spring", "name": "Spring", "starts_at": T0, "ends_at": T0 + 30 * DAY},
            ]
        },
    }
)


@dataclass(frozen=True, slots=True)
class Town:
    url: str
    community_id: int
    other_id: int
    #: Internal member id by platform user id.
    members: dict[str, int]


def events() -> list[Any]:
    batch: list[Any] = []
    at = T0 + 60
    for index, user in enumerate(MEMBERS):
        for n in range(1 + index % 4):
            batch.append(message(f"{user}-m{n}", member=user, at=at))
            at += 7
    for index, receiver in enumerate(MEMBERS[1:6]):
        batch.append(
            reaction(
                f"r{index}", giver="u01", receiver=receiver, message_id=f"{receiver}-m0", at=at
            )
        )
        at += 7
    for user in ("bot", "gone"):
        batch += [message(f"{user}-m{n}", member=user, at=at + n) for n in range(10)]
    other = message("elsewhere", member="u01", at=at)
    return [*batch, _in_guild(other, "guild2")]


def _in_guild(event: Any, guild: str) -> Any:
    return dataclasses.replace(event, community_id=guild)


def _install(url: str) -> int:
    document = CommunityConfigDocument.covering(RULES)
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "INSERT INTO communities (slug, name) VALUES ('town', 'Town') RETURNING id"
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO community_links (community_id, platform, external_id, name) "
            "VALUES (%s, 'discord', 'guild', 'Town Discord')",
            (row[0],),
        )
        conn.execute(
            "INSERT INTO community_settings (community_id, settings) VALUES (%s, %s)",
            (row[0], Jsonb(document.model_dump(mode="json"))),
        )
        conn.commit()
        return int(row[0])


async def seed(url: str, spool: Path) -> Town:
    community_id = _install(url)
    settings = load_settings(pipeline={"spool_dir": str(spool), "linger_ms": 5})
    async with Pipeline(url, settings.pipeline, settings.database) as pipeline:
        await pipeline.ingest_many(events())
        await pipeline.flush()
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(
            "UPDATE members m SET is_bot = true FROM member_identities i "
            "WHERE i.community_id = m.community_id AND i.member_id = m.id "
            "AND i.external_user_id = 'bot'"
        )
        conn.execute(
            "UPDATE members m SET left_at = now() FROM member_identities i "
            "WHERE i.community_id = m.community_id AND i.member_id = m.id "
            "AND i.external_user_id = 'gone'"
        )
        rows = conn.execute(
            "SELECT external_user_id, member_id FROM member_identities WHERE community_id = %s",
            (community_id,),
        ).fetchall()
        other = conn.execute(
            "SELECT community_id FROM community_links WHERE external_id = 'guild2'"
        ).fetchone()
        conn.commit()
    assert other is not None
    return Town(url, community_id, int(other[0]), {str(u): int(m) for u, m in rows})


def copy_database(postgres_server: str, template: str) -> Iterator[str]:
    """A database of its own copied from the migrated template, dropped afterwards."""
    name = f"townsquare_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def client_for(url: str, **api: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (lifespan and all) on ``url``, its clock at `NOW`."""
    settings = load_settings(api={"read_rate_limit": "10000/minute", **api})
    app: FastAPI = create_app(settings, url)
    app.state.clock = lambda: NOW
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
            yield client


@pytest.fixture(scope="module")
def town_url(postgres_server: str, migrated_template: str) -> Iterator[str]:
    yield from copy_database(postgres_server, migrated_template)


@pytest.fixture(scope="module")
async def town(town_url: str, tmp_path_factory: pytest.TempPathFactory) -> Town:
    return await seed(town_url, tmp_path_factory.mktemp("spool"))


@pytest.fixture
async def api(town: Town) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(town.url) as client:
        yield client


def ranked_board(town: Town, currency: str, season: str = "") -> list[tuple[int, int]]:
    """(member id, value) of the board as plain SQL sees it, best first."""
    with psycopg.connect(libpq_url(town.url)) as conn:
        rows = conn.execute(
            f"SELECT b.member_id, b.{currency} FROM balances b JOIN members m "
            "ON m.community_id = b.community_id AND m.id = b.member_id "
            f"WHERE b.community_id = %s AND b.season = %s AND b.{currency} > 0 "
            f"AND NOT m.is_bot AND m.left_at IS NULL ORDER BY b.{currency} DESC, b.member_id",
            (town.community_id, season),
        ).fetchall()
    return [(int(member), int(value)) for member, value in rows]


def competition_ranks(values: list[int]) -> list[int]:
    return [1 + sum(1 for other in values if other > value) for value in values]


async def test_communities_list_pages_through_every_community(
    api: httpx.AsyncClient, town: Town
) -> None:
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params = {"limit": 1} | ({"after": cursor} if cursor else {})
        response = await api.get("/communities", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted({town.community_id, town.other_id})


async def test_a_community_shows_its_platforms_members_and_current_season(
    api: httpx.AsyncClient, town: Town
) -> None:
    by_slug = (await api.get("/communities/town")).json()
    by_id = (await api.get(f"/communities/{town.community_id}")).json()

    assert by_slug == by_id
    assert by_slug["name"] == "Town"
    assert by_slug["platforms"] == [{"platform": "discord", "name": "Town Discord"}]
    assert by_slug["member_count"] == len(MEMBERS)  # the bot and the leaver are not counted
    assert by_slug["current_season"]["id"] == "spring"
    assert by_slug["current_season"]["name"] == "Spring"


async def test_an_unknown_community_is_a_404_problem(api: httpx.AsyncClient) -> None:
    for path in ("/communities/nowhere", "/communities/nowhere/leaderboard", "/communities/999"):
        response = await api.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("currency", ["xp", "stars"])
async def test_paging_through_a_board_with_ties_gives_everyone_once_in_order(
    api: httpx.AsyncClient, town: Town, currency: str
) -> None:
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"currency": currency, "limit": 3}
        if cursor:
            params["after"] = cursor
        response = await api.get("/communities/town/leaderboard", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["season"] == "lifetime"
        entries += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    expected = ranked_board(town, currency)
    assert [(e["member_id"], e["value"]) for e in entries] == expected
    assert [e["rank"] for e in entries] == competition_ranks([value for _, value in expected])
    assert len({e["value"] for e in entries}) < len(entries)  # there were ties to cross


async def test_bots_and_members_who_left_are_not_on_boards(
    api: httpx.AsyncClient, town: Town
) -> None:
    page = (await api.get("/communities/town/leaderboard", params={"limit": 100})).json()
    shown = {entry["member_id"] for entry in page["entries"]}

    assert town.members["bot"] not in shown
    assert town.members["gone"] not in shown
    assert page["entries"][0]["rank"] == 1


async def test_the_current_season_board_is_the_running_season(
    api: httpx.AsyncClient, town: Town
) -> None:
    current = (await api.get("/communities/town/leaderboard?season=current&limit=100")).json()
    spring = (await api.get("/communities/town/leaderboard?season=spring&limit=100")).json()
    winter = (await api.get("/communities/town/leaderboard?season=winter")).json()

    assert current == spring
    assert spring["season"] == "spring"
    assert [(e["member_id"], e["value"]) for e in spring["entries"]] == ranked_board(
        town, "xp", "spring"
    )
    assert winter["entries"] == []


async def test_around_a_member_gives_rank_total_and_neighbours(
    api: httpx.AsyncClient, town: Town
) -> None:
    board = ranked_board(town, "xp")
    member_id, _value = board[10]
    response = await api.get(
        f"/communities/town/leaderboard/around/{member_id}", params={"neighbours": 2}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["member"]["member_id"] == member_id
    assert body["member"]["rank"] == competition_ranks([v for _, v in board])[10]
    assert body["total"] == len(board)
    assert [e["member_id"] for e in body["above"]] == [m for m, _ in board[8:10]]
    assert [e["member_id"] for e in body["below"]] == [m for m, _ in board[11:13]]
    by_account = await api.get(
        f"/communities/town/leaderboard/around/discord:{MEMBERS[0]}", params={"neighbours": 2}
    )
    assert by_account.json()["member"]["member_id"] == town.members[MEMBERS[0]]


async def test_around_a_member_who_is_not_on_the_board_is_a_404(
    api: httpx.AsyncClient, town: Town
) -> None:
    hidden = await api.get(f"/communities/town/leaderboard/around/{town.members['bot']}")
    unknown = await api.get("/communities/town/leaderboard/around/987654321")

    assert hidden.status_code == 404
    assert hidden.json()["code"] == "member_not_ranked"
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
