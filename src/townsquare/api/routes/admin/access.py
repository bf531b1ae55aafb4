"""Who may administer a community: people's roles and the community's API tokens.

MANAGE_ACCESS only (owners and instance admins): API tokens can never hold it, so a
leaked token cannot mint another. A new token's plaintext is in the POST response and
nowhere else, ever. Every change is audited in the request's transaction, and the last
owner cannot be demoted or removed (someone must be able to manage access afterwards).

The accounts service does not audit and has no role listing yet, so this module does both
(marked below); they belong in `townsquare.services.accounts` and should move there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.api.deps import Now, Session
from townsquare.api.routes.admin.common import (
    CHANGE_ERRORS,
    MAX_ID,
    READ_ERRORS,
    TEXT,
    AccessManager,
    AccessReader,
    example,
)
from townsquare.errors import TownsquareError
from townsquare.services.accounts import (
    ApiTokenOut,
    NewApiToken,
    Permission,
    Role,
    create_api_token,
    get_user,
    list_api_tokens,
    remove_role,
    revoke_api_token,
    set_role,
)
from townsquare.services.audit import Actor, record
from townsquare.services.lake.community import require_community
from townsquare.store.models import CommunityRole, User

router = APIRouter(prefix="/access", tags=["admin: access"])

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The user's id.")]
_TOKEN = {
    "id": 4,
    "community_id": 1,
    "name": "leaderboard bot",
    "prefix": "tsq_Xk2v9QaB",
    "permissions": ["read"],
    "created_at": "2026-03-01T12:00:00Z",
    "expires_at": None,
    "last_used_at": None,
    "revoked_at": None,
}
_ROLE = {
    "user_id": 7,
    "display_name": "Mika",
    "role": "admin",
    "source": "manual",
    "granted_at": "2026-03-01T12:00:00Z",
}


class LastOwner(TownsquareError):
    """The change would leave the community without an owner."""

    status = 409
    code = "last_owner"


class RoleAssignment(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: int
    display_name: str
    role: Role
    source: str = Field(description="manual, or discord (re-checked at session refresh).")
    granted_at: datetime


class RoleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    reason: str | None = Field(default=None, max_length=500, pattern=TEXT)


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=100, pattern=TEXT, description="What the token is for."
    )
    permissions: list[Permission] = Field(
        min_length=1, description="read, grant and/or configure (never manage_access)."
    )
    expires_at: AwareDatetime | None = Field(default=None, description="None: until revoked.")
    reason: str | None = Field(default=None, max_length=500, pattern=TEXT)


@router.get(
    "/roles",
    response_model=list[RoleAssignment],
    summary="People with a role in the community",
    responses={**READ_ERRORS, **example([_ROLE])},
)
async def read_roles(
    community_id: int, session: Session, _caller: AccessReader
) -> list[RoleAssignment]:
    return await _community_roles(session, community_id)


@router.put(
    "/roles/{user_id}",
    response_model=RoleAssignment,
    summary="Give a user a role in the community (replacing the one they had)",
    responses={**CHANGE_ERRORS, **example(_ROLE)},
)
async def put_role(
    community_id: int,
    user_id: UserId,
    body: Annotated[
        RoleBody, Body(openapi_examples={"admin": {"value": {"role": "admin", "reason": "ops"}}})
    ],
    session: Session,
    actor: AccessManager,
) -> RoleAssignment:
    await require_community(session, community_id)
    before = (await get_user(session, user_id)).roles.get(community_id)
    if before is Role.OWNER and body.role is not Role.OWNER:
        await _keep_an_owner(session, community_id)
    await set_role(session, community_id, user_id, body.role)
    await _audit(session, actor, community_id, "access.role.set", "user", user_id, before, body)
    [assignment] = await _community_roles(session, community_id, user_id)
    return assignment


@router.delete(
    "/roles/{user_id}",
    status_code=204,
    summary="Take a user's role in the community away",
    responses=CHANGE_ERRORS,
)
async def delete_role(
    community_id: int,
    user_id: UserId,
    session: Session,
    actor: AccessManager,
    reason: Annotated[str | None, Query(max_length=500, pattern=TEXT)] = None,
) -> Response:
    before = (await get_user(session, user_id)).roles.get(community_id)
    if before is Role.OWNER:
        await _keep_an_owner(session, community_id)
    await remove_role(session, community_id, user_id)
    await record(
        session,
        actor,
        community_id,
        "access.role.remove",
        "user",
        str(user_id),
        None if before is None else {"role": before.value},
        None,
        reason,
    )
    return Response(status_code=204)


@router.get(
    "/tokens",
    response_model=list[ApiTokenOut],
    summary="The community's API tokens (never their plaintext)",
    responses={**READ_ERRORS, **example([_TOKEN])},
)
async def read_tokens(
    community_id: int, session: Session, _caller: AccessReader
) -> list[ApiTokenOut]:
    return await list_api_tokens(session, community_id)


@router.post(
    "/tokens",
    response_model=NewApiToken,
    status_code=201,
    summary="Create an API token; the response is the only time its plaintext exists",
    responses={
        **CHANGE_ERRORS,
        **example({"token": "tsq_Xk2v9QaB…", "details": _TOKEN}, 201, "Created."),
    },
)
async def create_token(
    community_id: int,
    body: Annotated[
        TokenBody,
        Body(
            openapi_examples={
                "reader": {"value": {"name": "leaderboard bot", "permissions": ["read"]}}
            }
        ),
    ],
    session: Session,
    actor: AccessManager,
) -> NewApiToken:
    await require_community(session, community_id)
    created = await create_api_token(
        session,
        community_id,
        body.name,
        body.permissions,
        created_by=int(actor.id),  # tokens cannot manage access: the actor is a user
        expires_at=body.expires_at,
    )
    await record(
        session,
        actor,
        community_id,
        "access.token.create",
        "api_token",
        str(created.details.id),
        None,
        created.details.model_dump(mode="json"),
        body.reason,
    )
    return created


@router.delete(
    "/tokens/{token_id}",
    response_model=ApiTokenOut,
    summary="Revoke an API token (it stops working at once)",
    responses={**CHANGE_ERRORS, **example({**_TOKEN, "revoked_at": "2026-03-02T08:00:00Z"})},
)
async def delete_token(
    community_id: int,
    token_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: Session,
    actor: AccessManager,
    now: Now,
    reason: Annotated[str | None, Query(max_length=500, pattern=TEXT)] = None,
) -> ApiTokenOut:
    revoked = await revoke_api_token(session, community_id, token_id, now=now)
    await record(
        session,
        actor,
        community_id,
        "access.token.revoke",
        "api_token",
        str(token_id),
        None,
        revoked.model_dump(mode="json"),
        reason,
    )
    return revoked


async def _audit(
    session: AsyncSession,
    actor: Actor,
    community_id: int,
    action: str,
    target_type: str,
    user_id: int,
    before: Role | None,
    body: RoleBody,
) -> None:
    after: dict[str, Any] = {"role": body.role.value}
    old = None if before is None else {"role": before.value}
    await record(
        session, actor, community_id, action, target_type, str(user_id), old, after, body.reason
    )


# --- queries that belong in townsquare.services.accounts ----------------------------------


async def _community_roles(
    session: AsyncSession, community_id: int, user_id: int | None = None
) -> list[RoleAssignment]:
    query = (
        select(
            CommunityRole.user_id,
            User.display_name,
            CommunityRole.role,
            CommunityRole.source,
            CommunityRole.granted_at,
        )
        .join(User, User.id == CommunityRole.user_id)
        .where(CommunityRole.community_id == community_id)
        .order_by(CommunityRole.user_id)
    )
    if user_id is not None:
        query = query.where(CommunityRole.user_id == user_id)
    return [
        RoleAssignment(
            user_id=row.user_id,
            display_name=row.display_name,
            role=Role(row.role),
            source=row.source,
            granted_at=row.granted_at,
        )
        for row in (await session.execute(query)).all()
    ]


async def _keep_an_owner(session: AsyncSession, community_id: int) -> None:
    """`LastOwner` unless another owner remains. The owners' rows are locked, so two
    owners demoting each other at once cannot both succeed."""
    owners = await session.scalar(
        select(func.count()).select_from(
            select(CommunityRole.user_id)
            .where(CommunityRole.community_id == community_id, CommunityRole.role == "owner")
            .with_for_update()
            .subquery()
        )
    )
    if (owners or 0) <= 1:
        raise LastOwner(
            "That would leave the community without an owner; make someone else owner first."
        )
