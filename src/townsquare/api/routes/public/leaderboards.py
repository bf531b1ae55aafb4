"""``/communities/{community}/leaderboard``: pages of a board and a member's neighbourhood."""

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
from townsquare.services.engagement import AroundOut, Currency, LeaderboardOut
from townsquare.store.leaderboards import MAX_NEIGHBOURS, MAX_PAGE_SIZE

router = APIRouter(route_class=ProblemRoute)

CurrencyParam = Annotated[Currency, Query(description="What the board ranks.", examples=["xp"])]
SeasonParam = Annotated[
    str,
    Query(
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="A season id, 'current' for the season running now, or 'lifetime'.",
        examples=["lifetime", "current", "S12"],
    ),
]


@router.get(
    "/communities/{community}/leaderboard",
    response_model=LeaderboardOut,
    responses=PROBLEMS,
    summary="A page of a leaderboard",
)
async def leaderboard(
    request: Request,
    session: Session,
    community: Community,
    currency: CurrencyParam = "xp",
    season: SeasonParam = engagement.LIFETIME_NAME,
    after: Annotated[
        str | None,
        Query(max_length=200, description="The previous page's ``next_cursor``."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 25,
) -> Response:
    """Best first; equal values share a rank. Bots and members who left are not shown.

    Pages are keyset-paginated: follow ``next_cursor`` until it is null; a cursor from
    another board (or a tampered one) is a 422 ``invalid_cursor``.
    """
    page = await engagement.leaderboard(session, community, currency, season, after, limit)
    return cached(request, page, LIVE_MAX_AGE)


@router.get(
    "/communities/{community}/leaderboard/around/{member}",
    response_model=AroundOut,
    responses=PROBLEMS,
    summary="A member's rank and neighbours",
)
async def around(
    request: Request,
    session: Session,
    community: Community,
    member: MemberRef,
    currency: CurrencyParam = "xp",
    season: SeasonParam = engagement.LIFETIME_NAME,
    neighbours: Annotated[int, Query(ge=0, le=MAX_NEIGHBOURS)] = 5,
) -> Response:
    """The member's rank with members just above and below; 404 ``member_not_ranked``
    when they are not on this board."""
    standing = await engagement.around(session, community, member, currency, season, neighbours)
    return cached(request, standing, LIVE_MAX_AGE)
