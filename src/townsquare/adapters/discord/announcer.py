"""Level-up and achievement announcements: where the community wants them, throttled, opt-outs kept.

A burst (a season rollover, an import) must not become minutes of stale messages, so each
community has a one-minute budget (``announcements.per_minute``); what is over it is
dropped and counted. Mentions never ping (``AllowedMentions.none()``): being announced is
not a notification someone asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import discord
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.config.document import AnnouncementMode, CommunityConfigDocument
from townsquare.core import Event
from townsquare.core.outcomes import Announcement, AnnouncementKind
from townsquare.pipeline.lru import LruMap
from townsquare.services.communities import record_problem
from townsquare.store.engine import create_session_factory
from townsquare.store.member_lookup import announce_preferences

log = structlog.get_logger(__name__)
PLATFORM = "discord"
_WINDOW = 60.0


class Announcer:
    """Posts announcements for the guilds of one process."""

    def __init__(
        self,
        client: discord.Client,
        engine: AsyncEngine,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._engine = engine
        self._sessions = create_session_factory(engine)
        self._clock = clock
        # community id -> (window start, messages sent in it); bounded like every map here.
        self._budget: LruMap[int, tuple[float, int]] = LruMap(10_000)
        self.sent = 0
        self.throttled = 0
        self.opted_out = 0

    def _spend(self, community_id: int, per_minute: int) -> bool:
        now = self._clock()
        start, used = self._budget.get(community_id) or (now, 0)
        if now - start >= _WINDOW:
            start, used = now, 0
        if used >= per_minute:
            self._budget.put(community_id, (start, used))
            return False
        self._budget.put(community_id, (start, used + 1))
        return True

    async def announce(
        self,
        community_id: int,
        event: Event,
        announcement: Announcement,
        document: CommunityConfigDocument,
    ) -> bool:
        """Post one announcement if the settings, the member and the budget allow it."""
        settings = document.announcements
        level_up = announcement.kind is AnnouncementKind.LEVEL_UP
        if settings.mode is AnnouncementMode.OFF:
            return False
        if (level_up and not settings.level_ups) or (not level_up and not settings.achievements):
            return False
        channel_id = (
            settings.channel_id if settings.mode is AnnouncementMode.CHANNEL else event.channel_id
        )
        if channel_id is None or not channel_id.isdigit():
            return False
        async with self._engine.connect() as conn:
            preferences = await announce_preferences(
                conn, community_id, PLATFORM, announcement.member_id
            )
        if not (preferences.level_ups if level_up else preferences.achievements):
            self.opted_out += 1
            return False
        if not self._spend(community_id, settings.per_minute):
            self.throttled += 1
            return False
        text = announcement_text(announcement, document)
        return await self.post(community_id, int(channel_id), text)

    async def post(self, community_id: int, channel_id: int, text: str) -> bool:
        """Send a message; a refusal becomes a community problem, never an exception."""
        # A partial channel needs no cache and sends the same request.
        channel = self._client.get_partial_messageable(channel_id)
        try:
            await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
        except (discord.Forbidden, discord.NotFound) as exc:
            log.warning("discord_announce_refused", channel=channel_id, status=exc.status)
            async with self._sessions.begin() as session:
                await record_problem(
                    session,
                    community_id,
                    PLATFORM,
                    "announce_refused",
                    str(channel_id),
                    f"Cannot post in channel {channel_id} ({exc.status}): give the bot Send "
                    "Messages there, or pick another announcement channel.",
                )
            return False
        self.sent += 1
        return True


def announcement_text(announcement: Announcement, document: CommunityConfigDocument) -> str:
    """The message for an announcement (names from the configuration, never user text)."""
    who = f"<@{announcement.member_id}>"
    if announcement.kind is AnnouncementKind.LEVEL_UP:
        return f"🎉 {who} reached level {announcement.level}!"
    key = (announcement.achievement_id or "").split(":", 1)[0]
    found = next((a for a in document.rules.achievements if a.id == key), None)
    if found is None:
        return f"🏅 {who} unlocked an achievement!"
    rarity = next((r.name for r in document.catalog.rarities if r.key == found.rarity), "")
    suffix = f" ({rarity})" if rarity else ""
    return f"🏅 {who} unlocked **{discord.utils.escape_markdown(found.name)}**{suffix}!"
