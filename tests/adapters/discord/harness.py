"""A guild on a fake Discord, the real bot on it, a real pipeline and PostgreSQL behind it.

`Town` builds the guild's JSON (channels, roles, members) and the gateway payloads tests
dispatch; `running_adapter` starts `DiscordAdapter` exactly as `townsquare run` does, pointed
at the fake by its ``api_url`` setting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from townsquare.adapters.discord.runner import DiscordAdapter
from townsquare.config.document import CommunityConfigDocument
from townsquare.config.settings import DatabaseSettings, DiscordSettings, PipelineSettings
from townsquare.fakes.discord import DEFAULT_TOKEN, FakeDiscord, payloads
from townsquare.pipeline.ingest import Pipeline
from townsquare.store.engine import create_db_engine, libpq_url

JSON = dict[str, Any]

GUILD_ID = 1_100_000_000_000_000_001
CATEGORY_ID = 1_100_000_000_000_000_010
GENERAL_ID = 1_100_000_000_000_000_011
VOICE_ID = 1_100_000_000_000_000_012
NEWS_ID = 1_100_000_000_000_000_013
LEVEL_ROLE_ID = 1_100_000_000_000_000_100
FIRST_USER = 1_200_000_000_000_000_000


@dataclass
class Town:
    """One guild with ``size`` members (user ids FIRST_USER + i)."""

    size: int = 20
    guild_id: int = GUILD_ID
    name: str = "Town Square"
    members: list[JSON] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.members = [
            payloads.member(payloads.user(FIRST_USER + i, f"member{i}"), roles=[])
            for i in range(self.size)
        ]

    def user_id(self, i: int) -> int:
        return FIRST_USER + i

    def guild(self) -> JSON:
        channels = [
            payloads.category_channel(CATEGORY_ID, self.guild_id, "Talk"),
            payloads.text_channel(GENERAL_ID, self.guild_id, "general", parent_id=CATEGORY_ID),
            payloads.voice_channel(VOICE_ID, self.guild_id, "Lounge", parent_id=CATEGORY_ID),
        ]
        roles = [payloads.role(LEVEL_ROLE_ID, "Regular", position=1)]
        return payloads.guild(
            self.guild_id,
            self.name,
            owner_id=FIRST_USER,
            roles=roles,
            channels=channels,
            members=self.members,
        )

    def message(self, i: int, message_id: int, content: str = "hello there, friends") -> JSON:
        author = self.members[i]
        return payloads.message(
            GENERAL_ID,
            author["user"],
            content,
            message_id=message_id,
            guild_id=self.guild_id,
            author_member=author,
        )

    def reaction(self, giver: int, message_id: int, author: int, *, add: bool = True) -> JSON:
        if add:
            return payloads.reaction_add(
                user_id=self.user_id(giver),
                channel_id=GENERAL_ID,
                message_id=message_id,
                reaction_emoji=payloads.emoji("👍"),
                guild_id=self.guild_id,
                reactor_member=self.members[giver],
                message_author_id=self.user_id(author),
            )
        return payloads.reaction_remove(
            user_id=self.user_id(giver),
            channel_id=GENERAL_ID,
            message_id=message_id,
            reaction_emoji=payloads.emoji("👍"),
            guild_id=self.guild_id,
        )

    def voice(
        self, i: int, channel_id: int | None, *, self_mute: bool = False, self_deaf: bool = False
    ) -> JSON:
        member = self.members[i]
        return payloads.voice_state(
            self.guild_id, channel_id, member, self_mute=self_mute, self_deaf=self_deaf
        )


def plain_rules(**levels: Any) -> CommunityConfigDocument:
    """Rules where every message earns the same (no cooldown, caps, quality or duplicates),
    so the expected ledger totals are simple arithmetic."""
    return CommunityConfigDocument.model_validate(
        {
            "rules": {
                "quality": {"enabled": False},
                "anti_gaming": {
                    "cooldown_seconds": 0,
                    "daily_caps": {"xp": None, "stars": None, "gold": None},
                    "duplicate_window": 0,
                    "reaction_pair_daily_cap": 1000,
                    "reaction_partners_per_day": 1000,
                    "voice_daily_cap_minutes": None,
                },
                "levels": levels,
            }
        }
    )


def install(url: str, town: Town, document: CommunityConfigDocument) -> int:
    """The guild's community with ``document`` as its configuration, before the bot starts."""
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "INSERT INTO communities (slug, name) VALUES ('town', %s) RETURNING id", (town.name,)
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO community_links (community_id, platform, external_id) "
            "VALUES (%s, 'discord', %s)",
            (row[0], str(town.guild_id)),
        )
        conn.execute(
            "INSERT INTO community_settings (community_id, settings) VALUES (%s, %s)",
            (row[0], Jsonb(document.model_dump(mode="json"))),
        )
        conn.execute("UPDATE communities SET config_version = 2 WHERE id = %s", (row[0],))
    return int(row[0])


def discord_settings(fake: FakeDiscord, **overrides: Any) -> DiscordSettings:
    values: dict[str, Any] = {
        "token": SecretStr(DEFAULT_TOKEN),
        "api_url": fake.url,
        "voice_checkpoint_seconds": 5,
    }
    return DiscordSettings(**{**values, **overrides})


@asynccontextmanager
async def running_adapter(
    url: str,
    tmp_path: Path,
    fake: FakeDiscord,
    *,
    clock: Callable[[], float] = time.time,
    **overrides: Any,
) -> AsyncIterator[DiscordAdapter]:
    """Pipeline + engine + adapter, started and stopped in the order `townsquare run` uses."""
    pipeline_settings = PipelineSettings(spool_dir=tmp_path / "spool", linger_ms=5)
    engine = create_db_engine(url, DatabaseSettings(pool_size=3))
    # discord.py dials Discord's default gateway URL (not the one GET /gateway/bot gave) with
    # a fixed shard count and after an invalid session: point that at the fake too.
    redirect = fake.redirect_discord_py()
    try:
        with redirect:
            async with Pipeline(url, pipeline_settings, DatabaseSettings()) as pipeline:
                adapter = DiscordAdapter(
                    discord_settings(fake, **overrides), pipeline, engine, clock=clock
                )
                await adapter.start()
                try:
                    yield adapter
                finally:
                    await adapter.stop()
    finally:
        await engine.dispose()


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 30.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds (the pipeline commits asynchronously)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def scalar(url: str, sql: str, *params: Any) -> Any:
    async with await psycopg.AsyncConnection.connect(libpq_url(url)) as conn:
        row = await (await conn.execute(sql, params)).fetchone()
    return None if row is None else row[0]
