"""Public reads of the engagement economy: communities, leaderboards, member profiles,
achievements and seasons (the use cases behind the public API)."""

from townsquare.services.engagement.achievements import catalog, recent_unlocks
from townsquare.services.engagement.communities import (
    MAX_COMMUNITY_PAGE,
    CommunityContext,
    ConfigDocuments,
    community_context,
    get_community,
    list_communities,
    seasons,
)
from townsquare.services.engagement.leaderboards import CURRENT, around, leaderboard
from townsquare.services.engagement.profile_schemas import (
    CatalogOut,
    ProfileOut,
    RecentUnlocksOut,
)
from townsquare.services.engagement.profiles import MAX_RECENT_EVENTS, profile
from townsquare.services.engagement.schemas import (
    LIFETIME_NAME,
    AroundOut,
    CommunityOut,
    CommunityPage,
    Currency,
    InvalidCursor,
    InvalidPublicQuery,
    LeaderboardOut,
    MemberNotRanked,
    SeasonsOut,
)

__all__ = [
    "CURRENT",
    "LIFETIME_NAME",
    "MAX_COMMUNITY_PAGE",
    "MAX_RECENT_EVENTS",
    "AroundOut",
    "CatalogOut",
    "CommunityContext",
    "CommunityOut",
    "CommunityPage",
    "ConfigDocuments",
    "Currency",
    "InvalidCursor",
    "InvalidPublicQuery",
    "LeaderboardOut",
    "MemberNotRanked",
    "ProfileOut",
    "RecentUnlocksOut",
    "SeasonsOut",
    "around",
    "catalog",
    "community_context",
    "get_community",
    "leaderboard",
    "list_communities",
    "profile",
    "recent_unlocks",
    "seasons",
]
