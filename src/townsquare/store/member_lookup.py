"""Members by platform account: levels for role rewards, announcement preferences (SQL only)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_LIFETIME = ""


@dataclass(frozen=True, slots=True)
class AnnouncePreferences:
    """A member's announcement choices (the defaults when they never chose)."""

    level_ups: bool = True
    achievements: bool = True


async def member_level(
    conn: AsyncConnection, community_id: int, platform: str, external_user_id: str
) -> int:
    """The member's lifetime level (0 for an account never seen)."""
    level = (
        await conn.execute(
            text(
                "SELECT b.level FROM member_identities i JOIN balances b "
                "ON b.community_id = i.community_id AND b.member_id = i.member_id "
                "AND b.season = :s WHERE i.community_id = :c AND i.platform = :p "
                "AND i.external_user_id = :u"
            ),
            {"c": community_id, "p": platform, "u": external_user_id, "s": _LIFETIME},
        )
    ).scalar_one_or_none()
    return int(level or 0)


async def leveled_members(
    conn: AsyncConnection, community_id: int, platform: str, min_level: int
) -> list[tuple[str, int]]:
    """(platform user id, lifetime level) of every member at ``min_level`` or above."""
    rows = await conn.execute(
        text(
            "SELECT i.external_user_id, b.level FROM balances b JOIN member_identities i "
            "ON i.community_id = b.community_id AND i.member_id = b.member_id "
            "AND i.platform = :p WHERE b.community_id = :c AND b.season = :s "
            "AND b.level >= :l ORDER BY b.member_id"
        ),
        {"c": community_id, "p": platform, "s": _LIFETIME, "l": min_level},
    )
    return [(str(user), int(level)) for user, level in rows]


async def announce_preferences(
    conn: AsyncConnection, community_id: int, platform: str, external_user_id: str
) -> AnnouncePreferences:
    row = (
        await conn.execute(
            text(
                "SELECT p.announce_level_ups, p.announce_achievements "
                "FROM member_identities i JOIN member_preferences p "
                "ON p.community_id = i.community_id AND p.member_id = i.member_id "
                "WHERE i.community_id = :c AND i.platform = :p AND i.external_user_id = :u"
            ),
            {"c": community_id, "p": platform, "u": external_user_id},
        )
    ).one_or_none()
    return AnnouncePreferences() if row is None else AnnouncePreferences(bool(row[0]), bool(row[1]))


async def save_announce_preferences(
    conn: AsyncConnection,
    community_id: int,
    member_id: int,
    preferences: AnnouncePreferences,
) -> None:
    await conn.execute(
        text(
            "INSERT INTO member_preferences (community_id, member_id, announce_level_ups, "
            "announce_achievements) VALUES (:c, :m, :l, :a) "
            "ON CONFLICT (community_id, member_id) DO UPDATE SET "
            "announce_level_ups = excluded.announce_level_ups, "
            "announce_achievements = excluded.announce_achievements, updated_at = now()"
        ),
        {
            "c": community_id,
            "m": member_id,
            "l": preferences.level_ups,
            "a": preferences.achievements,
        },
    )
