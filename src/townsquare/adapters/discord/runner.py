"""Start and stop the Discord bot as one owned unit: login, shards, background tasks.

`DiscordAdapter.start` returns once the first shard is ready, or raises `DiscordSetupError`
with what to fix (no token, a refused token, a privileged intent not enabled in the
developer portal). Everything it starts, `stop` ends within a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import discord
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.adapters.discord.bot import TownsquareBot
from townsquare.adapters.discord.errors import (
    invalid_token,
    missing_token,
    privileged_intents,
)
from townsquare.adapters.discord.outcomes import OutcomeRelay
from townsquare.config.settings import DiscordSettings
from townsquare.pipeline.ingest import Pipeline

log = structlog.get_logger(__name__)


class DiscordAdapter:
    """Owns the bot, its gateway task and its background tasks."""

    name = "discord"

    def __init__(
        self,
        settings: DiscordSettings,
        pipeline: Pipeline,
        engine: AsyncEngine,
        *,
        ready_timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.token is None or not settings.token.get_secret_value().strip():
            raise missing_token()
        self.settings = settings
        self.bot = TownsquareBot(settings, pipeline=pipeline, engine=engine, clock=clock)
        self._ready_timeout = ready_timeout
        self._stop = asyncio.Event()
        self._gateway: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def failed(self) -> BaseException | None:
        """Why the gateway task ended on its own, if it did."""
        task = self._gateway
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    async def start(self) -> None:
        """Log in, connect the shards and wait for the first to be ready."""
        # discord.py builds every REST URL from this class attribute; a REST proxy (or a
        # local fake in tests) is reached by pointing it elsewhere, as the setting says.
        discord.http.Route.BASE = f"{self.settings.api_url.rstrip('/')}/api/v10"
        assert self.settings.token is not None
        try:
            await self.bot.login(self.settings.token.get_secret_value().strip())
        except discord.LoginFailure:
            await self.bot.close()
            raise invalid_token() from None
        self._gateway = asyncio.create_task(self._connect(), name="townsquare-discord-gateway")
        ready = asyncio.create_task(self.bot.wait_until_ready())
        done, _ = await asyncio.wait(
            {self._gateway, ready},
            timeout=self._ready_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._gateway in done:
            ready.cancel()
            error = self._gateway.exception()
            await self.stop()
            if isinstance(error, discord.PrivilegedIntentsRequired):
                raise privileged_intents(self._privileged_names()) from None
            if error is not None:
                raise error
        if ready not in done:
            ready.cancel()
            log.warning("discord_not_ready_yet", waited_seconds=self._ready_timeout)
        relay = OutcomeRelay(
            self.bot.pipeline, self.bot.communities, self.bot.roles, self.bot.announcer
        )
        self._tasks += [
            asyncio.create_task(
                self.bot.voice.run(self._stop), name="townsquare-voice-checkpoints"
            ),
            asyncio.create_task(relay.run(self._stop), name="townsquare-discord-outcomes"),
            asyncio.create_task(self.bot.names.run(self._stop), name="townsquare-discord-names"),
        ]
        log.info("discord_started", shards=self.bot.shard_count, guilds=len(self.bot.guilds))

    def _privileged_names(self) -> list[str]:
        names = []
        if self.settings.message_content:
            names.append("Message Content")
        if self.settings.members:
            names.append("Server Members")
        return names

    async def wait_stopped(self) -> None:
        """Return when the gateway task has ended."""
        if self._gateway is not None:
            await asyncio.wait({self._gateway})

    async def _connect(self) -> None:
        await self.bot.connect(reconnect=True)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Close the gateway and stop the background tasks (bounded)."""
        self._stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.bot.close(), grace_seconds)
        tasks = [t for t in (self._gateway, *self._tasks) if t is not None]
        for task in tasks:
            if not task.done():
                task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace_seconds)
        self._gateway = None
        self._tasks = []

    def readiness(self) -> dict[str, Any]:
        return self.bot.readiness()
