"""Member profiles, the achievement catalog, recent unlocks and seasons, over the real
pipeline's data (see `tests.api.test_public_reads` for the community)."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from tests.api.test_public_reads import MEMBERS, Town, api, town, town_url
from townsquare.store.engine import libpq_url

__all__ = ["api", "town", "town_url"]  # module-scoped fixtures shared with the board tests


def _lifetime(town: Town, user: str) -> tuple[int, int, int, int]:
    with psycopg.connect(libpq_url(town.url)) as conn:
        row = conn.execute(
            "SELECT xp, stars, gold, level FROM balances WHERE community_id = %s "
            "AND member_id = %s AND season = ''",
            (town.community_id, town.members[user]),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def test_a_profile_shows_level_progress_balances_ranks_and_achievements(
    api: httpx.AsyncClient, town: Town
) -> None:
    user = "u04"  # four messages, one reaction received
    response = await api.get(f"/communities/town/members/{town.members[user]}")

    assert response.status_code == 200, response.text
    profile = response.json()
    xp, stars, gold, level = _lifetime(town, user)
    assert profile["display_name"]
    assert profile["balances"]["lifetime"] == {"xp": xp, "stars": stars, "gold": gold}
    assert profile["balances"]["season"]["season"] == "spring"
    progress = profile["level"]
    assert progress["level"] == level == xp // 40
    assert progress["level_xp"] == 40 * level
    assert progress["next_level_xp"] == 40 * (level + 1)
    assert progress["xp_to_next_level"] == 40 * (level + 1) - xp
    assert progress["progress"] == pytest.approx((xp - 40 * level) / 40, abs=1e-4)
    around = (await api.get(f"/communities/town/leaderboard/around/{town.members[user]}")).json()
    assert profile["ranks"]["lifetime"]["xp"] == {
        "rank": around["member"]["rank"],
        "total": around["total"],
    }
    assert profile["ranks"]["lifetime"]["stars"]["rank"] >= 1
    assert profile["ranks"]["season"]["xp"]["rank"] >= 1
    earned = {a["achievement_id"]: a for a in profile["achievements"]}
    assert set(earned) == {"hello", "secret", "chatter"}
    assert earned["secret"]["hidden"] is True  # hidden, but earned: shown
    assert earned["secret"]["rarity"]["key"] == "rare"
    assert earned["hello"]["category"] == {"key": "chat", "name": "Chat"}


async def test_a_profile_explains_recent_rewards_given_and_received(
    api: httpx.AsyncClient, town: Town
) -> None:
    user = "u04"
    profile = (await api.get(f"/communities/town/members/discord:{user}?recent=50")).json()

    events = profile["recent_events"]
    kinds = [event["kind"] for event in events]
    assert kinds.count("message") == 4
    assert kinds.count("reaction_added") == 1  # received from u01: through the ledger
    assert [e["occurred_at"] for e in events] == sorted(
        (e["occurred_at"] for e in events), reverse=True
    )
    granted = {"xp": 0, "stars": 0, "gold": 0}
    for event in events:
        for breakdown in event["breakdowns"]:
            assert breakdown["explanation"]
            for currency in granted:
                granted[currency] += breakdown["granted"][currency]
    _xp, stars, gold, _ = _lifetime(town, user)
    assert (granted["stars"], granted["gold"]) == (stars, gold)
    received = next(e for e in events if e["kind"] == "reaction_added")
    assert [b["reward_kind"] for b in received["breakdowns"]] == ["reaction_received"]
    assert "metadata" not in str(profile)
    assert "length" not in received


async def test_unknown_bot_and_departed_members_have_no_profile(
    api: httpx.AsyncClient, town: Town
) -> None:
    for ref in ("987654321", str(town.members["bot"]), str(town.members["gone"]), "line:nobody"):
        response = await api.get(f"/communities/town/members/{ref}")
        assert response.status_code == 404, ref
        assert response.json()["code"] == "not_found"


async def test_the_catalog_counts_earners_and_never_names_unearned_hidden_ones(
    api: httpx.AsyncClient, town: Town
) -> None:
    catalog = (await api.get("/communities/town/achievements")).json()

    listed = {a["id"]: a for a in catalog["achievements"]}
    assert set(listed) == {"hello", "chatter"}
    assert catalog["hidden_count"] == 2
    assert "never" not in str(catalog)
    assert "Secret" not in str(catalog)
    assert listed["hello"]["earners"] == len(MEMBERS)  # the bot and the leaver do not count
    assert listed["chatter"]["earners"] == sum(1 for i in range(len(MEMBERS)) if i % 4 >= 2)


async def test_recent_unlocks_are_newest_first_without_hidden_members(
    api: httpx.AsyncClient, town: Town
) -> None:
    body = (await api.get("/communities/town/achievements/recent", params={"limit": 5})).json()

    items = body["items"]
    assert len(items) == 5
    times = [item["achievement"]["awarded_at"] for item in items]
    assert times == sorted(times, reverse=True)
    hidden = {town.members["bot"], town.members["gone"]}
    assert not {item["member_id"] for item in items} & hidden
    assert all(item["achievement"]["name"] for item in items)


async def test_seasons_show_the_windows_and_the_current_one(api: httpx.AsyncClient) -> None:
    seasons = (await api.get("/communities/town/seasons")).json()

    assert seasons["schedule"] == "windows"
    assert [w["id"] for w in seasons["windows"]] == ["winter", "spring"]
    assert seasons["current"]["id"] == "spring"
    assert seasons["current"]["starts_at"] == "2026-01-01T00:00:00Z"
    assert seasons["next"] is None
