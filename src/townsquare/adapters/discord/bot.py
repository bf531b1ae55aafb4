"""The Discord client: gateway events in, core events out to the ingest pipeline.

Handlers are thin — translate (`mapping`), hand over (`Pipeline.ingest`), keep only the
state the rules need across events (voice sessions in PostgreSQL, reacted-to authors in a
bounded map). Guild setup runs on every GUILD_CREATE, so it is idempotent: a reconnect
re-syncs, it never re-creates. A dispatch that discord.py cannot parse is logged and skipped
instead of ending the shard (discord.py would otherwise stop the whole client).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import discord
import structlog
from discord import app_commands
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.adapters.discord.activity import ActivityFeed
from townsquare.adapters.discord.announcer import Announcer
from townsquare.adapters.discord.commands import build_tree
from townsquare.adapters.discord.figures import AdapterFigures, ShardStatus
from townsquare.adapters.discord.mapping import (
    channel_type_name,
    membership_event,
    thread_event,
)
from townsquare.adapters.discord.names import NameSync
from townsquare.adapters.discord.roles import RoleSync
from townsquare.adapters.discord.voice import VoiceTracker
from townsquare.config.document import CommunityConfigDocument
from townsquare.config.settings import DiscordSettings
from townsquare.core import Event
from townsquare.pipeline.ingest import Pipeline
from townsquare.services.communities import (
    ChannelInfo,
    ensure_community,
    remove_channel,
    sync_channels,
    upsert_channel,
)
from townsquare.store.engine import create_session_factory

log = structlog.get_logger(__name__)
PLATFORM = "discord"


def intents_for(settings: DiscordSettings) -> discord.Intents:
    """Only what the features need; privileged intents only when the operator asked."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.guild_reactions = True
    intents.voice_states = True
    intents.members = settings.members
    intents.message_content = settings.message_content
    return intents


