"""Manual awards and revokes of XP, Stars, Gold and achievements, exactly once.

An admin's grant does not touch balances: the ingest writer owns member state, so this
records the grant in the ``manual_grants`` outbox (with its audit entry, in the caller's
transaction) and `townsquare.pipeline.grants.GrantRelay` later applies it as a manual
event through the pipeline — the same rules, ledger and exactly-once event lake as every
other event.

Idempotency: the caller's key is unique per community. Retrying with the same key and the
same request returns the first grant (and writes no second audit entry); the same key with
a different request is an `IdempotencyConflict`, because silently returning a grant the
caller did not ask for would be worse. Concurrent retries are settled by the unique index
(``INSERT … ON CONFLICT DO NOTHING``), not by a check-then-insert race.
"""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import Row, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.errors import IdempotencyConflict, NotFound
from townsquare.services.audit import Actor, ActorType, record
from townsquare.services.grants.schemas import (
    GrantAction,
    GrantInvalid,
    GrantOut,
    GrantPage,
    GrantRequest,
    GrantStatus,
)
from townsquare.store.config_documents import read_config
from townsquare.store.models import ManualGrant, Member

log = structlog.get_logger(__name__)

#: A selected ``_COLUMNS`` row (SQLAlchemy types rows as variadic tuples).
_GrantRow = Row[*tuple[Any, ...]]
#: Most grants one page returns; larger requests get this many (the cursor continues).
MAX_PAGE = 200
#: The request fields that must match for a retry to count as the same request.
_COMPARED = ("member_id", "action", "xp", "stars", "gold", "achievement_key", "reason")
_COLUMNS = (
    ManualGrant.id,
    ManualGrant.community_id,
    ManualGrant.member_id,
    ManualGrant.action,
    ManualGrant.xp,
    ManualGrant.stars,
    ManualGrant.gold,
    ManualGrant.achievement_key,
    ManualGrant.reason,
    ManualGrant.idempotency_key,
    ManualGrant.actor_type,
    ManualGrant.actor_id,
    ManualGrant.status,
    ManualGrant.attempts,
    ManualGrant.event_id,
    ManualGrant.error,
    ManualGrant.created_at,
    ManualGrant.applied_at,
)


async def request_grant(
    session: AsyncSession, actor: Actor, community_id: int, request: GrantRequest
) -> GrantOut:
    """Record a grant for the relay to apply, with its audit entry (flushed, not committed).

    Raises `GrantInvalid` when it grants nothing or names an achievement the community does
    not define, `NotFound` for a member not in the community, `IdempotencyConflict` when
    the key was used for a different request.
    """
    if not (request.xp or request.stars or request.gold or request.achievement_key):
        raise GrantInvalid([(("xp",), "give an amount of XP, Stars or Gold, or an achievement")])
    existing = await _by_key(session, community_id, request.idempotency_key)
    if existing is not None:
        return _replay(existing, request)
    await _check_member(session, community_id, request.member_id)
    if request.achievement_key is not None:
        await _check_achievement(session, community_id, request.achievement_key)
    values = request.model_dump(mode="json")
    inserted = (
        await session.execute(
            insert(ManualGrant)
            .values(
                community_id=community_id,
                **values,
                actor_type=actor.type.value,
                actor_id=actor.id,
            )
            .on_conflict_do_nothing(index_elements=["community_id", "idempotency_key"])
            .returning(*_COLUMNS)
        )
    ).one_or_none()
    if inserted is None:  # a concurrent request with this key committed first
        raced = await _by_key(session, community_id, request.idempotency_key)
        assert raced is not None
        return _replay(raced, request)
    grant = _grant(inserted)
    await record(
        session,
        actor,
        community_id,
        f"grant.{request.action.value}",
        "member",
        str(request.member_id),
        None,
        {"grant_id": grant.id, **values},
        request.reason,
    )
    log.info("grant_requested", community=community_id, grant=grant.id, action=grant.action)
    return grant


async def get_grant(session: AsyncSession, community_id: int, grant_id: int) -> GrantOut:
    """One grant of a community (`NotFound` otherwise)."""
    row = (
        await session.execute(
            select(*_COLUMNS).where(
                ManualGrant.community_id == community_id, ManualGrant.id == grant_id
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"Grant {grant_id} does not exist in community {community_id}.")
    return _grant(row)


async def list_grants(
    session: AsyncSession,
    community_id: int,
    *,
    status: GrantStatus | None = None,
    member_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> GrantPage:
    """A community's grants, newest first, one keyset page at a time."""
    size = max(1, min(limit, MAX_PAGE))
    query = select(*_COLUMNS).where(ManualGrant.community_id == community_id)
    if status is not None:
        query = query.where(ManualGrant.status == status.value)
    if member_id is not None:
        query = query.where(ManualGrant.member_id == member_id)
    if before_id is not None:
        query = query.where(ManualGrant.id < before_id)
    rows = (await session.execute(query.order_by(ManualGrant.id.desc()).limit(size + 1))).all()
    grants = [_grant(row) for row in rows[:size]]
    return GrantPage(grants=grants, next_before_id=grants[-1].id if len(rows) > size else None)


async def _by_key(session: AsyncSession, community_id: int, key: str) -> _GrantRow | None:
    return (
        await session.execute(
            select(*_COLUMNS).where(
                ManualGrant.community_id == community_id, ManualGrant.idempotency_key == key
            )
        )
    ).one_or_none()


def _replay(row: _GrantRow, request: GrantRequest) -> GrantOut:
    """The stored grant for a retried key, if the retry asks for the very same thing."""
    grant = _grant(row)
    differing = [name for name in _COMPARED if getattr(grant, name) != getattr(request, name)]
    if differing:
        raise IdempotencyConflict(
            f"Idempotency key {request.idempotency_key!r} was already used for grant "
            f"{grant.id} with a different {', '.join(differing)}; use a new key."
        )
    return grant


async def _check_member(session: AsyncSession, community_id: int, member_id: int) -> None:
    found = await session.scalar(
        select(Member.id).where(Member.community_id == community_id, Member.id == member_id)
    )
    if found is None:
        raise NotFound(f"Member {member_id} does not exist in community {community_id}.")


async def _check_achievement(session: AsyncSession, community_id: int, key: str) -> None:
    """An unknown achievement would be applied as a bare event that unlocks nothing."""
    stored = await read_config(session, community_id)
    try:
        defined = {achievement.id for achievement in stored.document().rules.achievements}
    except ValidationError:
        defined = set()
    if key not in defined:
        raise GrantInvalid(
            [(("achievement_key",), f"the community defines no achievement {key!r}")]
        )


def _grant(row: _GrantRow) -> GrantOut:
    return GrantOut(
        id=row.id,
        community_id=row.community_id,
        member_id=row.member_id,
        action=GrantAction(row.action),
        xp=row.xp,
        stars=row.stars,
        gold=row.gold,
        achievement_key=row.achievement_key,
        reason=row.reason,
        idempotency_key=row.idempotency_key,
        actor=Actor(type=ActorType(row.actor_type), id=row.actor_id),
        status=GrantStatus(row.status),
        attempts=row.attempts,
        event_id=row.event_id,
        error=row.error,
        created_at=row.created_at,
        applied_at=row.applied_at,
    )
