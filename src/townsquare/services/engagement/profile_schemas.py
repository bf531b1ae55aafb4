"""What member profiles and the achievement pages return."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from townsquare.services.engagement.schemas import Amounts


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class CategoryOut(_Out):
    key: str
    name: str


class RarityOut(_Out):
    key: str
    name: str
    color: str


class LevelProgress(_Out):
    level: int
    xp: int = Field(description="Lifetime XP.")
    level_xp: int = Field(description="Lifetime XP at which the current level was reached.")
    next_level_xp: int | None = Field(description="Lifetime XP the next level needs.")
    xp_to_next_level: int | None
    progress: float = Field(ge=0, le=1, description="Share of the way to the next level.")
    max_level: bool


class SeasonBalances(_Out):
    season: str
    balances: Amounts


class BalancesOut(_Out):
    lifetime: Amounts
    season: SeasonBalances | None = Field(description="The current season; None off-season.")


class Standing(_Out):
    rank: int
    total: int = Field(description="Members ranked on that board.")


class Standings(_Out):
    """Rank per currency; None where the member is not on that board."""

    xp: Standing | None = None
    stars: Standing | None = None
    gold: Standing | None = None


class RanksOut(_Out):
    lifetime: Standings
    season: Standings | None


class EarnedAchievement(_Out):
    key: str = Field(description="As awarded; ``<id>:<level>`` for level-interval ones.")
    achievement_id: str
    name: str
    description: str
    category: CategoryOut | None
    rarity: RarityOut | None
    series: str | None
    tier: int | None
    hidden: bool
    season: str | None
    awarded_at: datetime


class Factor(_Out):
    """One multiplier of a reward and the rule it came from."""

    name: str = Field(description="channel, role or quality")
    factor: float
    source: str


class CapOut(_Out):
    currency: str
    requested: int
    granted: int


class BreakdownOut(_Out):
    """How one reward was computed: base x units x factors, rounded down, then caps."""

    reward_kind: str | None
    base: Amounts
    units: int
    factors: list[Factor]
    diminishing_position: int | None
    computed: Amounts
    caps: list[CapOut]
    granted: Amounts
    blocked_by: str | None
    notes: list[str]
    explanation: list[str] = Field(description="The same, one step per line.")


class RecentEvent(_Out):
    """An event that touched the member (metadata and reward only, never content)."""

    event_id: int
    kind: str
    occurred_at: datetime
    status: str
    blocked_by: str | None = Field(description="Why the whole event earned nothing, if so.")
    breakdowns: list[BreakdownOut]


_ACHIEVEMENT_EXAMPLE: JsonDict = {
    "key": "chatter-2",
    "achievement_id": "chatter-2",
    "name": "Chatter 2",
    "description": "",
    "category": {"key": "messages", "name": "Messages"},
    "rarity": {"key": "common", "name": "Common", "color": "#9e9e9e"},
    "series": "chatter",
    "tier": 2,
    "hidden": False,
    "season": "S12",
    "awarded_at": "2026-03-20T18:02:11Z",
}
_PROFILE_EXAMPLE: JsonDict = {
    "community_id": 1,
    "member_id": 42,
    "display_name": "mika",
    "joined_at": "2025-11-03T08:00:00Z",
    "level": {
        "level": 7,
        "xp": 1320,
        "level_xp": 1190,
        "next_level_xp": 1560,
        "xp_to_next_level": 240,
        "progress": 0.3514,
        "max_level": False,
    },
    "balances": {
        "lifetime": {"xp": 1320, "stars": 14, "gold": 85},
        "season": {"season": "S12", "balances": {"xp": 210, "stars": 2, "gold": 10}},
    },
    "ranks": {
        "lifetime": {"xp": {"rank": 12, "total": 1204}, "stars": {"rank": 30, "total": 610}},
        "season": {"xp": {"rank": 3, "total": 88}},
    },
    "achievements": [_ACHIEVEMENT_EXAMPLE],
    "recent_events": [
        {
            "event_id": 981,
            "kind": "message",
            "occurred_at": "2026-03-21T09:15:00Z",
            "status": "rewarded",
            "blocked_by": None,
            "breakdowns": [
                {
                    "reward_kind": "message",
                    "base": {"xp": 15, "stars": 0, "gold": 0},
                    "units": 1,
                    "factors": [{"name": "quality", "factor": 1.2, "source": "tier 2"}],
                    "diminishing_position": None,
                    "computed": {"xp": 18, "stars": 0, "gold": 0},
                    "caps": [],
                    "granted": {"xp": 18, "stars": 0, "gold": 0},
                    "blocked_by": None,
                    "notes": [],
                    "explanation": ["message: base 15 xp", "= 18 xp (rounded down)"],
                }
            ],
        }
    ],
}


class ProfileOut(_Out):
    """A member's public profile."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [_PROFILE_EXAMPLE]})

    community_id: int
    member_id: int
    display_name: str
    joined_at: datetime | None
    level: LevelProgress
    balances: BalancesOut
    ranks: RanksOut
    achievements: list[EarnedAchievement] = Field(
        description="Hidden achievements appear here once earned."
    )
    recent_events: list[RecentEvent]


class CatalogAchievement(_Out):
    id: str
    name: str
    description: str
    category: CategoryOut | None
    rarity: RarityOut | None
    series: str | None
    tier: int
    repeatable: bool = Field(description="Unlocked again every few levels.")
    max_earners: int | None
    earners: int


class CatalogOut(_Out):
    """The achievements a community offers. Hidden ones are only counted, never named."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "community_id": 1,
                    "categories": [{"key": "general", "name": "General"}],
                    "achievements": [
                        {
                            "id": "first-post",
                            "name": "Hello",
                            "description": "Say hello",
                            "category": {"key": "general", "name": "General"},
                            "rarity": {"key": "common", "name": "Common", "color": "#9e9e9e"},
                            "series": None,
                            "tier": 1,
                            "repeatable": False,
                            "max_earners": 50,
                            "earners": 50,
                        }
                    ],
                    "hidden_count": 1,
                }
            ]
        },
    )

    community_id: int
    categories: list[CategoryOut]
    achievements: list[CatalogAchievement]
    hidden_count: int


class UnlockOut(_Out):
    member_id: int
    display_name: str
    achievement: EarnedAchievement


class RecentUnlocksOut(_Out):
    """The latest unlocks, newest first (an earned hidden achievement is no secret)."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "community_id": 1,
                    "items": [
                        {
                            "member_id": 42,
                            "display_name": "mika",
                            "achievement": _ACHIEVEMENT_EXAMPLE,
                        }
                    ],
                }
            ]
        },
    )

    community_id: int
    items: list[UnlockOut]
