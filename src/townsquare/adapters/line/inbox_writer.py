"""Recording verified webhook events in the inbox: their community, then a group commit.

Why apart from the HTTP route: this is the part that must be durable and fast, and neither
concern is HTTP's.

- **Communities**: a group or room is a community of its own; one-to-one chats (and
  account-wide events) belong to the account's community, linked as ``oa:<channel key>``
  (the name the event mapping gives the core events, so the pipeline finds the same one)
  — the community ``line.channels[].community`` names, or one made for the account. Answers
  are remembered in a bounded LRU; misses are resolved (and created) one request at a time,
  in a short transaction of their own, before the events are written.
- **Group commit**: a webhook is acknowledged only once its events are committed, and a
  commit (a WAL flush) costs far more than the rows. Requests that arrive while a commit
  is under way wait for it to end and are then written together, in one statement and one
  transaction, by whichever of them gets there first: no background task, no added wait
  when traffic is light, and at 500 requests/s one commit per handful of webhooks. When a
  batch fails, each request in it is written on its own, so one request's bad rows cannot
  fail the others, and each gets its own answer (a 503 when the database is away).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from townsquare.config.settings import LineChannelSettings
from townsquare.errors import TownsquareError
from townsquare.pipeline.lru import LruMap
from townsquare.services.communities import ensure_community
from townsquare.store.communities import find_community
from townsquare.store.notify import TownsquareSession
from townsquare.store.webhook_inbox import (
    NewInboxEvent,
    insert_events,
    link_space,
    linked_community,
)

log = structlog.get_logger(__name__)

PLATFORM = "line"
#: Platform spaces (groups, rooms, accounts) whose community is remembered.
COMMUNITY_CACHE_SIZE = 10_000


class LineCommunityMissing(TownsquareError):
    """A channel's configured community slug names no community (an operator must fix it)."""

    status = 503
    code = "line_community_missing"


@dataclass(frozen=True, slots=True)
class Space:
    """Where an event happened, as far as communities go."""

    kind: str  # "group", "room" or "account"
    external_id: str  # groupId, roomId, or "oa:<channel key>"


def space_of(channel_key: str, source: Any) -> tuple[Space, str]:
    """The space of an event's ``source`` and its ordering key (one chat: one at a time)."""
    if isinstance(source, Mapping):
        kind = source.get("type")
        for name, field in (("group", "groupId"), ("room", "roomId")):
            chat = source.get(field)
            if kind == name and isinstance(chat, str) and chat:
                return Space(name, chat), f"{channel_key}:{chat}"[:128]
        user = source.get("userId")
        if kind == "user" and isinstance(user, str) and user:
            return Space("account", f"oa:{channel_key}"), f"{channel_key}:{user}"[:128]
    return Space("account", f"oa:{channel_key}"), f"{channel_key}:account"


@dataclass(frozen=True, slots=True)
class VerifiedEvent:
    """An event from a signed webhook that line-bot-sdk's models accept."""

    space: Space
    ordering_key: str
    webhook_event_id: str
    event_type: str
    is_redelivery: bool
    payload: dict[str, Any]  # exactly as LINE sent it


