"""Manual awards and revokes, exactly once per ``Idempotency-Key``.

A grant is recorded here and applied later by the pipeline's grant relay (202: accepted,
``pending``); the relay's result shows in `GET` of the grant. Retrying a POST with the same
key and body returns the first grant; the same key with another body is a 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from townsquare.api.deps import Session
from townsquare.api.routes.admin.common import (
    CHANGE_ERRORS,
    MAX_ID,
    READ_ERRORS,
    TEXT,
    Granter,
    Reader,
    example,
)
from townsquare.services.grants import (
    GrantAction,
    GrantOut,
    GrantPage,
    GrantRequest,
    GrantStatus,
    get_grant,
    list_grants,
    request_grant,
)
from townsquare.services.grants.service import MAX_PAGE

router = APIRouter(prefix="/grants", tags=["admin: grants"])

_GRANT = {
    "id": 12,
    "community_id": 1,
    "member_id": 345,
    "action": "award",
    "xp": 100,
    "stars": 0,
    "gold": 5,
    "achievement_key": None,
    "reason": "event winner",
    "idempotency_key": "form-8f2c",
    "actor": {"type": "user", "id": "7", "source_ip": None},
    "status": "pending",
    "attempts": 0,
    "event_id": None,
    "error": None,
    "created_at": "2026-03-01T12:00:00Z",
    "applied_at": None,
}


class GrantBody(BaseModel):
    """An award or revoke; amounts are non-negative, ``action`` gives the sign."""

    model_config = ConfigDict(extra="forbid")

    member_id: int = Field(ge=1, le=MAX_ID, description="The member's internal id.")
    action: GrantAction
    xp: int = Field(default=0, ge=0, le=10**12)
    stars: int = Field(default=0, ge=0, le=10**12)
    gold: int = Field(default=0, ge=0, le=10**12)
    achievement_key: str | None = Field(default=None, min_length=1, max_length=100, pattern=TEXT)
    reason: str | None = Field(default=None, max_length=500, pattern=TEXT)


@router.post(
    "",
    response_model=GrantOut,
    status_code=202,
    summary="Award or revoke XP, Stars, Gold or an achievement (idempotent)",
    responses={**CHANGE_ERRORS, **example(_GRANT, 202, "Accepted; applied by the relay.")},
)
async def create_grant(
    community_id: int,
    body: Annotated[
        GrantBody,
        Body(
            openapi_examples={
                "award": {
                    "value": {
                        "member_id": 345,
                        "action": "award",
                        "xp": 100,
                        "gold": 5,
                        "reason": "event winner",
                    }
                }
            }
        ),
    ],
    session: Session,
    actor: Granter,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=128,
            description="Chosen by the client; a retry with the same key grants once.",
        ),
    ],
) -> GrantOut:
    request = GrantRequest(**body.model_dump(), idempotency_key=idempotency_key)
    return await request_grant(session, actor, community_id, request)


@router.get(
    "/{grant_id}",
    response_model=GrantOut,
    summary="One grant and where it is in its life",
    responses={**READ_ERRORS, **example(_GRANT)},
)
async def read_grant(
    community_id: int,
    grant_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: Session,
    _caller: Reader,
) -> GrantOut:
    return await get_grant(session, community_id, grant_id)


@router.get(
    "",
    response_model=GrantPage,
    summary="Grants, newest first (keyset pages)",
    responses={**READ_ERRORS, **example({"grants": [_GRANT], "next_before_id": 12})},
)
async def read_grants(
    community_id: int,
    session: Session,
    _caller: Reader,
    status: GrantStatus | None = None,
    member_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_before_id of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> GrantPage:
    return await list_grants(
        session,
        community_id,
        status=status,
        member_id=member_id,
        before_id=before_id,
        limit=limit,
    )
