"""``/communities/{community}/members/{member}``: a member's public profile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from townsquare.api.deps import Session
from townsquare.api.routes.public.http import (
    LIVE_MAX_AGE,
    PROBLEMS,
    Community,
    MemberRef,
    ProblemRoute,
    cached,
)
from townsquare.services import engagement
from townsquare.services.engagement import ProfileOut

router = APIRouter(route_class=ProblemRoute)


@router.get(
    "/communities/{community}/members/{member}",
    response_model=ProfileOut,
    responses=PROBLEMS,
    summary="A member's profile",
)
async def profile(
    request: Request,
    session: Session,
    community: Community,
    member: MemberRef,
    recent: Annotated[
        int,
        Query(ge=0, le=engagement.MAX_RECENT_EVENTS, description="Recent events to explain."),
    ] = 10,
) -> Response:
    """Level and progress to the next, balances (lifetime and this season), rank per
    currency, achievements, and how the member's recent rewards were computed."""
    body = await engagement.profile(session, community, member, recent)
    return cached(request, body, LIVE_MAX_AGE)
