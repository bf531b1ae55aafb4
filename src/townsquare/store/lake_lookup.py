"""Small lookups in the event lake that adapters need (SQL only)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def reaction_target(
    conn: AsyncConnection, community_id: int, platform: str, platform_event_id: str
) -> str | None:
    """The platform user id that received a recorded reaction (None if it is not recorded).

    Discord does not say whose message a removed reaction was on; the recorded addition
    does. Uses the lake's unique key (community, platform, platform event id).
    """
    return (
        await conn.execute(
            text(
                "SELECT i.external_user_id FROM events e JOIN member_identities i "
                "ON i.community_id = e.community_id AND i.member_id = e.target_member_id "
                "AND i.platform = e.platform WHERE e.community_id = :c AND e.platform = :p "
                "AND e.platform_event_id = :e LIMIT 1"
            ),
            {"c": community_id, "p": platform, "e": platform_event_id},
        )
    ).scalar_one_or_none()
