"""Conversation sessions: one row per user and community, locked while a message is handled
(SQL only).

Per-user serialization is PostgreSQL's: `lock_session` reads the row ``FOR UPDATE``, so a
second worker handling the same user waits for the first one's transaction, and workers
handling different users never touch each other's rows. `update_session` also checks the
version it read (optimistic concurrency), a second line of defence should anything write
without the lock. ``data`` is personal: nothing here logs it, and `purge_expired` deletes
sessions idle past their expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Row, Table, and_, bindparam, delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from townsquare.store.models import ConversationSession

Database = AsyncConnection | AsyncSession
#: Most expired sessions one `purge_expired` call deletes (the job calls again if it hit it).
PURGE_BATCH: Final = 10_000

# Core statements on the table, not ORM-enabled ones on the entity: nothing here loads or
# synchronises ORM objects, and Core skips that machinery (a turn runs several of these).
_sessions: Table = ConversationSession.__table__  # type: ignore[assignment]
_c = _sessions.c
_COLUMNS = (
    _c.id,
    _c.community_id,
    _c.platform,
    _c.user_key,
    _c.member_id,
    _c.state,
    _c.data,
    _c.version,
    _c.created_at,
    _c.updated_at,
    _c.expires_at,
)


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: int
    community_id: int
    platform: str
    user_key: str
    member_id: int | None
    state: str
    data: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime

    def __repr__(self) -> str:  # ``data`` may be personal: keep it out of logs and tracebacks
        return (
            f"SessionRow(id={self.id}, community_id={self.community_id}, "
            f"platform={self.platform!r}, state={self.state!r}, version={self.version})"
        )


def _row(row: Row[*tuple[Any, ...]]) -> SessionRow:
    return SessionRow(**row._asdict())


def _params(**values: object) -> dict[str, object]:
    # Parameter names must differ from column names in INSERT/UPDATE: "b_" + column.
    return {f"b_{name}": value for name, value in values.items()}


# Built once, executed with parameters: a turn runs two or three of these, and building a
# statement costs more Python time than PostgreSQL takes to run it.
_is_user = and_(
    _c.community_id == bindparam("b_community_id"),
    _c.platform == bindparam("b_platform"),
    _c.user_key == bindparam("b_user_key"),
)
_LOCK = select(*_COLUMNS).where(_is_user).with_for_update()
_INSERT = (
    insert(_sessions)
    .values(
        community_id=bindparam("b_community_id"),
        platform=bindparam("b_platform"),
        user_key=bindparam("b_user_key"),
        member_id=bindparam("b_member_id"),
        state=bindparam("b_state"),
        data=bindparam("b_data", type_=_c.data.type),
        created_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
        expires_at=bindparam("b_expires_at"),
    )
    .on_conflict_do_nothing(index_elements=["community_id", "platform", "user_key"])
    .returning(*_COLUMNS)
)
_UPDATE = (
    update(_sessions)
    .where(
        _c.community_id == bindparam("b_community_id"),
        _c.id == bindparam("b_session_id"),
        _c.version == bindparam("b_read_version"),
    )
    .values(
        state=bindparam("b_state"),
        data=bindparam("b_data", type_=_c.data.type),
        member_id=func.coalesce(bindparam("b_member_id", type_=_c.member_id.type), _c.member_id),
        version=_c.version + 1,
        updated_at=bindparam("b_now"),
        expires_at=bindparam("b_expires_at"),
    )
    .returning(*_COLUMNS)
)
_DELETE = delete(_sessions).where(_is_user).returning(_c.id)


async def lock_session(
    db: Database, community_id: int, platform: str, user_key: str
) -> SessionRow | None:
    """The user's session, locked until the transaction ends; None when there is none.

    Waits while another transaction holds the row (bounded by ``statement_timeout``).
    """
    key = _params(community_id=community_id, platform=platform, user_key=user_key)
    row = (await db.execute(_LOCK, key)).one_or_none()
    return None if row is None else _row(row)


async def insert_session(
    db: Database,
    *,
    community_id: int,
    platform: str,
    user_key: str,
    state: str,
    data: dict[str, Any],
    member_id: int | None,
    now: datetime,
    expires_at: datetime,
) -> SessionRow | None:
    """Create the user's session (locked, being ours); None when a concurrent transaction
    created it first — the caller then locks that one with `lock_session`."""
    params = _params(
        community_id=community_id,
        platform=platform,
        user_key=user_key,
        member_id=member_id,
        state=state,
        data=data,
        now=now,
        expires_at=expires_at,
    )
    row = (await db.execute(_INSERT, params)).one_or_none()
    return None if row is None else _row(row)


async def update_session(
    db: Database,
    *,
    community_id: int,
    session_id: int,
    read_version: int,
    state: str,
    data: dict[str, Any],
    member_id: int | None,
    now: datetime,
    expires_at: datetime,
) -> SessionRow | None:
    """Save the session if it is still at ``read_version`` (then at ``read_version + 1``);
    None when it changed or disappeared since it was read. ``member_id`` None keeps the
    member already recorded."""
    params = _params(
        community_id=community_id,
        session_id=session_id,
        read_version=read_version,
        state=state,
        data=data,
        member_id=member_id,
        now=now,
        expires_at=expires_at,
    )
    row = (await db.execute(_UPDATE, params)).one_or_none()
    return None if row is None else _row(row)


async def delete_session(db: Database, community_id: int, platform: str, user_key: str) -> bool:
    """Forget the user's session (they blocked the bot, or asked to be forgotten)."""
    key = _params(community_id=community_id, platform=platform, user_key=user_key)
    return (await db.execute(_DELETE, key)).first() is not None


async def purge_expired(db: Database, *, now: datetime, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` sessions of every community that expired at or before ``now``;
    how many were deleted.

    Rows locked by a worker handling that user right now are skipped, not waited for: the
    worker is about to extend (or reset) the session, and the maintenance job must never
    queue behind a conversation.
    """
    expired = (
        select(_c.community_id, _c.id)
        .where(_c.expires_at <= now)
        .order_by(_c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    gone = (
        delete(_sessions)
        .where(tuple_(_c.community_id, _c.id).in_(expired))
        .returning(_c.id)
        .cte("gone")
    )
    return int(await db.scalar(select(func.count()).select_from(gone)) or 0)
