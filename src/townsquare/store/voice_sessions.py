"""Open voice sessions, persisted so a restart or crash loses no one's voice time (SQL only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class OpenVoiceSession:
    """One account's current stretch in one voice channel with unchanged flags."""

    external_user_id: str
    channel_id: str
    started_at: int  # Unix seconds
    checkpoint_at: int
    muted: bool = False
    deafened: bool = False
    alone: bool = False
    afk: bool = False


def _ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def load_sessions(
    conn: AsyncConnection, community_id: int, platform: str
) -> list[OpenVoiceSession]:
    """Every open session of a community on a platform."""
    rows = await conn.execute(
        text(
            "SELECT external_user_id, channel_id, extract(epoch FROM started_at)::bigint, "
            "extract(epoch FROM checkpoint_at)::bigint, muted, deafened, alone, afk "
            "FROM voice_sessions WHERE community_id = :c AND platform = :p"
        ),
        {"c": community_id, "p": platform},
    )
    return [OpenVoiceSession(*row) for row in rows]


async def save_sessions(
    conn: AsyncConnection,
    community_id: int,
    platform: str,
    opened: Sequence[OpenVoiceSession],
    closed: Sequence[str],
) -> None:
    """Replace the sessions of ``opened`` accounts and delete those of ``closed`` ones."""
    if closed:
        await conn.execute(
            text(
                "DELETE FROM voice_sessions WHERE community_id = :c AND platform = :p "
                "AND external_user_id = ANY(CAST(:u AS text[]))"
            ),
            {"c": community_id, "p": platform, "u": list(closed)},
        )
    if opened:
        await conn.execute(
            text(
                "INSERT INTO voice_sessions (community_id, platform, external_user_id, "
                "channel_id, started_at, checkpoint_at, muted, deafened, alone, afk) "
                "VALUES (:c, :p, :u, :ch, :s, :k, :m, :d, :a, :afk) "
                "ON CONFLICT (community_id, platform, external_user_id) DO UPDATE SET "
                "channel_id = excluded.channel_id, started_at = excluded.started_at, "
                "checkpoint_at = excluded.checkpoint_at, muted = excluded.muted, "
                "deafened = excluded.deafened, alone = excluded.alone, afk = excluded.afk"
            ),
            [
                {
                    "c": community_id,
                    "p": platform,
                    "u": s.external_user_id,
                    "ch": s.channel_id,
                    "s": _ts(s.started_at),
                    "k": _ts(max(s.checkpoint_at, s.started_at)),
                    "m": s.muted,
                    "d": s.deafened,
                    "a": s.alone,
                    "afk": s.afk,
                }
                for s in opened
            ],
        )


async def checkpoint_sessions(
    conn: AsyncConnection, community_ids: Sequence[int], platform: str, at: int
) -> int:
    """Mark the open sessions of these communities alive at ``at``; how many were touched."""
    if not community_ids:
        return 0
    result = await conn.execute(
        text(
            "UPDATE voice_sessions SET checkpoint_at = greatest(started_at, :at) "
            "WHERE community_id = ANY(CAST(:c AS bigint[])) AND platform = :p"
        ),
        {"c": list(community_ids), "p": platform, "at": _ts(at)},
    )
    return int(result.rowcount or 0)
