"""What the public read use cases return: communities, boards and seasons.

Pydantic models so the API can use them as response models as they are (with their
examples in the OpenAPI document); profiles and achievements are in `profile_schemas`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from townsquare.errors import NotFound, TownsquareError

Currency = Literal["xp", "stars", "gold"]
#: How a board's season is named in the API: a season id, or "lifetime".
LIFETIME_NAME = "lifetime"


class InvalidPublicQuery(TownsquareError):
    """A read asked for something malformed (a parameter the schema cannot check)."""

    status = 422
    code = "invalid_query"


class InvalidCursor(InvalidPublicQuery):
    """A page cursor is malformed, tampered with, or belongs to another list."""

    code = "invalid_cursor"


class MemberNotRanked(NotFound):
    """The member exists but is not on this board (nothing earned, a bot, or gone)."""

    code = "member_not_ranked"


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Amounts(_Out):
    xp: int = 0
    stars: int = 0
    gold: int = 0


class PlatformLink(_Out):
    """A Discord server or LINE group/room this community lives in."""

    platform: str
    name: str | None = None


class SeasonOut(_Out):
    """A season; ``starts_at``/``ends_at`` are None for the endless default season."""

    id: str
    name: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


_SEASON_EXAMPLE: JsonDict = {
    "id": "S12",
    "name": None,
    "starts_at": "2026-03-19T00:00:00Z",
    "ends_at": "2026-03-26T00:00:00Z",
}
_COMMUNITY_EXAMPLE: JsonDict = {
    "id": 1,
    "slug": "pixel-garden",
    "name": "Pixel Garden",
    "platforms": [{"platform": "discord", "name": "Pixel Garden"}],
    "member_count": 1843,
    "current_season": _SEASON_EXAMPLE,
    "created_at": "2025-11-02T10:00:00Z",
}


class CommunityOut(_Out):
    """A community: one economy across its platform spaces."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [_COMMUNITY_EXAMPLE]})

    id: int
    slug: str
    name: str
    platforms: list[PlatformLink]
    member_count: int = Field(description="Members who are people and have not left.")
    current_season: SeasonOut | None = Field(
        description="The season running now; None between scheduled seasons."
    )
    created_at: datetime


class CommunityPage(_Out):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [{"items": [_COMMUNITY_EXAMPLE], "next_cursor": None}]},
    )

    items: list[CommunityOut]
    next_cursor: str | None = Field(description="Pass as ``after`` for the next page.")


class LeaderboardEntryOut(_Out):
    rank: int = Field(description="Competition rank: ties share it, the next rank skips.")
    member_id: int
    display_name: str
    value: int
    level: int


_ENTRIES_EXAMPLE: list[JsonDict] = [
    {"rank": 1, "member_id": 42, "display_name": "mika", "value": 18250, "level": 17},
    {"rank": 2, "member_id": 7, "display_name": "jun", "value": 9100, "level": 12},
    {"rank": 2, "member_id": 311, "display_name": "aya", "value": 9100, "level": 12},
]


class LeaderboardOut(_Out):
    """One page of a board, best first."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "community_id": 1,
                    "currency": "xp",
                    "season": "lifetime",
                    "entries": list(_ENTRIES_EXAMPLE),
                    "next_cursor": "MS45MTAwLjMxMS41YjQ1ZTAxYzIyOWQ",
                }
            ]
        },
    )

    community_id: int
    currency: Currency
    season: str = Field(description="A season id, or 'lifetime'.")
    entries: list[LeaderboardEntryOut]
    next_cursor: str | None = Field(description="Pass as ``after``; None on the last page.")


class AroundOut(_Out):
    """Where one member stands on a board, with the members just above and below."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "community_id": 1,
                    "currency": "xp",
                    "season": "lifetime",
                    "member": _ENTRIES_EXAMPLE[1],
                    "total": 1204,
                    "above": [_ENTRIES_EXAMPLE[0]],
                    "below": [_ENTRIES_EXAMPLE[2]],
                }
            ]
        },
    )

    community_id: int
    currency: Currency
    season: str
    member: LeaderboardEntryOut
    total: int = Field(description="Members ranked on this board.")
    above: list[LeaderboardEntryOut] = Field(description="Best first; the last is right above.")
    below: list[LeaderboardEntryOut]


class RecurringOut(_Out):
    anchor_at: datetime
    length_days: int
    id_prefix: str


class SeasonsOut(_Out):
    """A community's season schedule: explicit windows, a recurring cycle, or one endless
    season (``schedule`` says which)."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "community_id": 1,
                    "schedule": "recurring",
                    "current": _SEASON_EXAMPLE,
                    "next": {
                        "id": "S13",
                        "name": None,
                        "starts_at": "2026-03-26T00:00:00Z",
                        "ends_at": "2026-04-02T00:00:00Z",
                    },
                    "windows": [],
                    "recurring": {
                        "anchor_at": "2026-01-01T00:00:00Z",
                        "length_days": 7,
                        "id_prefix": "S",
                    },
                }
            ]
        },
    )

    community_id: int
    schedule: Literal["windows", "recurring", "endless"]
    current: SeasonOut | None
    next: SeasonOut | None
    windows: list[SeasonOut]
    recurring: RecurringOut | None
