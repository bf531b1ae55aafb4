"""After commit: role rewards and announcements for what the pipeline decided.

The pipeline publishes outcomes only once their transaction has committed, so nothing is
announced or granted for an event that was rolled back. Each outcome is handled in its own
task (bounded), so one slow or rate-limited role grant does not hold back the rest. Level-
role changes in the configuration are noticed by polling the config cache's versions and
applied as a difference to every leveled member.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

import structlog

from townsquare.adapters.discord.announcer import Announcer
from townsquare.adapters.discord.roles import RoleSync
from townsquare.config.document import CommunityConfigDocument
from townsquare.core import Platform
from townsquare.core.levels import LevelConfig
from townsquare.pipeline.ingest import Pipeline
from townsquare.pipeline.writer import Published

log = structlog.get_logger(__name__)
_MAX_IN_FLIGHT = 500


class OutcomeRelay:
    """Owns the subscription to published outcomes and the config-change watcher."""

    def __init__(
        self,
        pipeline: Pipeline,
        communities: dict[int, int],
        roles: RoleSync,
        announcer: Announcer,
        *,
        config_poll_seconds: float = 2.0,
    ) -> None:
        self._pipeline = pipeline
        self._communities = communities  # guild id -> community id (the bot's, live)
        self._roles = roles
        self._announcer = announcer
        self._poll = config_poll_seconds
        self._queue = pipeline.subscribe()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(_MAX_IN_FLIGHT)
        self._levels: dict[int, tuple[int, LevelConfig]] = {}
        self.handled = 0

    async def document(self, community_id: int) -> CommunityConfigDocument:
        cache = self._pipeline.config_cache
        if cache is None:
            return CommunityConfigDocument()
        return (await cache.config_for(community_id)).document

    async def run(self, stop: asyncio.Event) -> None:
        """Handle outcomes until ``stop``; then wait (bounded) for the ones in flight."""
        watcher = asyncio.create_task(self._watch_config(stop), name="discord-config-watch")
        try:
            while not stop.is_set():
                getter = asyncio.ensure_future(self._queue.get())
                stopper = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if getter not in done:
                    getter.cancel()
                    break
                published = getter.result()
                if not self._wanted(published):
                    continue
                await self._slots.acquire()
                task = asyncio.create_task(self._handle(published))
                self._in_flight.add(task)
                task.add_done_callback(self._done)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=10)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("discord_outcome_failed", error=type(task.exception()).__name__)

    def _wanted(self, published: Published) -> bool:
        event, outcome = published.event, published.outcome
        if event.platform is not Platform.DISCORD or not event.community_id.isdigit():
            return False
        if int(event.community_id) not in self._communities:
            return False  # another process serves this guild
        return bool(outcome.role_changes or outcome.announcements)

    async def _handle(self, published: Published) -> None:
        event, outcome = published.event, published.outcome
        guild_id = int(event.community_id)
        community_id = published.community_id
        for change in outcome.role_changes:
            user = published.platform_user(change.member_id)
            if change.role_id.isdigit() and user is not None and user.isdigit():
                await self._roles.apply(
                    guild_id,
                    community_id,
                    int(user),
                    int(change.role_id),
                    grant=change.grant,
                    reason=f"Townsquare: {change.reason}",
                )
        if outcome.announcements:
            document = await self.document(community_id)
            for announcement in outcome.announcements:
                user = published.platform_user(announcement.member_id)
                if user is not None:
                    await self._announcer.announce(
                        community_id, event, replace(announcement, member_id=user), document
                    )
        self.handled += 1

    async def _watch_config(self, stop: asyncio.Event) -> None:
        """Resync level roles of a guild whose level-role settings changed."""
        cache = self._pipeline.config_cache
        if cache is None:
            return
        while not stop.is_set():
            for guild_id, community_id in list(self._communities.items()):
                version = cache.version(community_id)
                known = self._levels.get(community_id)
                if known is not None and known[0] == version:
                    continue
                levels = (await cache.config_for(community_id)).document.rules.levels
                self._levels[community_id] = (version, levels)
                if known is None or _role_rules(known[1]) == _role_rules(levels):
                    continue
                try:
                    await self._roles.resync(guild_id, community_id, known[1], levels)
                except Exception as exc:  # noqa: BLE001 - retried at the next change
                    log.error("discord_role_resync_failed", guild=guild_id, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._poll)


def _role_rules(levels: LevelConfig) -> tuple[object, ...]:
    return (tuple(sorted(levels.level_roles.items())), levels.keep_previous_level_roles)
