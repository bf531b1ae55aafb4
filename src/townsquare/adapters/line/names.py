"""Members' LINE display names, fetched when a card needs one and remembered a while.

Why fetch at all: LINE events carry user ids, never names, so the pipeline creates members
named by their id. A member asking for their rank sees their own name on the card, and the
name is saved on the member so leaderboards show it too. Why a bounded cache with an age:
names change rarely and each lookup is an API call; an hour-old name is fine, an
ever-growing map is not. A lookup that fails or is slow just leaves the name out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Final

import aiohttp
import structlog
from linebot.v3.messaging import ApiException, AsyncMessagingApi

from townsquare.pipeline.lru import LruMap

log = structlog.get_logger(__name__)
NAME_TTL: Final = 3600.0
_TIMEOUT: Final = 2.0


class DisplayNames:
    """``(channel, chat, user) -> name`` with an age limit; failures give None."""

    def __init__(
        self,
        api_of: Callable[[str], AsyncMessagingApi],
        *,
        limit: asyncio.Semaphore | None = None,
        capacity: int = 20_000,
        ttl: float = NAME_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api_of = api_of
        self._limit = limit or asyncio.Semaphore(8)
        self._ttl = ttl
        self._clock = clock
        self._names: LruMap[tuple[str, str], tuple[str, float]] = LruMap(capacity)

    async def of(self, channel_key: str, chat_id: str, user_id: str) -> str | None:
        """The user's name as LINE shows it: from their profile in a one-to-one chat, from
        the group's or room's member profile elsewhere (works without friendship)."""
        cached = self._names.get((channel_key, user_id))
        if cached is not None and self._clock() - cached[1] < self._ttl:
            return cached[0]
        api = self._api_of(channel_key)
        try:
            async with self._limit:
                profile = await self._fetch(api, chat_id, user_id)
        except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
            log.info("line_profile_unavailable", error=type(exc).__name__)
            return None
        name = str(profile.display_name or "").strip()
        if not name:
            return None
        self._names.put((channel_key, user_id), (name, self._clock()))
        return name

    @staticmethod
    async def _fetch(api: AsyncMessagingApi, chat_id: str, user_id: str) -> Any:
        if chat_id.startswith("C"):
            return await api.get_group_member_profile(chat_id, user_id, _request_timeout=_TIMEOUT)
        if chat_id.startswith("R"):
            return await api.get_room_member_profile(chat_id, user_id, _request_timeout=_TIMEOUT)
        return await api.get_profile(user_id, _request_timeout=_TIMEOUT)
