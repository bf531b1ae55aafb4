"""Ended sign-in sessions are deleted after a while: they hold IP addresses and user agents.

A session that expired or was revoked is kept ``days`` more (so "where was I signed in?"
and an audit of a revocation still make sense for a while), then deleted with its sealed
provider grant. Run by the maintenance schedule.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncConnection

from townsquare.store.models import AuthSession


async def purge_ended_sessions(conn: AsyncConnection, *, now: datetime, days: int) -> int:
    """Delete sessions that ended more than ``days`` ago; how many were deleted."""
    cutoff = now - timedelta(days=days)
    result = await conn.execute(
        delete(AuthSession).where(
            or_(AuthSession.expires_at < cutoff, AuthSession.revoked_at < cutoff)
        )
    )
    return int(result.rowcount or 0)
