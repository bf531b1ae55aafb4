"""The hot path: messages and reactions straight from gateway payloads to the pipeline.

discord.py turns every MESSAGE_CREATE into a ``Message`` (author, member, embeds,
mentions…) and every reaction into a ``Member`` plus a raw event, then starts a task per
listener — most of its cost per event, and none of it needed to count activity. These
parsers replace discord.py's for the three busiest dispatches: they read the payload,
resolve the channel from discord.py's guild cache, and append a core event to a buffer that
one owned task feeds to the pipeline with ``ingest_many`` (in arrival order, waiting when
the pipeline's queue is full). Nothing else in Townsquare listens to these three events.

A removed reaction's receiver is not in Discord's payload: it comes from a bounded map of
recent message authors, or else from the recorded addition in the event lake (async, off
the hot path).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import discord
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.adapters.discord.figures import AdapterFigures
from townsquare.adapters.discord.mapping import (
    display_name,
    member_roles,
    message_event,
    place_of,
    reaction_event,
    reaction_event_id,
)
from townsquare.adapters.discord.names import NameSync
from townsquare.core import Event
from townsquare.pipeline.ingest import Pipeline
from townsquare.pipeline.lru import LruMap
from townsquare.store.lake_lookup import reaction_target

log = structlog.get_logger(__name__)
PLATFORM = "discord"


class ActivityFeed:
    """Parses activity dispatches and owns the task that hands the events to the pipeline."""

    def __init__(
        self,
        state: Any,  # discord.py's ConnectionState: the guild and channel cache
        pipeline: Pipeline,
        engine: AsyncEngine,
        communities: Mapping[int, int],
        names: NameSync,
        *,
        text_known: bool,
        figures: AdapterFigures,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._pipeline = pipeline
        self._engine = engine
        self._communities = communities
        self._names = names
        self._text_known = text_known
        self._figures = figures
        self._clock = clock
        self._buffer: deque[Event] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lookups: set[asyncio.Task[None]] = set()
        # message id -> author id: who receives a reaction's removal (Discord omits it).
        self._authors: LruMap[int, str] = LruMap(200_000)

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._feed(), name="townsquare-discord-feed")

    async def stop(self) -> None:
        """Hand over what is buffered, then end the feed task (bounded by the pipeline)."""
        for lookup in list(self._lookups):
            lookup.cancel()
        task, self._task = self._task, None
        if task is None:
            return
        await self.drain()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def drain(self) -> None:
        """Give the pipeline everything buffered so far."""
        while self._buffer:
            await self._hand_over()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def _feed(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._buffer:
                await self._hand_over()

    async def _hand_over(self) -> None:
        events = list(self._buffer)
        self._buffer.clear()
        await self._pipeline.ingest_many(events)
        self._figures.events_ingested += len(events)

    def _push(self, event: Event) -> None:
        self._buffer.append(event)
        self._wake.set()

    # --- parsers (synchronous, called by discord.py for each dispatch) ---------------------

    def install(self, parsers: dict[str, Callable[[Any], None]]) -> None:
        """Put the parsers in place of discord.py's for these dispatches."""
        parsers["MESSAGE_CREATE"] = self.parse_message
        parsers["MESSAGE_REACTION_ADD"] = self.parse_reaction_add
        parsers["MESSAGE_REACTION_REMOVE"] = self.parse_reaction_remove

    def _guild(self, data: Mapping[str, Any]) -> discord.Guild | None:
        guild_id = data.get("guild_id")
        if guild_id is None:
            return None  # a DM: not community activity
        guild: discord.Guild | None = self._state._get_guild(int(guild_id))
        return guild

    def parse_message(self, data: Mapping[str, Any]) -> None:
        guild = self._guild(data)
        if guild is None:
            return
        place = place_of(guild.get_channel_or_thread(int(data["channel_id"])))
        if place is None:
            return
        event = message_event(data, place, text_known=self._text_known)
        if event is None:
            return
        self._authors.put(int(data["id"]), event.member_id)
        community_id = self._communities.get(guild.id)
        if community_id is not None:
            self._names.seen(community_id, int(event.member_id), display_name(data))
        self._push(event)

    def parse_reaction_add(self, data: Mapping[str, Any]) -> None:
        author = data.get("message_author_id")
        if author is not None:
            self._authors.put(int(data["message_id"]), str(author))
        self._reaction(data, added=True, author_id=None if author is None else str(author))

    def parse_reaction_remove(self, data: Mapping[str, Any]) -> None:
        author = self._authors.get(int(data["message_id"]))
        if author is not None:
            self._reaction(data, added=False, author_id=author)
            return
        lookup = asyncio.get_running_loop().create_task(self._removal_from_lake(dict(data)))
        self._lookups.add(lookup)
        lookup.add_done_callback(self._lookups.discard)

    def _reaction(self, data: Mapping[str, Any], *, added: bool, author_id: str | None) -> None:
        guild = self._guild(data)
        if guild is None or author_id is None:
            return
        place = place_of(guild.get_channel_or_thread(int(data["channel_id"])))
        if place is None:
            return
        event = reaction_event(
            data,
            place,
            added=added,
            author_id=author_id,
            author_roles=member_roles(guild.get_member(int(author_id))),
            at=int(self._clock()),
        )
        if event is not None:
            self._push(event)

    async def _removal_from_lake(self, data: dict[str, Any]) -> None:
        """Who received the reaction being removed, from its recorded addition (if any)."""
        guild = self._guild(data)
        community_id = None if guild is None else self._communities.get(guild.id)
        if community_id is None:
            return
        try:
            async with self._engine.connect() as conn:
                found = await reaction_target(
                    conn, community_id, PLATFORM, reaction_event_id(data, added=True)
                )
        except Exception as exc:  # noqa: BLE001 - the removal is skipped, as if unrecorded
            log.warning("discord_reaction_lookup_failed", error=type(exc).__name__)
            return
        if found is not None:
            self._reaction(data, added=False, author_id=found)
