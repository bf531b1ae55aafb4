"""API tokens: automation credentials scoped to one community and a permission set.

The plaintext exists once, in the creation result; the table holds its SHA-256 and a short
prefix so a leaked token can be found in lists. Tokens never carry `MANAGE_ACCESS`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.errors import NotFound
from townsquare.services.accounts.schemas import (
    TOKEN_PERMISSIONS,
    ApiTokenOut,
    NewApiToken,
    Permission,
    Principal,
)
from townsquare.services.accounts.service import TOUCH_EVERY, AccessInvalid, digest
from townsquare.store.models import ApiToken

TOKEN_PREFIX = "tsq_"  # noqa: S105 - a marker, not a secret


async def create_api_token(
    session: AsyncSession,
    community_id: int,
    name: str,
    permissions: Iterable[Permission],
    *,
    created_by: int | None,
    expires_at: datetime | None = None,
) -> NewApiToken:
    """A new token; its plaintext is in the result and nowhere else, ever."""
    wanted = frozenset(permissions)
    if not wanted:
        raise AccessInvalid("An API token needs at least one permission.")
    if not wanted <= TOKEN_PERMISSIONS:
        extra = ", ".join(sorted(wanted - TOKEN_PERMISSIONS))
        raise AccessInvalid(f"API tokens cannot have: {extra} (only people manage access).")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = (
        await session.execute(
            insert(ApiToken)
            .values(
                community_id=community_id,
                name=name[:100],
                token_hash=digest(token),
                prefix=token[:12],
                permissions=sorted(p.value for p in wanted),
                created_by=created_by,
                expires_at=expires_at,
            )
            .returning(ApiToken)
        )
    ).scalar_one()
    await session.flush()
    return NewApiToken(token=token, details=_token_out(row))


async def principal_for_token(
    session: AsyncSession, token: str, *, now: datetime
) -> Principal | None:
    """The token's scope; None for an unknown, revoked or expired token."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = (
        await session.execute(select(ApiToken).where(ApiToken.token_hash == digest(token)))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.community_id == row.community_id, ApiToken.id == row.id)
            .values(last_used_at=now)
        )
    return Principal(
        token_id=int(row.id),
        token_community_id=int(row.community_id),
        token_permissions=frozenset(Permission(p) for p in row.permissions),
    )


async def list_api_tokens(session: AsyncSession, community_id: int) -> list[ApiTokenOut]:
    rows = await session.execute(
        select(ApiToken).where(ApiToken.community_id == community_id).order_by(ApiToken.id)
    )
    return [_token_out(row) for row in rows.scalars()]


async def revoke_api_token(
    session: AsyncSession, community_id: int, token_id: int, *, now: datetime
) -> ApiTokenOut:
    row = (
        await session.execute(
            update(ApiToken)
            .where(ApiToken.community_id == community_id, ApiToken.id == token_id)
            .values(revoked_at=func.coalesce(ApiToken.revoked_at, now))
            .returning(ApiToken)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No API token {token_id} in community {community_id}.")
    return _token_out(row)


def _token_out(row: ApiToken) -> ApiTokenOut:
    return ApiTokenOut(
        id=row.id,
        community_id=row.community_id,
        name=row.name,
        prefix=row.prefix,
        permissions=[Permission(p) for p in row.permissions],
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
