"""The event lake over HTTP: browse with filters and keyset pages, and the job triggers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, insert, select

from tests.api.admin_helpers import World, copied_database, open_world
from townsquare.store.engine import libpq_url
from townsquare.store.locks import community_lock_key
from townsquare.store.models import Event

# Recent enough that the instance's retention (90 days) keeps them.
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@pytest.fixture(scope="module")
async def world(postgres_server: str, migrated_template: str) -> AsyncIterator[World]:
    with copied_database(postgres_server, migrated_template) as url:
        async with open_world(url) as opened:
            await _seed_events(opened)
            yield opened


async def _seed_events(world: World) -> None:
    """Five events a minute apart: messages of alice and bob, one blocked reaction."""
    alice, bob = world.plaza.members["alice"], world.plaza.members["bob"]
    rows: list[dict[str, Any]] = []
    for number in range(5):
        member = alice if number % 2 == 0 else bob
        blocked = number == 3
        rows.append(
            {
                "community_id": world.community_id,
                "occurred_at": START + timedelta(minutes=number),
                "platform": "discord",
                "platform_event_id": f"seed-{number}",
                "kind": "reaction_added" if blocked else "message",
                "member_id": member,
                # "content" must never come back, even if a row somehow held it.
                "metadata_": {"length": 40 + number, "content": "secret words"},
                "status": "blocked" if blocked else "rewarded",
                "outcome": {
                    "counters": [[member, "messages", 1]],
                    "why": [
                        {
                            "m": str(member),
                            "k": "message",
                            "base": [15, 0, 1],
                            "ch": [15000, "channel:100/message"],
                            "c": [22, 0, 1],
                            "g": [22, 0, 1],
                        }
                    ],
                },
            }
        )
    async with world.session() as session:
        await session.execute(insert(Event), rows)
        await session.commit()


async def _pages(world: World, params: dict[str, Any]) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await world.request("viewer", "GET", "/lake/events", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([event["platform_event_id"] for event in body["events"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_browse_pages_newest_first_without_gaps_or_repeats(world: World) -> None:
    pages = await _pages(world, {"limit": 2})

    assert pages == [["seed-4", "seed-3"], ["seed-2", "seed-1"], ["seed-0"]]


async def test_browse_filters_by_kind_member_status_and_time(world: World) -> None:
    bob = world.plaza.members["bob"]

    assert await _pages(world, {"kind": "reaction_added"}) == [["seed-3"]]
    assert await _pages(world, {"member_id": bob, "kind": "message"}) == [["seed-1"]]
    assert await _pages(world, {"status": "rewarded", "limit": 10}) == [
        ["seed-4", "seed-2", "seed-1", "seed-0"]
    ]
    window = {
        "since": (START + timedelta(minutes=1)).isoformat(),
        "until": (START + timedelta(minutes=3)).isoformat(),
    }
    assert await _pages(world, window) == [["seed-2", "seed-1"]]


async def test_browse_shows_metadata_and_breakdown_never_content(world: World) -> None:
    response = await world.request("token-read", "GET", "/lake/events", params={"limit": 1})

    [event] = response.json()["events"]
    assert event["metadata"] == {"length": 44}
    assert "secret" not in response.text
    [breakdown] = event["breakdowns"]
    assert breakdown["granted"] == {"xp": 22, "stars": 0, "gold": 1}
    assert breakdown["channel_multiplier"] == 1.5
    assert breakdown["explanation"][0].startswith("message: base 15 xp")
    assert event["counters"] == [
        {"member_id": world.plaza.members["alice"], "counter": "messages", "delta": 1}
    ]


async def test_a_cursor_we_did_not_issue_is_a_422(world: World) -> None:
    response = await world.request("viewer", "GET", "/lake/events", params={"cursor": "bogus"})

    assert response.status_code == 422
    assert response.json()["code"] == "lake_query_invalid"


async def test_reconcile_reports_and_correcting_a_locked_community_is_409(
    world: World, postgres_server: str
) -> None:
    url = world.app.state.database_url
    with psycopg.connect(libpq_url(url), autocommit=True) as writer:
        writer.execute("SELECT pg_advisory_lock(%s)", (community_lock_key(world.community_id),))
        correct = await world.request("admin", "POST", "/lake/reconcile", json={"correct": True})
        report = await world.request("admin", "POST", "/lake/reconcile", json={})

    assert correct.status_code == 409
    assert correct.json()["code"] == "community_busy"
    assert report.status_code == 200
    assert report.json()["corrected"] is False
    freed = await world.request("admin", "POST", "/lake/reconcile", json={"correct": True})
    assert freed.status_code == 200


async def test_retention_drops_days_past_the_instance_policy_and_is_audited(
    world: World,
) -> None:
    old = {
        "community_id": world.other.community_id,
        "occurred_at": datetime.now(UTC) - timedelta(days=400),
        "platform": "discord",
        "platform_event_id": "ancient",
        "kind": "message",
        "member_id": world.other.members["alice"],
        "status": "rewarded",
        "outcome": {"counters": [[world.other.members["alice"], "messages", 1]]},
    }
    async with world.session() as session:
        await session.execute(insert(Event), [old])
        await session.commit()

    response = await world.request("admin", "POST", "/lake/retention", json={"reason": "disk"})

    assert response.status_code == 200, response.text
    assert (response.json()["keep_days"], response.json()["events_removed"]) == (90, 1)
    assert len(await _pages(world, {"limit": 10})) == 1  # this community's days are kept
    audit = await world.request("viewer", "GET", "/audit", params={"action": "lake.retention"})
    [entry] = audit.json()["entries"]
    assert entry["reason"] == "disk"


def _jsonl(world: World, *events: dict[str, Any]) -> bytes:
    return "".join(json.dumps(event) + "\n" for event in events).encode()


def _message(world: World, number: int, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"upload-{number}",
        "kind": "message",
        "platform": "discord",
        "community_id": world.plaza.guild,
        "member_id": "alice",
        "at": int((datetime.now(UTC) - timedelta(hours=1)).timestamp()) + number,
        "channel_id": "100",
        "message": {"length": 80},
        **fields,
    }


async def _uploaded(world: World) -> int:
    async with world.session() as session:
        found = await session.scalar(
            select(func.count()).select_from(Event).where(Event.platform_event_id.like("upload-%"))
        )
    return int(found or 0)


async def test_a_bad_line_or_a_foreign_event_refuses_the_whole_file(world: World) -> None:
    bad_line = _jsonl(world, _message(world, 1)) + b'{"event_id": "x", "kind": "nope"}\n'
    foreign = _jsonl(world, _message(world, 2), _message(world, 3, community_id="elsewhere"))

    responses = [
        await world.request(
            "admin",
            "POST",
            "/lake/backfill",
            content=body,
            headers={"Content-Type": "application/x-ndjson"},
        )
        for body in (bad_line, foreign)
    ]

    assert [response.status_code for response in responses] == [422, 422]
    assert "line 2" in responses[0].json()["detail"]
    assert "another community" in responses[1].json()["detail"]
    assert await _uploaded(world) == 0


async def test_backfill_imports_through_a_pipeline_once(world: World) -> None:
    body = _jsonl(world, *(_message(world, number) for number in range(3)))
    headers = {"Content-Type": "application/x-ndjson"}

    first = await world.request("admin", "POST", "/lake/backfill", content=body, headers=headers)
    again = await world.request("admin", "POST", "/lake/backfill", content=body, headers=headers)

    assert first.status_code == 200, first.text
    assert first.json() == {"events": 3, "new": 3, "duplicates": 0, "failed": 0}
    assert again.json() == {"events": 3, "new": 0, "duplicates": 3, "failed": 0}
    assert await _uploaded(world) == 3


async def test_backfill_into_a_community_a_writer_owns_is_409(world: World) -> None:
    url = world.app.state.database_url
    body = _jsonl(world, _message(world, 9))
    with psycopg.connect(libpq_url(url), autocommit=True) as writer:
        writer.execute("SELECT pg_advisory_lock(%s)", (community_lock_key(world.community_id),))
        response = await world.request(
            "admin",
            "POST",
            "/lake/backfill",
            content=body,
            headers={"Content-Type": "application/x-ndjson"},
        )

    assert response.status_code == 409
    assert response.json()["code"] == "community_busy"
