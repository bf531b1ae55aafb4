"""Leaderboard pages and a member's neighbourhood, over `townsquare.store.leaderboards`.

The store does the work (keyset pages, competition ranks from the histogram, bots and
leavers hidden); this names seasons the way the API does ('lifetime', 'current' or a
season id) and turns the store's "bad cursor" into the API's 422.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.errors import NotFound
from townsquare.services.engagement.communities import CommunityContext
from townsquare.services.engagement.schemas import (
    LIFETIME_NAME,
    AroundOut,
    Currency,
    InvalidCursor,
    InvalidPublicQuery,
    LeaderboardEntryOut,
    LeaderboardOut,
    MemberNotRanked,
)
from townsquare.store import leaderboards as boards
from townsquare.store.profiles import find_member

#: The season parameter that means "whichever season is running now".
CURRENT = "current"


def board_season(context: CommunityContext, season: str) -> str:
    """The store's season key for the API's name of it ('' is lifetime)."""
    if season == LIFETIME_NAME:
        return boards.LIFETIME
    if season == CURRENT:
        current = context.current_season
        if current is None:
            raise InvalidPublicQuery("No season is running now; name one, or ask for 'lifetime'.")
        return current
    return season


def _entry(entry: boards.LeaderboardEntry) -> LeaderboardEntryOut:
    return LeaderboardEntryOut(
        rank=entry.rank,
        member_id=entry.member_id,
        display_name=entry.display_name,
        value=entry.value,
        level=entry.level,
    )


async def leaderboard(
    session: AsyncSession,
    context: CommunityContext,
    currency: Currency,
    season: str = LIFETIME_NAME,
    after: str | None = None,
    limit: int = 25,
) -> LeaderboardOut:
    """One page of a board, best first; ``after`` is the previous page's ``next_cursor``."""
    key = board_season(context, season)
    try:
        page = await boards.leaderboard_page(session, context.id, currency, key, after, limit)
    except boards.InvalidCursor as exc:
        raise InvalidCursor(exc.message) from None
    except boards.InvalidLeaderboardQuery as exc:
        raise InvalidPublicQuery(exc.message) from None
    return LeaderboardOut(
        community_id=context.id,
        currency=currency,
        season=key or LIFETIME_NAME,
        entries=[_entry(entry) for entry in page.entries],
        next_cursor=page.next_cursor,
    )


async def around(
    session: AsyncSession,
    context: CommunityContext,
    member_ref: str,
    currency: Currency,
    season: str = LIFETIME_NAME,
    neighbours: int = 5,
) -> AroundOut:
    """The member's rank with up to ``neighbours`` members above and below.

    `NotFound` for a member the community does not have; `MemberNotRanked` (also a 404)
    for one who is not on this board.
    """
    key = board_season(context, season)
    member = await find_member(session, context.id, member_ref)
    if member is None:
        raise NotFound(f"No member {member_ref!r} in this community.")
    try:
        standing = await boards.member_rank(
            session, context.id, member.id, currency, key, neighbours
        )
    except boards.InvalidLeaderboardQuery as exc:
        raise InvalidPublicQuery(exc.message) from None
    if standing is None:
        raise MemberNotRanked(f"Member {member_ref!r} is not on this leaderboard.")
    return AroundOut(
        community_id=context.id,
        currency=currency,
        season=key or LIFETIME_NAME,
        member=_entry(standing.entry),
        total=standing.total,
        above=[_entry(entry) for entry in standing.above],
        below=[_entry(entry) for entry in standing.below],
    )
