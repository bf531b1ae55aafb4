"""Writing and reading the admin audit log.

Every admin change calls `record` on the session that makes the change, so the entry
commits or rolls back with it: there is never a change without its entry, nor an entry for
a change that did not happen. The log is append-only; nothing here updates or deletes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, insert, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.services.audit.schemas import (
    Actor,
    ActorType,
    AuditEntryOut,
    AuditFilters,
    AuditPage,
)
from townsquare.store.models import AuditEntry

#: Most entries one page returns; larger requests get this many (the cursor continues).
MAX_PAGE = 200
_REASON_LENGTH = 500

_COLUMNS = (
    AuditEntry.id,
    AuditEntry.community_id,
    AuditEntry.occurred_at,
    AuditEntry.actor_type,
    AuditEntry.actor_id,
    AuditEntry.source_ip,
    AuditEntry.action,
    AuditEntry.target_type,
    AuditEntry.target_id,
    AuditEntry.before,
    AuditEntry.after,
    AuditEntry.reason,
)


async def record(
    session: AsyncSession,
    actor: Actor,
    community_id: int,
    action: str,
    target_type: str,
    target_id: str | None,
    before: Any,
    after: Any,
    reason: str | None,
) -> AuditEntryOut:
    """Append one entry in the caller's transaction (flushed, not committed).

    ``before``/``after`` are JSON values (None when the thing did not exist before, or no
    longer exists after). A reason longer than the column is cut rather than refused: the
    change itself was valid, and losing the tail of a note is better than losing the change.
    """
    row = (
        await session.execute(
            insert(AuditEntry)
            .values(
                community_id=community_id,
                actor_type=actor.type.value,
                actor_id=actor.id,
                source_ip=actor.source_ip,
                action=action,
                target_type=target_type,
                target_id=target_id,
                before=null() if before is None else before,
                after=null() if after is None else after,
                reason=reason[:_REASON_LENGTH] if reason else None,
            )
            .returning(*_COLUMNS)
        )
    ).one()
    return _entry(row)


async def list_entries(
    session: AsyncSession,
    community_id: int,
    filters: AuditFilters | None = None,
    *,
    before_id: int | None = None,
    limit: int = 50,
) -> AuditPage:
    """A community's entries, newest first, one keyset page at a time.

    Keyset (``id < before_id``) rather than offset pagination: pages stay cheap however
    deep one goes, and entries appended meanwhile do not shift what the next page shows.
    """
    size = max(1, min(limit, MAX_PAGE))
    query = select(*_COLUMNS).where(AuditEntry.community_id == community_id)
    wanted = filters or AuditFilters()
    if wanted.actor_type is not None:
        query = query.where(AuditEntry.actor_type == wanted.actor_type.value)
    if wanted.actor_id is not None:
        query = query.where(AuditEntry.actor_id == wanted.actor_id)
    if wanted.action is not None:
        query = query.where(AuditEntry.action == wanted.action)
    if wanted.target_type is not None:
        query = query.where(AuditEntry.target_type == wanted.target_type)
    if wanted.target_id is not None:
        query = query.where(AuditEntry.target_id == wanted.target_id)
    if wanted.since is not None:
        query = query.where(AuditEntry.occurred_at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditEntry.occurred_at < wanted.until)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    rows = (await session.execute(query.order_by(AuditEntry.id.desc()).limit(size + 1))).all()
    entries = [_entry(row) for row in rows[:size]]
    more = len(rows) > size
    return AuditPage(entries=entries, next_before_id=entries[-1].id if more else None)


def _entry(row: Row[Any]) -> AuditEntryOut:
    return AuditEntryOut(
        id=row.id,
        community_id=row.community_id,
        occurred_at=row.occurred_at,
        actor=Actor(
            type=ActorType(row.actor_type),
            id=row.actor_id,
            source_ip=None if row.source_ip is None else str(row.source_ip),
        ),
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        before=row.before,
        after=row.after,
        reason=row.reason,
    )