class CommunityResolver:
    """Spaces to community ids: looked up (or created) once, then remembered."""

    def __init__(self, channels: Mapping[str, LineChannelSettings], capacity: int) -> None:
        self._channels = channels
        self._capacity = capacity
        self._known: LruMap[Space, int] = LruMap(capacity)
        self._looking_up = asyncio.Lock()

    def forget(self) -> None:
        """Drop every remembered answer (after a failed write: one may be stale)."""
        self._known = LruMap(self._capacity)

    async def resolve(
        self, engine: AsyncEngine, channel_key: str, spaces: Collection[Space]
    ) -> dict[Space, int]:
        """The community of each space. Misses are looked up one request at a time (the
        first webhooks of a new group often come in together, and must not all try to
        create its community), in one transaction, and remembered after it commits."""
        found, missing = self._known.split(spaces)
        if not missing:
            return found
        async with self._looking_up:
            known, missing = self._known.split(missing)
            found.update(known)
            if missing:
                try:
                    learned = await self._look_up_all(engine, channel_key, missing)
                except IntegrityError:  # created meanwhile by another process: it is there now
                    learned = await self._look_up_all(engine, channel_key, missing)
                for space, community_id in learned.items():
                    self._known.put(space, community_id)
                found.update(learned)
        return found

    async def _look_up_all(
        self, engine: AsyncEngine, channel_key: str, spaces: list[Space]
    ) -> dict[Space, int]:
        async with (
            AsyncSession(engine, sync_session_class=TownsquareSession) as session,
            session.begin(),
        ):
            return {space: await self.look_up(session, channel_key, space) for space in spaces}

    async def look_up(self, session: AsyncSession, channel_key: str, space: Space) -> int:
        """The configured community for the account's one-to-one chats (its ``oa:<key>``
        link made to point there), else the linked one, else a new one."""
        slug = self._channels[channel_key].community if space.kind == "account" else None
        if slug:
            community = await find_community(session, slug)
            if community is None:
                raise LineCommunityMissing(
                    f"line.channels[{channel_key}].community is {slug!r}, which is not a "
                    "community; create it or leave the setting empty."
                )
            if await link_space(session, PLATFORM, space.external_id, community.id, slug):
                log.info("line_account_linked", channel=channel_key, community=community.id)
            return community.id
        linked = await linked_community(session, PLATFORM, space.external_id)
        if linked is not None:
            return linked
        name = f"LINE {channel_key}" if space.kind == "account" else f"LINE {space.kind}"
        return (await ensure_community(session, PLATFORM, space.external_id, name)).community_id


@dataclass
class _Waiting:
    rows: list[NewInboxEvent]
    stored: int | None = None  # set once a commit wrote these rows
    alone: bool = False  # was in a batch that failed: written on its own from then on


class InboxRecorder:
    """Stores verified events durably; ``record`` returns once they are committed."""

    def __init__(
        self, channels: Mapping[str, LineChannelSettings], cache_size: int = COMMUNITY_CACHE_SIZE
    ) -> None:
        self.communities = CommunityResolver(channels, cache_size)
        self._writing = asyncio.Lock()
        self._waiting: list[_Waiting] = []
        self.commits = 0

    async def record(
        self, engine: AsyncEngine, channel_key: str, events: Sequence[VerifiedEvent]
    ) -> int:
        """Commit ``events`` (duplicates of stored ones are skipped); how many new rows the
        commit that carried them wrote (theirs and the requests' they were batched with)."""
        unique = list({event.webhook_event_id: event for event in events}.values())
        try:
            communities = await self.communities.resolve(
                engine, channel_key, {event.space for event in unique}
            )
            rows = [
                NewInboxEvent(
                    community_id=communities[event.space],
                    channel_key=channel_key,
                    webhook_event_id=event.webhook_event_id,
                    ordering_key=event.ordering_key,
                    event_type=event.event_type,
                    payload=event.payload,
                    is_redelivery=event.is_redelivery,
                )
                for event in unique
            ]
            return await self._commit(engine, _Waiting(rows))
        except (DBAPIError, PoolTimeoutError) as exc:
            self.communities.forget()  # a community removed since? look them up again
            log.error("line_webhook_not_recorded", channel=channel_key, events=len(unique),
                      error=type(exc).__name__)  # fmt: skip
            raise

    async def _commit(self, engine: AsyncEngine, mine: _Waiting) -> int:
        self._waiting.append(mine)
        async with self._writing:
            if mine.stored is not None:
                return mine.stored  # a commit while we waited carried our rows
            if mine.alone:
                batch = [mine]
                self._waiting.remove(mine)
            else:
                batch = [w for w in self._waiting if not w.alone]
                self._waiting = [w for w in self._waiting if w.alone]
            try:
                stored = await self._write(engine, batch)
            except Exception:
                if len(batch) == 1:
                    raise
                # One request's rows may be what failed: each is written on its own now.
                others = [w for w in batch if w is not mine]
                for waiting in others:
                    waiting.alone = True
                self._waiting[:0] = others
                stored = await self._write(engine, [mine])
            except BaseException:  # cancelled: the others write themselves
                self._waiting[:0] = [w for w in batch if w is not mine]
                raise
        if len(batch) > 1:
            log.debug("line_webhooks_grouped", requests=len(batch), stored=stored)
        return stored

    async def _write(self, engine: AsyncEngine, batch: list[_Waiting]) -> int:
        async with engine.begin() as conn:
            stored = await insert_events(conn, PLATFORM, [r for w in batch for r in w.rows])
        self.commits += 1
        for waiting in batch:
            waiting.stored = stored
        return stored