class TownsquareBot(discord.AutoShardedClient):
    """One process's shards of the Townsquare bot."""

    def __init__(
        self,
        settings: DiscordSettings,
        *,
        pipeline: Pipeline,
        engine: AsyncEngine,
        clock: Callable[[], float] = time.time,
    ) -> None:
        sharding: dict[str, Any] = {"shard_count": settings.shard_count}
        if settings.shard_ids is not None:
            sharding["shard_ids"] = list(settings.shard_ids)
        super().__init__(
            intents=intents_for(settings),
            **sharding,
            max_messages=None,  # no message cache: events are translated, not kept
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.from_intents(intents_for(settings)),
        )
        self.settings = settings
        self.pipeline = pipeline
        self.engine = engine
        self.sessions = create_session_factory(engine)
        self.clock = clock
        self.figures = AdapterFigures()
        self.tree: app_commands.CommandTree[TownsquareBot]
        self.voice = VoiceTracker(
            engine,
            self._ingest,
            checkpoint_seconds=settings.voice_checkpoint_seconds,
            clock=clock,
        )
        self.roles = RoleSync(
            self,
            engine,
            concurrency=settings.role_sync_concurrency,
            notify_admins=self._notify_admins,
        )
        self.announcer = Announcer(self, engine)
        self.names = NameSync(engine)
        # guild id -> community id, for the guilds this process serves.
        self.communities: dict[int, int] = {}
        self.feed = ActivityFeed(
            self._connection,
            pipeline,
            engine,
            self.communities,
            self.names,
            text_known=settings.message_content,
            figures=self.figures,
            clock=clock,
        )
        self._guild_setup: dict[int, asyncio.Lock] = {}
        self._guard_parsers()

    async def setup_hook(self) -> None:
        """Once per process (not per reconnect): the activity feed and the slash commands."""
        self.feed.start()
        self.tree = build_tree(self)
        if self.settings.sync_commands:
            await self.sync_commands()

    async def sync_commands(self) -> None:
        """Register the commands: in the configured guilds (instant) or globally."""
        if self.settings.command_guild_ids:
            for guild_id in self.settings.command_guild_ids:
                guild = discord.Object(int(guild_id))
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()
        log.info("discord_commands_synced", guilds=len(self.settings.command_guild_ids))

    # --- robustness ------------------------------------------------------------------------

    def _guard_parsers(self) -> None:
        """Our parsers for activity; every parser wrapped so one malformed payload is skipped
        (discord.py would otherwise end the whole client on it)."""
        parsers: dict[str, Callable[[Any], None]] = self._connection.parsers
        self.feed.install(parsers)
        for name, parse in list(parsers.items()):
            parsers[name] = self._guarded(name, parse)

    def _guarded(self, name: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
        def guarded(data: Any) -> None:
            try:
                parse(data)
            except Exception as exc:  # noqa: BLE001 - any parse failure means a bad payload
                self.figures.skipped_malformed += 1
                log.warning("discord_dispatch_skipped", dispatch=name, error=type(exc).__name__)

        return guarded

    async def close(self) -> None:
        """Disconnect, then hand the buffered activity to the pipeline."""
        await super().close()
        await self.feed.stop()

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """A handler failed: log it (never the payload, it may hold message text)."""
        self.figures.handler_errors += 1
        log.exception("discord_handler_failed", handler=event_method)

    async def _ingest(self, event: Event) -> None:
        await self.pipeline.ingest(event)
        self.figures.events_ingested += 1

    def _now(self) -> int:
        return int(self.clock())

    # --- shards ----------------------------------------------------------------------------

    def _shard(self, shard_id: int) -> ShardStatus:
        return self.figures.shards.setdefault(shard_id, ShardStatus())

    async def on_shard_connect(self, shard_id: int) -> None:
        self._shard(shard_id).connected = True

    async def on_shard_ready(self, shard_id: int) -> None:
        status = self._shard(shard_id)
        status.connected = status.ready = True
        log.info("discord_shard_ready", shard=shard_id)

    async def on_shard_resumed(self, shard_id: int) -> None:
        status = self._shard(shard_id)
        status.connected = True
        status.resumes += 1

    async def on_shard_disconnect(self, shard_id: int) -> None:
        status = self._shard(shard_id)
        status.connected = False
        status.disconnects += 1

    def readiness(self) -> dict[str, Any]:
        """Per-shard state and latency for `/ready`."""
        shards = {}
        for shard_id, status in sorted(self.figures.shards.items()):
            info = self.get_shard(shard_id)
            latency = info.latency if info is not None else float("nan")
            shards[str(shard_id)] = {
                "connected": status.connected,
                "ready": status.ready,
                "latency_ms": None if latency != latency else round(latency * 1000, 1),
                "resumes": status.resumes,
                "disconnects": status.disconnects,
            }
        expected = self.shard_ids or range(self.shard_count or 1)
        healthy = all(
            self.figures.shards.get(i, ShardStatus()).connected for i in expected
        ) and bool(self.figures.shards)
        return {
            "status": "ok" if healthy else "unavailable",
            "shards": shards,
            "guilds": len(self.communities),
            "message_content": self.settings.message_content,
            "events_ingested": self.figures.events_ingested,
            "skipped_malformed": self.figures.skipped_malformed,
        }

    # --- guild setup -----------------------------------------------------------------------

    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self.setup_guild(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.setup_guild(guild)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        self.communities.pop(guild.id, None)

    async def setup_guild(self, guild: discord.Guild) -> int:
        """Community (created with defaults on first sight), channels, voice sessions.

        Runs on every GUILD_CREATE (start, reconnect, join), so each step is idempotent.
        """
        lock = self._guild_setup.setdefault(guild.id, asyncio.Lock())
        async with lock:
            async with self.sessions.begin() as session:
                space = await ensure_community(session, PLATFORM, str(guild.id), guild.name)
                await sync_channels(session, space.community_id, PLATFORM, _channels(guild))
            self.communities[guild.id] = space.community_id
            for member in guild.members:
                if not member.bot:
                    self.names.seen(space.community_id, member.id, member.display_name)
            if space.created:
                self.figures.guilds_bootstrapped += 1
            await self.voice.restore(guild, space.community_id)
            return space.community_id

    async def _community(self, guild: discord.Guild) -> int:
        community_id = self.communities.get(guild.id)
        return community_id if community_id is not None else await self.setup_guild(guild)

    async def community_for(self, guild: discord.Guild) -> int:
        """The community of ``guild``, bootstrapped on first sight (for the slash commands)."""
        return await self._community(guild)

    async def on_guild_channel_create(self, channel: discord.abc.GuildChannel) -> None:
        await self._upsert_channel(channel)

    async def on_guild_channel_update(
        self, _before: discord.abc.GuildChannel, after: discord.abc.GuildChannel
    ) -> None:
        await self._upsert_channel(after)

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        community_id = await self._community(channel.guild)
        async with self.sessions.begin() as session:
            await remove_channel(session, community_id, PLATFORM, str(channel.id))

    async def _upsert_channel(self, channel: discord.abc.GuildChannel | discord.Thread) -> None:
        community_id = await self._community(channel.guild)
        async with self.sessions.begin() as session:
            await upsert_channel(session, community_id, PLATFORM, _channel_info(channel))

    async def document(self, community_id: int) -> CommunityConfigDocument:
        """A community's configuration from the pipeline's live cache."""
        cache = self.pipeline.config_cache
        if cache is None:
            return CommunityConfigDocument()
        return (await cache.config_for(community_id)).document

    async def _notify_admins(self, guild_id: int, community_id: int, text: str) -> None:
        """Tell a guild's admins about a problem: the announcement or system channel."""
        document = await self.document(community_id)
        channel_id = document.announcements.channel_id
        if channel_id is None:
            guild = self.get_guild(guild_id)
            system = guild.system_channel if guild is not None else None
            channel_id = None if system is None else str(system.id)
        if channel_id is not None and channel_id.isdigit():
            await self.announcer.post(community_id, int(channel_id), f"⚠️ Townsquare: {text}")

    # --- activity --------------------------------------------------------------------------

    async def on_thread_create(self, thread: discord.Thread) -> None:
        event = thread_event(thread, at=self._now())
        if event is not None:
            await self._ingest(event)
        await self._upsert_channel(thread)

    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        if member.bot:
            return
        await self.voice.on_voice_state_update(member, before, after)

    async def on_member_join(self, member: discord.Member) -> None:
        if member.bot:
            return
        await self._ingest(
            membership_event(member.guild.id, member.id, joined=True, at=self._now())
        )
        community_id = await self._community(member.guild)
        document = await self.document(community_id)
        await self.roles.restore_member(
            member.guild.id, community_id, member.id, document.rules.levels
        )

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        if not payload.user.bot:
            await self._ingest(
                membership_event(payload.guild_id, payload.user.id, joined=False, at=self._now())
            )


def _channel_info(channel: discord.abc.GuildChannel | discord.Thread) -> ChannelInfo:
    parent = channel.parent_id if isinstance(channel, discord.Thread) else channel.category_id
    return ChannelInfo(
        external_id=str(channel.id),
        name=channel.name,
        type=channel_type_name(channel),
        parent_id=None if parent is None else str(parent),
    )


def _channels(guild: discord.Guild) -> list[ChannelInfo]:
    channels = [_channel_info(channel) for channel in guild.channels]
    # Categories first, so a channel's parent row exists when it is linked.
    channels.sort(key=lambda info: info.type != "category")
    return channels + [_channel_info(thread) for thread in guild.threads]
