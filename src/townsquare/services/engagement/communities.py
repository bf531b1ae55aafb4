"""Communities and their seasons, as the public reads them; and the community context every
other public read starts from.

A public read names its community by slug or id; `community_context` resolves it in one
statement and brings the community's configuration along. Parsing and compiling that
document (pydantic validation of the whole economy, the level curve, the season schedule)
costs far more than the request's SQL, so `ConfigDocuments` keeps the compiled form per
(community, ``config_version``): the version moves with every change, so an entry can
never be stale, only unused.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.config.document import CommunityConfigDocument
from townsquare.core.levels import LevelCurve, compile_curve
from townsquare.core.seasons import DEFAULT_SEASON_ID, SeasonSchedule
from townsquare.errors import NotFound
from townsquare.services.engagement.schemas import (
    CommunityOut,
    CommunityPage,
    InvalidCursor,
    PlatformLink,
    RecurringOut,
    SeasonOut,
    SeasonsOut,
)
from townsquare.store import communities as store
from townsquare.store.config_documents import read_config

_CURSOR_PREFIX = "c1."
MAX_COMMUNITY_PAGE = 100


@dataclass(frozen=True, slots=True)
class CompiledConfig:
    document: CommunityConfigDocument
    curve: LevelCurve
    schedule: SeasonSchedule


class ConfigDocuments:
    """Compiled configuration documents by (community id, config version), LRU-bounded.

    One per app (not per process: two apps on two databases may share community ids).
    """

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[int, int], CompiledConfig] = OrderedDict()

    def get(self, community_id: int, version: int) -> CompiledConfig | None:
        entry = self._entries.get((community_id, version))
        if entry is not None:
            self._entries.move_to_end((community_id, version))
        return entry

    def put(self, community_id: int, version: int, compiled: CompiledConfig) -> None:
        self._entries[(community_id, version)] = compiled
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


@dataclass(frozen=True, slots=True)
class CommunityContext:
    """A resolved community with its compiled configuration and the request's time."""

    community: store.CommunityRow
    config: CompiledConfig
    now: datetime

    @property
    def id(self) -> int:
        return self.community.id

    @property
    def current_season(self) -> str | None:
        """The season running now (None between scheduled seasons)."""
        return self.config.schedule.season_at(int(self.now.timestamp()))


async def community_context(
    session: AsyncSession, ref: str, documents: ConfigDocuments, now: datetime
) -> CommunityContext:
    """The community named by slug or id (`NotFound` otherwise), with its configuration."""
    community = await store.find_community(session, ref)
    if community is None:
        raise NotFound(f"No community with slug or id {ref!r}.")
    return CommunityContext(community, await _compiled(session, community, documents), now)


async def _compiled(
    session: AsyncSession, community: store.CommunityRow, documents: ConfigDocuments
) -> CompiledConfig:
    compiled = documents.get(community.id, community.config_version)
    if compiled is None:
        stored = await read_config(session, community.id)
        document = stored.document()
        compiled = CompiledConfig(
            document,
            compile_curve(document.rules.levels),
            SeasonSchedule.from_config(document.rules.seasons),
        )
        # Keyed by the version read with the document (it may be newer than the row's).
        documents.put(community.id, stored.version, compiled)
    return compiled


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def season_window(context: CommunityContext, season_id: str | None) -> SeasonOut | None:
    """A season by id with its window, as far as the schedule knows it."""
    if season_id is None:
        return None
    rules = context.config.document.rules.seasons
    for window in rules.windows:
        if window.id == season_id:
            return SeasonOut(
                id=window.id,
                name=window.name or None,
                starts_at=_utc(window.starts_at),
                ends_at=_utc(window.ends_at),
            )
    recurring = rules.recurring
    prefix = recurring.id_prefix if recurring else ""
    number = season_id[len(prefix) :]
    if recurring is not None and season_id.startswith(prefix) and number.isdigit():
        length = recurring.length_days * 86_400
        starts = recurring.anchor_at + (int(number) - 1) * length
        return SeasonOut(id=season_id, starts_at=_utc(starts), ends_at=_utc(starts + length))
    return SeasonOut(id=season_id)


def _community_out(
    row: store.CommunityRow,
    links: list[store.LinkRow],
    members: int,
    current: SeasonOut | None,
) -> CommunityOut:
    return CommunityOut(
        id=row.id,
        slug=row.slug,
        name=row.name,
        platforms=[PlatformLink(platform=link.platform, name=link.name) for link in links],
        member_count=members,
        current_season=current,
        created_at=row.created_at,
    )


async def get_community(session: AsyncSession, context: CommunityContext) -> CommunityOut:
    links = await store.community_links(session, [context.id])
    counts = await store.member_counts(session, [context.id])
    current = season_window(context, context.current_season)
    return _community_out(context.community, links[context.id], counts[context.id], current)


def _decode_cursor(cursor: str) -> int:
    invalid = InvalidCursor("The page cursor is not valid; start again from the first page.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    number = raw.removeprefix(_CURSOR_PREFIX)
    if not raw.startswith(_CURSOR_PREFIX) or not number.isdigit() or len(number) > 19:
        raise invalid
    return int(number)


def _encode_cursor(community_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{community_id}".encode()).decode().rstrip("=")


async def list_communities(
    session: AsyncSession,
    documents: ConfigDocuments,
    now: datetime,
    after: str | None = None,
    limit: int = 25,
) -> CommunityPage:
    """A page of communities by id; ``after`` is the previous page's ``next_cursor``."""
    after_id = _decode_cursor(after) if after is not None else 0
    rows = await store.list_communities(session, after_id, limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    ids = [row.id for row in rows]
    links = await store.community_links(session, ids)
    counts = await store.member_counts(session, ids)
    items = []
    for row in rows:
        context = CommunityContext(row, await _compiled(session, row, documents), now)
        current = season_window(context, context.current_season)
        items.append(_community_out(row, links[row.id], counts[row.id], current))
    next_cursor = _encode_cursor(rows[-1].id) if more and rows else None
    return CommunityPage(items=items, next_cursor=next_cursor)


def seasons(context: CommunityContext) -> SeasonsOut:
    """The schedule, the season running now and the one after it."""
    rules = context.config.document.rules.seasons
    schedule = context.config.schedule
    at = int(context.now.timestamp())
    current = season_window(context, context.current_season)
    windows = [
        SeasonOut(
            id=w.id, name=w.name or None, starts_at=_utc(w.starts_at), ends_at=_utc(w.ends_at)
        )
        for w in sorted(rules.windows, key=lambda w: w.starts_at)
    ]
    if rules.recurring is not None:
        end = schedule.season_end(at)
        upcoming = season_window(context, schedule.season_at(end)) if end is not None else None
        return SeasonsOut(
            community_id=context.id,
            schedule="recurring",
            current=current,
            next=upcoming,
            windows=[],
            recurring=RecurringOut(
                anchor_at=_utc(rules.recurring.anchor_at),
                length_days=rules.recurring.length_days,
                id_prefix=rules.recurring.id_prefix,
            ),
        )
    if windows:
        later = [w for w in windows if w.starts_at is not None and w.starts_at > context.now]
        return SeasonsOut(
            community_id=context.id,
            schedule="windows",
            current=current,
            next=later[0] if later else None,
            windows=windows,
            recurring=None,
        )
    return SeasonsOut(
        community_id=context.id,
        schedule="endless",
        current=SeasonOut(id=DEFAULT_SEASON_ID),
        next=None,
        windows=[],
        recurring=None,
    )
