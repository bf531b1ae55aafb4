"""``/communities/{community}/achievements``: the catalog and the latest unlocks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from townsquare.api.deps import Session
from townsquare.api.routes.public.http import (
    CONFIG_MAX_AGE,
    LIVE_MAX_AGE,
    PROBLEMS,
    Community,
    ProblemRoute,
    cached,
)
from townsquare.services import engagement
from townsquare.services.engagement import CatalogOut, RecentUnlocksOut

router = APIRouter(route_class=ProblemRoute)


@router.get(
    "/communities/{community}/achievements",
    response_model=CatalogOut,
    responses=PROBLEMS,
    summary="Achievement catalog",
)
async def catalog(request: Request, session: Session, community: Community) -> Response:
    """Visible achievements with how many members earned each; hidden ones are counted
    (``hidden_count``), never named, until someone earns them."""
    return cached(request, await engagement.catalog(session, community), CONFIG_MAX_AGE)


@router.get(
    "/communities/{community}/achievements/recent",
    response_model=RecentUnlocksOut,
    responses=PROBLEMS,
    summary="Recent unlocks",
)
async def recent_unlocks(
    request: Request,
    session: Session,
    community: Community,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """The latest achievements members unlocked, newest first."""
    body = await engagement.recent_unlocks(session, community, limit)
    return cached(request, body, LIVE_MAX_AGE)
