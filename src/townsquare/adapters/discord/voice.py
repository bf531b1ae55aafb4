"""Voice time from voice-state updates, persisted so no session is lost to a restart.

Each account in a voice channel has one open session: a channel and the flags that change
its worth (muted, deafened, alone, AFK). Any change closes the session — a VOICE_SEGMENT
event with its minutes — and opens the next. "Alone" depends on the others in the channel,
so a join or leave re-evaluates everyone in the channels it touches.

The open sessions are written to PostgreSQL with every change and checkpointed every
``voice_checkpoint_seconds``. After a restart the stored sessions are closed at their last
checkpoint (downtime is never paid as voice time) and whoever is in voice now starts anew.
A crash between ingesting a closed segment and deleting its row re-emits the same event id
(guild, user, start), which the event lake's unique key turns into a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import discord
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.adapters.discord.mapping import (
    Place,
    VoiceFlags,
    member_roles,
    place_of,
    voice_segment_event,
)
from townsquare.core import Event
from townsquare.core.kinds import ChannelType
from townsquare.store.voice_sessions import (
    OpenVoiceSession,
    checkpoint_sessions,
    load_sessions,
    save_sessions,
)

log = structlog.get_logger(__name__)
PLATFORM = "discord"

Ingest = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Seen:
    channel: discord.VoiceChannel | discord.StageChannel
    flags: VoiceFlags
    roles: tuple[str, ...]


class VoiceTracker:
    """Owns the open voice sessions of the guilds this process serves."""

    def __init__(
        self,
        engine: AsyncEngine,
        ingest: Ingest,
        *,
        checkpoint_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._ingest = ingest
        self._checkpoint_seconds = checkpoint_seconds
        self._clock = clock
        # guild id -> community id, and (guild id -> user id -> session): bounded by the
        # guilds this process serves and the people in their voice channels right now.
        self._communities: dict[int, int] = {}
        self._open: dict[int, dict[int, OpenVoiceSession]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self.segments_closed = 0

    def _lock(self, guild_id: int) -> asyncio.Lock:
        return self._locks.setdefault(guild_id, asyncio.Lock())

    def open_sessions(self, guild_id: int) -> dict[int, OpenVoiceSession]:
        """A copy of a guild's open sessions (for status pages and tests)."""
        return dict(self._open.get(guild_id, {}))

    async def restore(self, guild: discord.Guild, community_id: int) -> None:
        """On (re)connect: close what was stored at its checkpoint, open who is in voice now.

        Idempotent: after a RESUME or a second GUILD_CREATE the sessions in memory are
        re-checked against the guild's voice states, nothing is paid twice.
        """
        async with self._lock(guild.id):
            self._communities[guild.id] = community_id
            now = int(self._clock())
            if guild.id not in self._open:
                async with self._engine.connect() as conn:
                    stored = await load_sessions(conn, community_id, PLATFORM)
                self._open[guild.id] = {int(s.external_user_id): s for s in stored}
                for session in stored:
                    await self._close(guild, session, session.checkpoint_at, roles=())
                self._open[guild.id] = {}
                await self._persist(guild.id, [], [s.external_user_id for s in stored])
            channels = {state.channel for state in guild._voice_states.values() if state.channel}
            await self._reconcile(guild, _voice_channels(channels), now)

    async def on_voice_state_update(
        self,
        member: discord.Member,
        before: discord.VoiceState,
        after: discord.VoiceState,
    ) -> None:
        """Re-evaluate the channels the member left and joined."""
        guild = member.guild
        if guild.id not in self._communities:
            return  # not bootstrapped yet; restore() will see this state
        async with self._lock(guild.id):
            now = int(self._clock())
            channels = _voice_channels([before.channel, after.channel])
            await self._reconcile(guild, channels, now, also=[member.id])

    async def _reconcile(
        self,
        guild: discord.Guild,
        channels: list[discord.VoiceChannel | discord.StageChannel],
        now: int,
        also: Iterable[int] = (),
    ) -> None:
        seen = _observe(guild, channels)
        sessions = self._open.setdefault(guild.id, {})
        affected = (
            set(seen)
            | set(also)
            | {
                user
                for user, s in sessions.items()
                if int(s.channel_id) in {c.id for c in channels}
            }
        )
        opened: list[OpenVoiceSession] = []
        closed: list[str] = []
        for user_id in sorted(affected):
            current = sessions.get(user_id)
            now_seen = seen.get(user_id)
            if current is not None and now_seen is not None and _same(current, now_seen):
                continue
            if current is not None:
                roles = now_seen.roles if now_seen is not None else ()
                await self._close(guild, current, now, roles=roles)
                del sessions[user_id]
                if now_seen is None:
                    closed.append(str(user_id))
            if now_seen is not None:
                session = OpenVoiceSession(
                    external_user_id=str(user_id),
                    channel_id=str(now_seen.channel.id),
                    started_at=now,
                    checkpoint_at=now,
                    muted=now_seen.flags.muted,
                    deafened=now_seen.flags.deafened,
                    alone=now_seen.flags.alone,
                    afk=now_seen.flags.afk,
                )
                sessions[user_id] = session
                opened.append(session)
        if opened or closed:
            await self._persist(guild.id, opened, closed)

    async def _close(
        self, guild: discord.Guild, session: OpenVoiceSession, ended_at: int, roles: tuple[str, ...]
    ) -> None:
        channel = guild.get_channel(int(session.channel_id))
        place = place_of(channel) or Place(session.channel_id, ChannelType.VOICE)
        event = voice_segment_event(
            str(guild.id),
            session.external_user_id,
            place,
            started_at=session.started_at,
            ended_at=max(ended_at, session.started_at),
            flags=VoiceFlags(session.muted, session.deafened, session.alone, session.afk),
            roles=roles,
        )
        if event is not None:
            await self._ingest(event)
            self.segments_closed += 1

    async def _persist(
        self, guild_id: int, opened: list[OpenVoiceSession], closed: list[str]
    ) -> None:
        community_id = self._communities[guild_id]
        async with self._engine.begin() as conn:
            await save_sessions(conn, community_id, PLATFORM, opened, closed)

    async def checkpoint(self) -> int:
        """Record that every open session is still alive now."""
        async with self._engine.begin() as conn:
            return await checkpoint_sessions(
                conn, sorted(self._communities.values()), PLATFORM, int(self._clock())
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Checkpoint until ``stop`` is set; a failed checkpoint is logged and retried."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._checkpoint_seconds)
            if stop.is_set():
                return
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - a lost checkpoint costs at most one period
                log.warning("voice_checkpoint_failed", error=type(exc).__name__)


def _voice_channels(
    channels: Iterable[object],
) -> list[discord.VoiceChannel | discord.StageChannel]:
    found: dict[int, discord.VoiceChannel | discord.StageChannel] = {}
    for channel in channels:
        if isinstance(channel, discord.VoiceChannel | discord.StageChannel):
            found[channel.id] = channel
    return list(found.values())


def _observe(
    guild: discord.Guild, channels: list[discord.VoiceChannel | discord.StageChannel]
) -> dict[int, _Seen]:
    """Who is in these channels now, with their flags (bots neither earn nor keep company)."""
    seen: dict[int, _Seen] = {}
    for channel in channels:
        humans = []
        for user_id, state in channel.voice_states.items():
            member = guild.get_member(user_id)
            if member is not None and member.bot:
                continue
            humans.append((user_id, state, member))
        for user_id, state, member in humans:
            seen[user_id] = _Seen(
                channel,
                VoiceFlags(
                    muted=state.self_mute or state.mute,
                    deafened=state.self_deaf or state.deaf,
                    alone=len(humans) == 1,
                    afk=state.afk or channel == guild.afk_channel,
                ),
                member_roles(member),
            )
    return seen


def _same(session: OpenVoiceSession, seen: _Seen) -> bool:
    return (
        session.channel_id == str(seen.channel.id)
        and session.muted == seen.flags.muted
        and session.deafened == seen.flags.deafened
        and session.alone == seen.flags.alone
        and session.afk == seen.flags.afk
    )
