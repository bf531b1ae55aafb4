"""Snowflake ids, shard routing and timestamps as Discord writes them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000
# @everyone in a new guild: view, send, history, react, embed, attach, connect, speak,
# external emoji, change nickname, invite, application commands, threads.
DEFAULT_EVERYONE_PERMISSIONS = sum(
    1 << bit for bit in (0, 6, 10, 11, 14, 15, 16, 18, 20, 21, 26, 31, 35, 38)
)
ALL_PERMISSIONS = (1 << 53) - 1
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

_increment = itertools.count()


def snowflake(at: datetime | None = None) -> int:
    """A new, unique Discord id whose timestamp is ``at`` (default: now)."""
    moment = at or datetime.now(UTC)
    ms = int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (next(_increment) & 0x3F_FFFF)


def snowflake_on_shard(shard_id: int, shard_count: int) -> int:
    """A new guild id that Discord routes to ``shard_id``: ``(id >> 22) % count == shard``."""
    ms = int(datetime.now(UTC).timestamp() * 1000) - DISCORD_EPOCH_MS
    ms -= (ms - shard_id) % shard_count
    return (ms << 22) | (next(_increment) & 0x3F_FFFF)


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends a guild's events to."""
    return (guild_id >> 22) % shard_count


def timestamp(at: datetime | None = None) -> str:
    """ISO 8601 with an explicit UTC offset, as Discord writes timestamps."""
    return (at or datetime.now(UTC)).isoformat()


def optional_id(value: int | str | None) -> str | None:
    """An id as Discord writes it, or null."""
    return None if value is None else str(value)
