"""Achievement awards across a community: how many earned each, and who unlocked what lately.

Read-only SQL returning frozen dataclasses, scoped to one community. Awards of members
hidden from leaderboards (bots, members who left) are left out here as well, so the
public pages agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

Database = AsyncConnection | AsyncSession


@dataclass(frozen=True, slots=True)
class UnlockRow:
    member_id: int
    display_name: str
    achievement_key: str
    season: str | None
    awarded_at: datetime


# Level-interval achievements are awarded as ``<id>:<level>``; they count by template.
_EARNERS = text("""
    SELECT split_part(a.achievement_key, ':', 1) AS achievement_id,
           count(DISTINCT a.member_id) AS earners
    FROM achievement_awards a
    JOIN members m ON m.community_id = a.community_id AND m.id = a.member_id
    WHERE a.community_id = :community_id AND NOT m.is_bot AND m.left_at IS NULL
    GROUP BY 1
""")

_RECENT = text("""
    SELECT a.member_id, m.display_name, a.achievement_key, a.season, a.awarded_at
    FROM achievement_awards a
    JOIN members m ON m.community_id = a.community_id AND m.id = a.member_id
    WHERE a.community_id = :community_id AND NOT m.is_bot AND m.left_at IS NULL
    ORDER BY a.awarded_at DESC, a.id DESC
    LIMIT :limit
""")


async def earner_counts(db: Database, community_id: int) -> dict[str, int]:
    """How many members hold each achievement (by achievement id)."""
    rows = await db.execute(_EARNERS, {"community_id": community_id})
    return {str(r.achievement_id): int(r.earners) for r in rows}


async def recent_unlocks(db: Database, community_id: int, limit: int) -> list[UnlockRow]:
    """The ``limit`` most recent awards, newest first (``ix_achievement_awards_recent``)."""
    rows = await db.execute(_RECENT, {"community_id": community_id, "limit": limit})
    return [
        UnlockRow(
            int(r.member_id), str(r.display_name), str(r.achievement_key), r.season, r.awarded_at
        )
        for r in rows
    ]
