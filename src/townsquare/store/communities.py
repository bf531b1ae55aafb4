"""Communities as the public API lists them: who they are, where they live, how many people.

Read-only SQL returning frozen dataclasses. Every query is keyed by community id (the
tenant), except the listing itself, which pages over the ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from townsquare.errors import NotFound
from townsquare.store.models import Community, CommunityLink, Member

Database = AsyncConnection | AsyncSession
_MAX_BIGINT = 2**63 - 1


@dataclass(frozen=True, slots=True)
class CommunityRow:
    id: int
    slug: str
    name: str
    config_version: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LinkRow:
    """A platform space of a community; its external id is left out on purpose (a LINE
    group id is not something to publish)."""

    platform: str
    name: str | None


_COLUMNS = (
    Community.id,
    Community.slug,
    Community.name,
    Community.config_version,
    Community.created_at,
)


def _community(row: Row[*tuple[Any, ...]]) -> CommunityRow:
    return CommunityRow(
        int(row.id), str(row.slug), str(row.name), int(row.config_version), row.created_at
    )


async def find_community(db: Database, slug_or_id: str) -> CommunityRow | None:
    """The community with this slug, or this numeric id; None if there is none."""
    condition = Community.slug == slug_or_id
    if slug_or_id.isdigit() and int(slug_or_id) <= _MAX_BIGINT:
        condition = condition | (Community.id == int(slug_or_id))
    row = (await db.execute(select(*_COLUMNS).where(condition).limit(1))).first()
    return None if row is None else _community(row)


async def get_community(db: Database, slug_or_id: str) -> CommunityRow:
    """The community with this slug or numeric id (`NotFound` if there is none)."""
    row = await find_community(db, slug_or_id)
    if row is None:
        raise NotFound(f"No community with slug or id {slug_or_id!r}.")
    return row


async def list_communities(db: Database, after_id: int, limit: int) -> list[CommunityRow]:
    """Up to ``limit`` communities with an id above ``after_id``, by id (keyset paging)."""
    rows = await db.execute(
        select(*_COLUMNS).where(Community.id > after_id).order_by(Community.id).limit(limit)
    )
    return [_community(row) for row in rows]


async def community_links(db: Database, community_ids: Sequence[int]) -> dict[int, list[LinkRow]]:
    """The platform spaces of each community, in a stable order."""
    links: dict[int, list[LinkRow]] = {cid: [] for cid in community_ids}
    if not community_ids:
        return links
    rows = await db.execute(
        select(CommunityLink.community_id, CommunityLink.platform, CommunityLink.name)
        .where(CommunityLink.community_id.in_(list(community_ids)))
        .order_by(CommunityLink.community_id, CommunityLink.platform, CommunityLink.external_id)
    )
    for cid, platform, name in rows:
        links[int(cid)].append(LinkRow(str(platform), None if name is None else str(name)))
    return links


async def member_counts(db: Database, community_ids: Sequence[int]) -> dict[int, int]:
    """Members of each community who are people and still there (bots and leavers are
    not counted, as leaderboards do not show them)."""
    counts = dict.fromkeys(community_ids, 0)
    if not community_ids:
        return counts
    rows = await db.execute(
        select(Member.community_id, func.count())
        .where(
            Member.community_id.in_(list(community_ids)),
            Member.is_bot.is_(False),
            Member.left_at.is_(None),
        )
        .group_by(Member.community_id)
    )
    for cid, count in rows:
        counts[int(cid)] = int(count)
    return counts
