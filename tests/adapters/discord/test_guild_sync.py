"""Channels, threads, members and message text as the guild changes under the bot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.adapters.discord.harness import (
    CATEGORY_ID,
    GENERAL_ID,
    GUILD_ID,
    Town,
    eventually,
    install,
    plain_rules,
    running_adapter,
    scalar,
)
from townsquare.fakes.discord import FakeDiscord, payloads

pytestmark = pytest.mark.timeout(120)

NEW_CHANNEL = 1_100_000_000_000_000_050
THREAD_ID = 1_100_000_000_000_000_060


async def channel(url: str, external_id: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await scalar(
        url,
        "SELECT json_build_object('name', c.name, 'type', c.type, 'deleted', "
        "c.deleted_at IS NOT NULL, 'parent', p.external_id) FROM channels c "
        "LEFT JOIN channels p ON p.community_id = c.community_id AND p.id = c.parent_id "
        "WHERE c.external_id = %s",
        str(external_id),
    )
    return row


async def test_channel_create_rename_and_delete_follow_discord(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=2)
    install(migrated_database, town, plain_rules())
    with FakeDiscord(guilds=[town.guild()]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake):
            created = payloads.text_channel(NEW_CHANNEL, GUILD_ID, "ideas", parent_id=CATEGORY_ID)
            fake.dispatch("CHANNEL_CREATE", created)

            async def exists() -> bool:
                return await channel(migrated_database, NEW_CHANNEL) is not None

            await eventually(exists, what="the new channel")
            fake.dispatch("CHANNEL_UPDATE", {**created, "name": "proposals"})

            async def renamed() -> bool:
                found = await channel(migrated_database, NEW_CHANNEL)
                return found is not None and found["name"] == "proposals"

            await eventually(renamed, what="the rename")
            fake.dispatch("CHANNEL_DELETE", {**created, "name": "proposals"})

            async def deleted() -> bool:
                found = await channel(migrated_database, NEW_CHANNEL)
                return found is not None and found["deleted"]

            await eventually(deleted, what="the deletion")
    assert await channel(migrated_database, NEW_CHANNEL) == {
        "name": "proposals",
        "type": "text",
        "deleted": True,
        "parent": str(CATEGORY_ID),
    }


async def test_a_new_thread_earns_its_owner_and_becomes_a_channel_under_its_parent(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=2)
    install(migrated_database, town, plain_rules())
    with FakeDiscord(guilds=[town.guild()]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake):
            thread = payloads.thread_channel(
                THREAD_ID, GUILD_ID, GENERAL_ID, "plans", owner_id=town.user_id(1)
            )
            fake.dispatch("THREAD_CREATE", payloads.thread_create(thread))
            fake.dispatch(
                "MESSAGE_CREATE",
                payloads.message(
                    THREAD_ID,
                    town.members[0]["user"],
                    "in the thread",
                    guild_id=GUILD_ID,
                    author_member=town.members[0],
                ),
            )

            async def recorded() -> bool:
                count = await scalar(migrated_database, "SELECT count(*) FROM events")
                return int(count or 0) == 2

            await eventually(recorded, what="the thread and its message")
    assert await channel(migrated_database, THREAD_ID) == {
        "name": "plans",
        "type": "thread",
        "deleted": False,
        "parent": str(GENERAL_ID),
    }
    kinds = await scalar(
        migrated_database,
        "SELECT json_agg(json_build_array(e.kind, i.external_user_id, "
        "e.metadata->'thread') ORDER BY e.kind) FROM events e JOIN member_identities i "
        "ON i.community_id = e.community_id AND i.member_id = e.member_id",
    )
    assert kinds == [
        ["message", str(town.user_id(0)), True],
        ["thread_created", str(town.user_id(1)), None],
    ]


async def test_joins_and_leaves_count_when_the_members_intent_is_on(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=1)
    install(migrated_database, town, plain_rules())
    newcomer = payloads.member(payloads.user(1_300_000_000_000_000_001, "newcomer"))
    with FakeDiscord(guilds=[town.guild()]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake, members=True):
            fake.dispatch("GUILD_MEMBER_ADD", payloads.guild_member_add(GUILD_ID, newcomer))
            fake.dispatch(
                "GUILD_MEMBER_REMOVE", payloads.guild_member_remove(GUILD_ID, newcomer["user"])
            )

            async def both() -> bool:
                count = await scalar(migrated_database, "SELECT count(*) FROM events")
                return int(count or 0) == 2

            await eventually(both, what="the join and the leave")
    assert (
        await scalar(migrated_database, "SELECT string_agg(kind, ',' ORDER BY kind) FROM events")
        == "member_joined,member_left"
    )
    # a join pays the welcome gold of the default rules
    assert await scalar(migrated_database, "SELECT sum(gold) FROM ledger_entries") == 10


@pytest.mark.parametrize("content_intent", [False, True])
async def test_message_text_is_read_only_with_the_message_content_intent(
    migrated_database: str, tmp_path: Path, content_intent: bool
) -> None:
    town = Town(size=1)
    install(migrated_database, town, plain_rules())
    text = "see https://example.org for the schedule"
    with FakeDiscord(guilds=[town.guild()]) as fake:
        async with running_adapter(
            migrated_database, tmp_path, fake, message_content=content_intent
        ):
            fake.dispatch("MESSAGE_CREATE", town.message(0, payloads.snowflake(), text))

            async def recorded() -> bool:
                count = await scalar(migrated_database, "SELECT count(*) FROM events")
                return int(count or 0) == 1

            await eventually(recorded, what="the message")
    metadata = await scalar(migrated_database, "SELECT metadata FROM events")
    if content_intent:
        assert metadata["length"] == len(text)
        assert metadata["links"] == 1
        assert "text_known" not in metadata
    else:
        assert metadata["text_known"] is False
        assert "links" not in metadata
    # the text itself is never stored
    assert (
        await scalar(
            migrated_database,
            "SELECT count(*) FROM events WHERE strpos(metadata::text, 'example') > 0",
        )
        == 0
    )


async def test_members_get_their_display_names_once_the_pipeline_knows_them(
    migrated_database: str, tmp_path: Path
) -> None:
    town = Town(size=2)
    town.members[1] = payloads.member(
        payloads.user(town.user_id(1), "member1"), nick="Mika <script>"
    )
    install(migrated_database, town, plain_rules())
    with FakeDiscord(guilds=[town.guild()]) as fake:
        async with running_adapter(migrated_database, tmp_path, fake) as adapter:
            fake.dispatch("MESSAGE_CREATE", town.message(1, payloads.snowflake()))

            async def recorded() -> bool:
                count = await scalar(migrated_database, "SELECT count(*) FROM events")
                return int(count or 0) == 1

            await eventually(recorded, what="the message")
            await adapter.bot.names.flush()
    names = await scalar(
        migrated_database,
        "SELECT json_object_agg(i.external_user_id, m.display_name) FROM members m "
        "JOIN member_identities i ON i.community_id = m.community_id AND i.member_id = m.id",
    )
    # member 0 never spoke, so the pipeline never created them; the nick is stored as text.
    assert names == {str(town.user_id(1)): "Mika <script>"}
