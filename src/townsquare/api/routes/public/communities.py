"""``/communities``: the list, one community, and its seasons."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from townsquare.api.deps import Session, utc_now
from townsquare.api.routes.public.http import (
    CONFIG_MAX_AGE,
    PROBLEMS,
    Community,
    Documents,
    ProblemRoute,
    cached,
)
from townsquare.services import engagement
from townsquare.services.engagement import CommunityOut, CommunityPage, SeasonsOut

router = APIRouter(route_class=ProblemRoute)


@router.get(
    "/communities",
    response_model=CommunityPage,
    responses=PROBLEMS,
    summary="List communities",
)
async def list_communities(
    request: Request,
    session: Session,
    documents: Documents,
    after: Annotated[
        str | None,
        Query(max_length=64, description="The previous page's ``next_cursor``."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=engagement.MAX_COMMUNITY_PAGE)] = 25,
) -> Response:
    """Communities by id, a page at a time."""
    now = utc_now(request)
    page = await engagement.list_communities(session, documents, now, after, limit)
    return cached(request, page, CONFIG_MAX_AGE)


@router.get(
    "/communities/{community}",
    response_model=CommunityOut,
    responses=PROBLEMS,
    summary="One community",
)
async def get_community(request: Request, session: Session, community: Community) -> Response:
    """Name, platforms linked, member count and the current season."""
    return cached(request, await engagement.get_community(session, community), CONFIG_MAX_AGE)


@router.get(
    "/communities/{community}/seasons",
    response_model=SeasonsOut,
    responses=PROBLEMS,
    summary="Season schedule",
)
async def seasons(request: Request, community: Community) -> Response:
    """The configured windows or recurring cycle, the current season and the next one."""
    return cached(request, engagement.seasons(community), CONFIG_MAX_AGE)
