"""The community a lake job is asked about, and the platform spaces linked to it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.errors import NotFound
from townsquare.store.models import Community, CommunityLink


async def require_community(session: AsyncSession, community_id: int) -> None:
    """`NotFound` unless the community exists (jobs on a missing one would silently do
    nothing, which reads like success)."""
    found = await session.scalar(select(Community.id).where(Community.id == community_id))
    if found is None:
        raise NotFound(f"Community {community_id} does not exist.")


async def linked_spaces(session: AsyncSession, community_id: int) -> frozenset[tuple[str, str]]:
    """The (platform, external id) pairs whose events belong to the community."""
    rows = await session.execute(
        select(CommunityLink.platform, CommunityLink.external_id).where(
            CommunityLink.community_id == community_id
        )
    )
    return frozenset((str(platform), str(external)) for platform, external in rows.all())
