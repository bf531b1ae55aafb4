"""Voice minutes from voice-state updates (kept across restarts), level roles and announcements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.adapters.discord.harness import (
    GENERAL_ID,
    GUILD_ID,
    LEVEL_ROLE_ID,
    VOICE_ID,
    Town,
    eventually,
    install,
    plain_rules,
    running_adapter,
    scalar,
)
from townsquare.adapters.discord.runner import DiscordAdapter
from townsquare.config.document import CommunityConfigDocument, Section
from townsquare.config.settings import DatabaseSettings
from townsquare.fakes.discord import FakeDiscord, payloads
from townsquare.store.config_documents import read_config, save_document
from townsquare.store.engine import create_db_engine, create_session_factory

pytestmark = pytest.mark.timeout(120)


class Clock:
    """Voice time is measured by the adapter's clock; tests move it by hand."""

    def __init__(self) -> None:
        self.now = float(int(payloads.snowflake() >> 22) // 1000 + 1_420_070_400)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def voice_segments(url: str) -> list[tuple[int, str]]:
    """(minutes, flags) of every recorded voice segment."""
    rows = await scalar(
        url,
        "SELECT json_agg(json_build_array((metadata->>'minutes')::int, "
        "coalesce(metadata->'flags', '[]'::jsonb)::text)) FROM events "
        "WHERE kind = 'voice_segment'",
    )
    return sorted((int(minutes), flags) for minutes, flags in rows or [])


async def test_voice_time_is_split_by_flags_and_company(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=2)
    install(migrated_database, town, plain_rules())
    clock = Clock()
    with FakeDiscord(guilds=[town.guild()]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake, clock=clock) as adapter:
            fake.dispatch("VOICE_STATE_UPDATE", town.voice(0, VOICE_ID))  # alone
            await eventually(_open(adapter, 1), what="the first session")
            clock.advance(300)
            fake.dispatch("VOICE_STATE_UPDATE", town.voice(1, VOICE_ID))  # company arrives
            await eventually(_segments(adapter, 1), what="member 0's alone segment")
            clock.advance(600)
            fake.dispatch("VOICE_STATE_UPDATE", town.voice(0, VOICE_ID, self_mute=True))
            await eventually(_segments(adapter, 2), what="member 0's unmuted segment")
            clock.advance(120)
            fake.dispatch("VOICE_STATE_UPDATE", town.voice(0, None))  # 0 leaves
            fake.dispatch("VOICE_STATE_UPDATE", town.voice(1, None))  # 1 leaves (alone since)
            await eventually(_segments(adapter, 4), what="every segment closed")

            async def recorded() -> bool:
                return len(await voice_segments(migrated_database)) == 4

            await eventually(recorded, what="the segments in the lake")
            assert adapter.bot.voice.open_sessions(GUILD_ID) == {}
    # member 0: 5 min alone, 10 min in company, 2 min muted; member 1: 12 min in company,
    # then alone for no time at all (under half a minute: no event).
    assert await voice_segments(migrated_database) == [
        (2, '["muted"]'),
        (5, '["alone"]'),
        (10, "[]"),
        (12, "[]"),
    ]
    assert await scalar(migrated_database, "SELECT count(*) FROM voice_sessions") == 0


async def test_a_restart_closes_sessions_at_their_last_checkpoint_and_reopens_who_is_there(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=2)
    install(migrated_database, town, plain_rules())
    clock = Clock()
    both_in_voice = town.guild()
    both_in_voice["voice_states"] = [
        {k: v for k, v in town.voice(i, VOICE_ID).items() if k != "member"} for i in (0, 1)
    ]
    with FakeDiscord(guilds=[both_in_voice]) as fake:
        # Both are in voice when the bot connects: GUILD_CREATE opens their sessions.
        async with running_adapter(migrated_database, tmp_path, fake, clock=clock) as adapter:
            await eventually(_open(adapter, 2), what="two sessions")
            clock.advance(1200)
            assert await adapter.bot.voice.checkpoint() == 2
            clock.advance(25)  # the process dies 25 s after its last checkpoint
    assert await scalar(migrated_database, "SELECT count(*) FROM voice_sessions") == 2
    # Ten minutes of downtime, during which member 0 left; member 1 is still there.
    clock.advance(600)
    only_one = town.guild()
    only_one["voice_states"] = both_in_voice["voice_states"][1:]
    with FakeDiscord(guilds=[only_one]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake, clock=clock) as adapter:
            await eventually(_segments(adapter, 2), what="the stored sessions closed")

            async def recorded() -> bool:
                return len(await voice_segments(migrated_database)) == 2

            await eventually(recorded, what="the segments in the lake")
            sessions = adapter.bot.voice.open_sessions(GUILD_ID)
            assert list(sessions) == [town.user_id(1)]
            assert sessions[town.user_id(1)].started_at == int(clock.now)
    # Both paid up to the checkpoint (20 min), not the 25 s after it or the downtime.
    assert await voice_segments(migrated_database) == [(20, "[]"), (20, "[]")]


def _open(adapter: DiscordAdapter, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(adapter.bot.voice.open_sessions(GUILD_ID)) == count

    return check


def _segments(adapter: DiscordAdapter, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return adapter.bot.voice.segments_closed >= count

    return check


ROLE_PATH = f"/guilds/{GUILD_ID}/members/"


def leveling_rules(**announcements: object) -> CommunityConfigDocument:
    """Two messages (15 XP each) reach level 1, which gives the level role."""
    document = plain_rules(
        curve={"type": "linear", "xp_per_level": 30}, level_roles={1: str(LEVEL_ROLE_ID)}
    )
    raw = document.model_dump(mode="json")
    raw["announcements"].update(announcements)
    return CommunityConfigDocument.model_validate(raw)


async def test_a_level_role_is_granted_after_a_429_and_the_level_up_announced_in_place(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=2)
    install(migrated_database, town, leveling_rules())
    with FakeDiscord(guilds=[town.guild()]) as fake:
        fake.rate_limit("PUT", ROLE_PATH, retry_after=0.4)
        async with running_adapter(migrated_database, tmp_path, fake):
            base = payloads.snowflake()
            fake.dispatch("MESSAGE_CREATE", town.message(1, base))
            fake.dispatch("MESSAGE_CREATE", town.message(1, base + 1))
            granted = await fake.wait_for_call("PUT", ROLE_PATH, timeout=30, count=2)
            announced = await fake.wait_for_call(
                "POST", f"/channels/{GENERAL_ID}/messages", timeout=30
            )
    limited, _ = fake.calls_to("PUT", ROLE_PATH)
    assert (limited.status, granted.status) == (429, 204)
    assert granted.at - limited.at >= 0.4  # discord.py waited for Retry-After
    assert granted.path == f"{ROLE_PATH}{town.user_id(1)}/roles/{LEVEL_ROLE_ID}"
    assert granted.reason == "Townsquare: level"
    assert announced.json["content"] == f"🎉 <@{town.user_id(1)}> reached level 1!"
    assert announced.json["allowed_mentions"] == {"parse": []}


async def test_a_refused_role_is_one_problem_one_note_and_closed_by_the_next_success(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=3)
    community_id = install(
        migrated_database, town, leveling_rules(mode="channel", channel_id=str(GENERAL_ID))
    )
    with FakeDiscord(guilds=[town.guild()]) as fake:
        fake.fail("PUT", ROLE_PATH, status=403, code=50013, times=2)
        async with running_adapter(migrated_database, tmp_path, fake) as adapter:
            base = payloads.snowflake()
            for i, member in enumerate((1, 1, 2, 2, 0, 0)):
                fake.dispatch("MESSAGE_CREATE", town.message(member, base + i))
            await fake.wait_for_call("PUT", ROLE_PATH, timeout=30, count=3)

            async def noted() -> bool:
                roles, announcer = adapter.bot.roles, adapter.bot.announcer
                return roles.refused == 2 and roles.applied == 1 and announcer.sent >= 4

            await eventually(noted, what="both refusals handled")
    posts = [c.json["content"] for c in fake.calls_to("POST", f"/channels/{GENERAL_ID}/")]
    notes = [p for p in posts if p.startswith("⚠️")]
    assert len(notes) == 1
    assert "Manage Roles" in notes[0]
    assert (
        await scalar(
            migrated_database,
            "SELECT occurrences FROM community_problems WHERE community_id = %s "
            "AND kind = 'role_forbidden' AND subject = %s",
            community_id,
            str(LEVEL_ROLE_ID),
        )
        == 2
    )


async def test_announcements_respect_opt_outs_and_the_per_minute_budget(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=4)
    community_id = install(migrated_database, town, leveling_rules(per_minute=2))
    with FakeDiscord(guilds=[town.guild()]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake) as adapter:
            base = payloads.snowflake()
            fake.dispatch("MESSAGE_CREATE", town.message(0, base))
            await eventually(_lake_messages(migrated_database, 1), what="member 0 known")
            await _opt_out(migrated_database, community_id, town.user_id(0))
            for i, member in enumerate((0, 1, 1, 2, 2, 3, 3)):
                fake.dispatch("MESSAGE_CREATE", town.message(member, base + 1 + i))

            async def settled() -> bool:
                announcer = adapter.bot.announcer
                return announcer.opted_out == 1 and announcer.sent + announcer.throttled == 3

            await eventually(settled, what="four level-ups handled")
            assert (adapter.bot.announcer.sent, adapter.bot.announcer.throttled) == (2, 1)
    posts = fake.calls_to("POST", f"/channels/{GENERAL_ID}/messages")
    assert len(posts) == 2
    assert all(f"<@{town.user_id(0)}>" not in c.json["content"] for c in posts)


def _lake_messages(url: str, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return int(await scalar(url, "SELECT count(*) FROM events") or 0) >= count

    return check


async def _opt_out(url: str, community_id: int, user_id: int) -> None:
    await scalar(
        url,
        "INSERT INTO member_preferences (community_id, member_id, announce_level_ups) "
        "SELECT community_id, member_id, false FROM member_identities "
        "WHERE community_id = %s AND external_user_id = %s RETURNING 1",
        community_id,
        str(user_id),
    )


async def test_changing_the_level_roles_moves_every_leveled_member_to_the_new_role(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=2)
    community_id = install(migrated_database, town, leveling_rules())
    new_role = LEVEL_ROLE_ID + 1
    guild = town.guild()
    guild["roles"].append(payloads.role(new_role, "Veteran", position=2))
    with FakeDiscord(guilds=[guild]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake):
            base = payloads.snowflake()
            fake.dispatch("MESSAGE_CREATE", town.message(1, base))
            fake.dispatch("MESSAGE_CREATE", town.message(1, base + 1))
            await fake.wait_for_call("PUT", ROLE_PATH, timeout=30)
            changed = leveling_rules().model_dump(mode="json")
            changed["rules"]["levels"]["level_roles"] = {"1": str(new_role)}
            await _save(migrated_database, community_id, changed)
            added = await fake.wait_for_call("PUT", ROLE_PATH, timeout=30, count=2)
            removed = await fake.wait_for_call("DELETE", ROLE_PATH, timeout=30)
        roles = fake.member(GUILD_ID, town.user_id(1))
    assert roles is not None
    assert roles["roles"] == [str(new_role)]
    member = f"{ROLE_PATH}{town.user_id(1)}/roles/"
    assert added.path == f"{member}{new_role}"
    assert removed.path == f"{member}{LEVEL_ROLE_ID}"
    assert added.reason == removed.reason == "Level roles changed"


async def _save(url: str, community_id: int, raw: dict[str, object]) -> None:
    """An admin's change, stored as the config service stores it (version bump + NOTIFY)."""
    engine = create_db_engine(url, DatabaseSettings(pool_size=1))
    try:
        async with create_session_factory(engine).begin() as session:
            stored = await read_config(session, community_id, for_update=True)
            document = CommunityConfigDocument.model_validate(raw)
            await save_document(session, stored, document, [Section.LEVELS])
    finally:
        await engine.dispose()
