"""The Discord adapter end to end: real discord.py on a fake gateway, real pipeline and ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adapters.discord.harness import (
    GENERAL_ID,
    GUILD_ID,
    Town,
    eventually,
    install,
    plain_rules,
    running_adapter,
    scalar,
)
from townsquare.adapters.discord.errors import DiscordSetupError
from townsquare.adapters.discord.runner import DiscordAdapter
from townsquare.config.settings import DiscordSettings
from townsquare.fakes.discord import FakeDiscord, payloads

pytestmark = pytest.mark.timeout(120)

# Snowflakes carry their time: message ids made now give messages dated now.
MESSAGE_BASE = payloads.snowflake()


async def lake_count(url: str, kind: str) -> int:
    return int(await scalar(url, "SELECT count(*) FROM events WHERE kind = %s", kind) or 0)


async def ledger_sum(url: str, currency: str) -> int:
    return int(await scalar(url, f"SELECT coalesce(sum({currency}), 0) FROM ledger_entries") or 0)


async def test_a_stream_with_a_dropped_connection_and_a_reconnect_is_counted_exactly_once(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=20)
    install(migrated_database, town, plain_rules())
    messages, reactions = 1500, 500
    stream: list[tuple[str, dict[str, object]]] = []
    for n in range(messages):
        stream.append(("MESSAGE_CREATE", town.message(n % town.size, MESSAGE_BASE + n)))
        if n < reactions:
            # the next member reacts to each of the first 500 messages
            author = n % town.size
            stream.append(
                (
                    "MESSAGE_REACTION_ADD",
                    town.reaction((author + 1) % town.size, MESSAGE_BASE + n, author),
                )
            )
    with FakeDiscord(guilds=[town.guild()]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake) as adapter:
            first, second = stream[: len(stream) // 2], stream[len(stream) // 2 :]
            await fake.dispatch_many(first).wait()
            fake.drop_connection(0)  # abrupt close: discord.py reconnects and RESUMEs
            await fake.wait_for_resume(1, timeout=30)
            batch = fake.dispatch_many(second[:500])
            await batch.wait()
            fake.request_reconnect(0)  # op 7
            await fake.wait_for_resume(2, timeout=30)
            await fake.dispatch_many(second[500:]).wait()

            async def all_recorded() -> bool:
                return await lake_count(migrated_database, "message") >= messages and (
                    await lake_count(migrated_database, "reaction_added") >= reactions
                )

            await eventually(all_recorded, within=60, what="every event in the lake")
            await adapter.bot.pipeline.flush()
    assert await lake_count(migrated_database, "message") == messages
    assert await lake_count(migrated_database, "reaction_added") == reactions
    # 15 XP per message and 1 per reaction given; 1 Star per reaction received.
    assert await ledger_sum(migrated_database, "xp") == 15 * messages + reactions
    assert await ledger_sum(migrated_database, "stars") == reactions
    assert adapter.bot.figures.skipped_malformed == 0


async def test_a_new_guild_becomes_a_community_with_its_channels_and_default_settings(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=3)
    with FakeDiscord(guilds=[]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake) as adapter:
            fake.add_guild(town.guild())

            async def linked() -> bool:
                return GUILD_ID in adapter.bot.communities

            await eventually(linked, what="the guild to be set up")
            community_id = adapter.bot.communities[GUILD_ID]
            # a second GUILD_CREATE (a reconnect) changes nothing
            await adapter.bot.setup_guild(adapter.bot.get_guild(GUILD_ID))  # type: ignore[arg-type]
    assert (
        await scalar(
            migrated_database,
            "SELECT count(*) FROM community_links WHERE external_id = %s",
            str(GUILD_ID),
        )
        == 1
    )
    rows = await scalar(
        migrated_database,
        "SELECT string_agg(external_id || ':' || type, ',' ORDER BY external_id) "
        "FROM channels WHERE community_id = %s",
        community_id,
    )
    assert rows.split(",") == sorted(
        [f"{GENERAL_ID}:text", "1100000000000000010:category", "1100000000000000012:voice"]
    )
    parent = await scalar(
        migrated_database,
        "SELECT p.external_id FROM channels c JOIN channels p ON p.community_id = c.community_id "
        "AND p.id = c.parent_id WHERE c.external_id = %s",
        str(GENERAL_ID),
    )
    assert parent == "1100000000000000010"
    assert (
        await scalar(
            migrated_database,
            "SELECT settings->>'format' FROM community_settings WHERE community_id = %s",
            community_id,
        )
        == "1"
    )


async def test_removing_a_reaction_reverses_it_even_after_a_restart(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=3)
    install(migrated_database, town, plain_rules())
    with FakeDiscord(guilds=[town.guild()]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake):
            fake.dispatch("MESSAGE_CREATE", town.message(0, MESSAGE_BASE))
            fake.dispatch("MESSAGE_REACTION_ADD", town.reaction(1, MESSAGE_BASE, 0))
            fake.dispatch("MESSAGE_CREATE", town.message(0, MESSAGE_BASE + 1))
            fake.dispatch("MESSAGE_REACTION_ADD", town.reaction(2, MESSAGE_BASE + 1, 0))
            fake.dispatch("MESSAGE_REACTION_REMOVE", town.reaction(1, MESSAGE_BASE, 0, add=False))

            async def reversed_once() -> bool:
                return await lake_count(migrated_database, "reaction_removed") == 1

            await eventually(reversed_once, what="the removal")
        # A new process knows nothing in memory: the author comes from the recorded addition.
        async with running_adapter(migrated_database, tmp_path, fake):
            fake.dispatch(
                "MESSAGE_REACTION_REMOVE", town.reaction(2, MESSAGE_BASE + 1, 0, add=False)
            )

            async def reversed_twice() -> bool:
                return await lake_count(migrated_database, "reaction_removed") == 2

            await eventually(reversed_twice, what="the removal after a restart")
    assert await ledger_sum(migrated_database, "stars") == 0


async def test_a_malformed_dispatch_is_skipped_and_the_next_event_still_counts(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=2)
    install(migrated_database, town, plain_rules())
    with FakeDiscord(guilds=[town.guild()]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake) as adapter:
            broken = town.message(0, MESSAGE_BASE)
            del broken["author"]
            fake.dispatch_raw(0, {"op": 0, "t": "MESSAGE_CREATE", "d": broken})
            fake.dispatch("MESSAGE_CREATE", town.message(1, MESSAGE_BASE + 1))

            async def recorded() -> bool:
                return await lake_count(migrated_database, "message") == 1

            await eventually(recorded, what="the valid message")
            assert adapter.bot.figures.skipped_malformed == 1
            assert adapter.readiness()["status"] == "ok"


async def test_a_refused_token_says_how_to_get_a_new_one(
    migrated_database: str, tmp_path: Path
) -> None:
    with FakeDiscord(guilds=[]) as fake, pytest.raises(DiscordSetupError, match="Reset Token"):
        async with running_adapter(migrated_database, tmp_path, fake, token="wrong-token"):
            pass


async def test_a_privileged_intent_not_enabled_says_where_to_enable_it(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=1)
    with (
        FakeDiscord(guilds=[town.guild()], allowed_privileged_intents=0) as fake,
        pytest.raises(DiscordSetupError, match="Privileged Gateway Intents") as caught,
    ):
        async with running_adapter(migrated_database, tmp_path, fake, message_content=True):
            pass
    assert "Message Content" in str(caught.value)


def test_a_missing_token_is_refused_before_anything_starts() -> None:
    with pytest.raises(DiscordSetupError, match="TOWNSQUARE_DISCORD_TOKEN"):
        DiscordAdapter(DiscordSettings(), pipeline=None, engine=None)  # type: ignore[arg-type]


async def test_ready_reports_each_shard(migrated_database: str, tmp_path: Path) -> None:
    town = Town(size=1)
    other = payloads.guild(payloads.snowflake_on_shard(1, 2), "Elsewhere", owner_id=town.user_id(0))
    town.guild_id = payloads.snowflake_on_shard(0, 2)
    with FakeDiscord(guilds=[town.guild(), other], shard_count=2) as fake:
        async with running_adapter(migrated_database, tmp_path, fake, shard_count=2) as adapter:

            async def both_ready() -> bool:
                shards = adapter.readiness()["shards"]
                return len(shards) == 2 and all(s["ready"] for s in shards.values())

            await eventually(both_ready, what="both shards")
            ready = adapter.readiness()
            assert ready["status"] == "ok"
            assert ready["guilds"] == 2
            fake.drop_connection(1, code=None)
            await fake.wait_for_resume(1, timeout=30)

            async def resumed() -> bool:
                return bool(adapter.readiness()["shards"]["1"]["resumes"] == 1)

            await eventually(resumed, what="shard 1 to resume")
