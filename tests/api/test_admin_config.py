"""Configuration over HTTP: versions, conflicts, validation with field errors, audit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.admin_helpers import World, copied_database, open_world
from tests.services.factories import audit_count, config_version
from townsquare.services.audit import list_entries


@pytest.fixture(scope="module")
async def world(postgres_server: str, migrated_template: str) -> AsyncIterator[World]:
    with copied_database(postgres_server, migrated_template) as url:
        async with open_world(url) as opened:
            yield opened


async def _versions(world: World) -> tuple[int, int]:
    async with world.session() as session:
        return (
            await config_version(session, world.community_id),
            await audit_count(session, world.community_id),
        )


async def test_a_section_read_carries_its_version_as_etag(world: World) -> None:
    response = await world.request("viewer", "GET", "/config/sections/quality")

    assert response.status_code == 200
    body = response.json()
    assert body["section"] == "quality"
    assert response.headers["etag"] == f'"{body["section_version"]}"'


async def test_a_stale_edit_is_a_409_with_the_current_version(world: World) -> None:
    read = (await world.request("admin", "GET", "/config/sections/base_rewards")).json()
    value = read["value"]
    first = await world.request(
        "admin",
        "PUT",
        "/config/sections/base_rewards",
        json={"value": value | {"message": {"xp": 20, "gold": 1}}},
        headers={"If-Match": f'"{read["section_version"]}"'},
    )
    assert first.status_code == 200

    stale = await world.request(
        "owner",
        "PUT",
        "/config/sections/base_rewards",
        json={
            "value": value | {"message": {"xp": 30}},
            "expected_version": read["section_version"],
        },
    )

    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.json()["code"] == "config_conflict"
    assert stale.json()["current_version"] == first.json()["section_version"]


async def test_invalid_config_is_a_422_with_field_errors_and_nothing_written(
    world: World,
) -> None:
    read = (await world.request("admin", "GET", "/config/sections/multipliers")).json()
    before = await _versions(world)
    bad = read["value"] | {
        "channel_rules": [{"target_id": "100", "multiplier": -2}],
        "no_reward_channels": ["no-such-channel"],
    }

    response = await world.request(
        "admin",
        "PUT",
        "/config/sections/multipliers",
        json={"value": bad, "expected_version": read["section_version"]},
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "config_invalid"
    locations = [tuple(error["loc"]) for error in problem["errors"]]
    assert ("rules", "multipliers", "channel_rules", 0, "multiplier") in locations
    assert await _versions(world) == before


async def test_a_change_without_a_version_is_refused(world: World) -> None:
    response = await world.request("admin", "DELETE", "/config/role-multipliers/42")

    assert response.status_code == 428
    assert response.json()["code"] == "expected_version_required"


async def test_channel_rule_put_and_delete_are_audited_with_the_callers_ip(
    world: World,
) -> None:
    version = (await world.request("admin", "GET", "/config/sections/multipliers")).json()[
        "section_version"
    ]
    put = await world.request(
        "admin",
        "PUT",
        "/config/channel-rules/100",
        params={"kind": "message"},
        json={"multiplier": 1.5, "expected_version": version, "reason": "events"},
    )
    assert put.status_code == 200
    assert put.json()["value"]["channel_rules"] == [
        {"target_id": "100", "kind": "message", "multiplier": 1.5}
    ]

    deleted = await world.request(
        "admin",
        "DELETE",
        "/config/channel-rules/100",
        params={"kind": "message", "reason": "over"},
        headers={"If-Match": put.headers["etag"]},
    )

    assert deleted.status_code == 200
    assert deleted.json()["value"]["channel_rules"] == []
    async with world.session() as session:
        entries = (await list_entries(session, world.community_id)).entries
    removal, addition = entries[0], entries[1]
    assert (removal.action, removal.target_id, removal.reason) == (
        "config.channel_rule.delete",
        "100/message",
        "over",
    )
    assert addition.action == "config.channel_rule.put"
    assert addition.actor.id == str(world.callers["admin"].user_id)
    assert addition.actor.source_ip == "127.0.0.1"


async def test_deleting_what_is_not_there_is_a_404(world: World) -> None:
    version = (await world.request("admin", "GET", "/config/sections/multipliers")).json()[
        "section_version"
    ]
    response = await world.request(
        "admin", "DELETE", "/config/no-reward-roles/777", params={"expected_version": version}
    )

    assert response.status_code == 404


async def test_seasons_window_then_end_current_then_schedule_refused_while_windows_exist(
    world: World,
) -> None:
    section = (await world.request("admin", "GET", "/config/sections/seasons")).json()
    window = await world.request(
        "admin",
        "PUT",
        "/config/seasons/windows/s1",
        json={
            "name": "Now",
            "starts_at": 0,
            "ends_at": 4_000_000_000,
            "expected_version": section["section_version"],
        },
    )
    assert window.status_code == 200

    ended = await world.request(
        "admin",
        "POST",
        "/config/seasons/end-current",
        json={},
        headers={"If-Match": window.headers["etag"]},
    )
    assert ended.status_code == 200
    [stored] = ended.json()["value"]["windows"]
    assert stored["id"] == "s1"
    assert stored["ends_at"] < 4_000_000_000

    schedule = await world.request(
        "admin",
        "PUT",
        "/config/seasons/schedule",
        json={
            "anchor_at": 0,
            "length_days": 30,
            "expected_version": ended.json()["section_version"],
        },
    )
    assert schedule.status_code == 422
    assert schedule.json()["code"] == "config_invalid"


async def test_catalog_entry_and_achievement_items(world: World) -> None:
    catalog = (await world.request("admin", "GET", "/config/sections/catalog")).json()
    rarity = await world.request(
        "admin",
        "PUT",
        "/config/catalog/rarities/mythic",
        json={
            "entry": {"name": "Mythic", "color": "#e91e63", "position": 9},
            "expected_version": catalog["section_version"],
        },
    )
    assert rarity.status_code == 200
    assert any(entry["key"] == "mythic" for entry in rarity.json()["value"]["rarities"])

    achievements = (await world.request("admin", "GET", "/config/sections/achievements")).json()
    achievement = {
        "id": "chatty",
        "name": "Chatty",
        "rarity": "mythic",
        "trigger": {"type": "counter", "counter": "messages", "threshold": 10},
    }
    mismatched = await world.request(
        "admin",
        "PUT",
        "/config/achievements/other",
        json={"achievement": achievement, "expected_version": achievements["section_version"]},
    )
    assert mismatched.status_code == 422
    created = await world.request(
        "admin",
        "PUT",
        "/config/achievements/chatty",
        json={"achievement": achievement, "expected_version": achievements["section_version"]},
    )
    assert created.status_code == 200
    assert [a["id"] for a in created.json()["value"]] == ["chatty"]

    in_use = await world.request(
        "admin",
        "DELETE",
        "/config/catalog/rarities/mythic",
        headers={"If-Match": rarity.headers["etag"]},
    )
    assert in_use.status_code == 422


async def test_import_replaces_the_document_and_conflicts_when_stale(world: World) -> None:
    current = (await world.request("admin", "GET", "/config")).json()
    document = current["document"]
    document["rules"]["day_offset_minutes"] = 60

    imported = await world.request(
        "admin",
        "POST",
        "/config/import",
        json={"document": document, "expected_version": current["config_version"]},
    )
    assert imported.status_code == 200
    assert imported.json()["document"]["rules"]["day_offset_minutes"] == 60
    assert imported.json()["config_version"] > current["config_version"]

    stale = await world.request(
        "admin",
        "POST",
        "/config/import",
        json={"document": document},
        headers={"If-Match": f'"{current["config_version"]}"'},
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == imported.json()["config_version"]


async def test_text_postgresql_cannot_store_is_a_422_not_a_500(world: World) -> None:
    read = (await world.request("admin", "GET", "/config/sections/catalog")).json()
    before = await _versions(world)

    entry = await world.request(
        "admin",
        "PUT",
        "/config/catalog/categories/nul",
        json={"entry": {"name": "a\u0000b"}, "expected_version": read["section_version"]},
    )
    audit = await world.request("viewer", "GET", "/audit", params={"action": "a\u0000"})

    assert (entry.status_code, audit.status_code) == (422, 422)
    assert await _versions(world) == before
