"""The few queries the sign-in flows need that the accounts service does not offer yet.

Kept in one module so they can move into ``services/accounts`` (as ``discord_links``,
``provider_role_communities``, ``lock_session_for_refresh``, ``mark_session_refreshed``)
without touching the flows. Every one is scoped by the session hash or the user id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.store.models import AuthSession, CommunityLink, CommunityRole


def session_hash(cookie: str) -> bytes:
    """How ``auth_sessions`` names a session (the same SHA-256 the accounts service uses)."""
    return hashlib.sha256(cookie.encode()).digest()


@dataclass(frozen=True)
class SessionForRefresh:
    user_id: int
    provider: str
    refreshed_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


async def discord_links(session: AsyncSession, guild_ids: Iterable[str]) -> dict[str, int]:
    """Guild id -> community, for the guilds linked to a community."""
    wanted = list(guild_ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(CommunityLink.external_id, CommunityLink.community_id).where(
            CommunityLink.platform == "discord", CommunityLink.external_id.in_(wanted)
        )
    )
    return {str(guild): int(community) for guild, community in rows.all()}


async def provider_role_communities(session: AsyncSession, user_id: int, source: str) -> set[int]:
    """Communities where ``user_id`` holds a role that came from ``source``."""
    rows = await session.scalars(
        select(CommunityRole.community_id).where(
            CommunityRole.user_id == user_id, CommunityRole.source == source
        )
    )
    return {int(community_id) for community_id in rows}


async def lock_session_for_refresh(
    session: AsyncSession, id_hash: bytes
) -> SessionForRefresh | None:
    """The session row, locked until the request's transaction ends.

    Two requests of one browser that both find the roles due are serialised here: the
    second sees the first's ``refreshed_at`` and does not ask Discord again.
    """
    row = (
        await session.execute(
            select(
                AuthSession.user_id,
                AuthSession.provider,
                AuthSession.refreshed_at,
                AuthSession.expires_at,
                AuthSession.revoked_at,
            )
            .where(AuthSession.id_hash == id_hash)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        return None
    return SessionForRefresh(
        user_id=int(row.user_id),
        provider=row.provider,
        refreshed_at=row.refreshed_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


async def mark_session_refreshed(session: AsyncSession, id_hash: bytes, now: datetime) -> None:
    await session.execute(
        update(AuthSession).where(AuthSession.id_hash == id_hash).values(refreshed_at=now)
    )
