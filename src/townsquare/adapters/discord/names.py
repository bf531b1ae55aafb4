"""Keep members' display names current, so leaderboards and profiles show names, not ids.

A name is noted when a member is seen (a message, a voice join) and written in one UPDATE per
guild every few seconds — only when it changed, so a busy channel costs a dict lookup per
message. A name whose member the pipeline has not created yet stays pending until it has.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.pipeline.lru import LruMap
from townsquare.store.member_names import update_display_names

log = structlog.get_logger(__name__)
PLATFORM = "discord"
_MAX_PENDING = 50_000


class NameSync:
    """Notes names as they are seen and writes the changed ones in the background."""

    def __init__(self, engine: AsyncEngine, *, interval_seconds: float = 5.0) -> None:
        self._engine = engine
        self._interval = interval_seconds
        self._written: LruMap[tuple[int, int], str] = LruMap(200_000)
        self._pending: dict[int, dict[str, str]] = {}
        self._size = 0

    def seen(self, community_id: int, user_id: int, name: str) -> None:
        """Note a member's current name (cheap: called for every message)."""
        key = (community_id, user_id)
        if self._written.get(key) == name:
            return
        pending = self._pending.setdefault(community_id, {})
        if str(user_id) not in pending:
            if self._size >= _MAX_PENDING:
                return  # bounded; the name is noted again next time they speak
            self._size += 1
        pending[str(user_id)] = name

    async def flush(self) -> int:
        """Write what changed; how many names were written."""
        batches, self._pending, self._size = self._pending, {}, 0
        written = 0
        for community_id, names in batches.items():
            async with self._engine.begin() as conn:
                found = await update_display_names(conn, community_id, PLATFORM, names)
            for user_id, name in names.items():
                if user_id in found:
                    self._written.put((community_id, int(user_id)), name)
                    written += 1
                else:
                    self.seen(community_id, int(user_id), name)  # try again next round
        return written

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every interval until ``stop``, then once more."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - names are cosmetic; retried next round
                log.warning("discord_names_failed", error=type(exc).__name__)
