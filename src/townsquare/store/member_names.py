"""Members' display names as the platform shows them (SQL only)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def update_display_names(
    conn: AsyncConnection, community_id: int, platform: str, names: Mapping[str, str]
) -> set[str]:
    """Set the names of existing members; the platform user ids that were found.

    Members are created by the ingest pipeline with their platform id as a placeholder
    name; an id not found here is one whose first event is not committed yet.
    """
    if not names:
        return set()
    rows = await conn.execute(
        text(
            "UPDATE members m SET display_name = u.n FROM member_identities i "
            "JOIN unnest(CAST(:e AS text[]), CAST(:n AS text[])) AS u(e, n) "
            "ON i.external_user_id = u.e "
            "WHERE i.community_id = :c AND i.platform = :p AND m.community_id = :c "
            "AND m.id = i.member_id RETURNING i.external_user_id"
        ),
        {
            "c": community_id,
            "p": platform,
            "e": list(names),
            "n": [name[:200] for name in names.values()],
        },
    )
    return {str(row[0]) for row in rows}
