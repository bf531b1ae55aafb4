"""Item edits of achievements, the achievement catalog and seasons.

Same shape as the multiplier items: the key is in the path, PUT creates or replaces, DELETE
removes, and each change quotes its section's version (``achievements``, ``catalog`` or
``seasons``). Ending the current season takes "now" from the request's clock, so the
service itself stays clock-free.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response
from pydantic import Field, field_validator

from townsquare.api.deps import Now, Session
from townsquare.api.routes.admin.common import (
    CHANGE_ERRORS,
    TEXT,
    ChangeBody,
    Configurer,
    IfMatch,
    RemovalPrecondition,
    example,
    expected_version,
    run_edit,
    storable,
)
from townsquare.core.achievement_config import AchievementConfig
from townsquare.errors import ConfigInvalid
from townsquare.services.community_config import (
    CatalogKind,
    ConfigSectionOut,
    edits,
)

router = APIRouter(prefix="/config", tags=["admin: configuration items"])


def _responses(section: str, value: Any) -> dict[int | str, Any]:
    body = {
        "community_id": 1,
        "config_version": 9,
        "section": section,
        "section_version": 2,
        "value": value,
    }
    return {**CHANGE_ERRORS, **example(body)}


_ACHIEVEMENT = {
    "id": "chatterbox",
    "name": "Chatterbox",
    "description": "Send 1,000 messages",
    "category": "general",
    "rarity": "rare",
    "trigger": {"type": "counter", "counter": "messages", "threshold": 1000},
}
_ACHIEVEMENTS = _responses("achievements", [_ACHIEVEMENT])
_CATALOG = _responses(
    "catalog",
    {"categories": [{"key": "general", "name": "General"}], "rarities": [], "series": []},
)
_SEASONS = _responses(
    "seasons",
    {
        "windows": [{"id": "s1", "name": "Spring", "starts_at": 1767225600, "ends_at": 1775001600}],
        "recurring": None,
    },
)
Key = Annotated[str, Path(min_length=1, max_length=64, pattern=TEXT)]


class AchievementBody(ChangeBody):
    achievement: AchievementConfig = Field(description="The achievement; its id is the path's.")

    @field_validator("achievement")
    @classmethod
    def _storable(cls, value: AchievementConfig) -> AchievementConfig:
        storable(value.model_dump(mode="json"), ("achievement",))
        return value


class CatalogEntryBody(ChangeBody):
    entry: dict[str, Any] = Field(
        description="The entry's fields without its key (name, description, color, position).",
        examples=[{"name": "Legendary", "color": "#ff9800", "position": 4}],
    )

    @field_validator("entry")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        return storable(value, ("entry",))  # type: ignore[no-any-return]


class SeasonWindowBody(ChangeBody):
    name: str = Field(default="", pattern=TEXT, description="Display name.")
    starts_at: int = Field(description="Unix seconds (inclusive).")
    ends_at: int = Field(description="Unix seconds (exclusive).")


class ScheduleBody(ChangeBody):
    anchor_at: int = Field(description="Unix seconds when the first season starts.")
    length_days: int = Field(description="Days per season (1 to 3660).")
    id_prefix: str = Field(default="S", description="Seasons are named prefix + number.")


@router.put(
    "/achievements/{achievement_id}",
    response_model=ConfigSectionOut,
    summary="Create an achievement or replace the one with this id",
    responses=_ACHIEVEMENTS,
)
async def put_achievement(
    community_id: int,
    achievement_id: Key,
    body: Annotated[
        AchievementBody,
        Body(
            openapi_examples={
                "counter": {"value": {"achievement": _ACHIEVEMENT, "expected_version": 1}}
            }
        ),
    ],
    session: Session,
    actor: Configurer,
    response: Response,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    if body.achievement.id != achievement_id:
        raise ConfigInvalid([(("achievement", "id"), "must be the id in the path")])
    version = expected_version(body.expected_version, if_match)
    edit = edits.put_achievement(body.achievement)
    return await run_edit(session, actor, community_id, edit, version, body.reason, response)


@router.delete(
    "/achievements/{achievement_id}",
    response_model=ConfigSectionOut,
    summary="Remove an achievement (members who earned it keep it in their history)",
    responses=_ACHIEVEMENTS,
)
async def delete_achievement(
    community_id: int,
    achievement_id: Key,
    session: Session,
    actor: Configurer,
    response: Response,
    precondition: RemovalPrecondition,
) -> ConfigSectionOut:
    edit = edits.delete_achievement(achievement_id)
    return await run_edit(
        session, actor, community_id, edit, precondition.version(), precondition.reason, response
    )


@router.put(
    "/catalog/{kind}/{key}",
    response_model=ConfigSectionOut,
    summary="Create or replace an achievement category, rarity or series",
    responses=_CATALOG,
)
async def put_catalog_entry(
    community_id: int,
    kind: CatalogKind,
    key: Key,
    body: Annotated[
        CatalogEntryBody,
        Body(
            openapi_examples={
                "rarity": {
                    "value": {
                        "entry": {"name": "Mythic", "color": "#e91e63", "position": 5},
                        "expected_version": 0,
                    }
                }
            }
        ),
    ],
    session: Session,
    actor: Configurer,
    response: Response,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    version = expected_version(body.expected_version, if_match)
    edit = edits.put_catalog_entry({**body.entry, "key": key}, kind)
    return await run_edit(session, actor, community_id, edit, version, body.reason, response)


@router.delete(
    "/catalog/{kind}/{key}",
    response_model=ConfigSectionOut,
    summary="Remove a catalog entry (refused while an achievement uses it)",
    responses=_CATALOG,
)
async def delete_catalog_entry(
    community_id: int,
    kind: CatalogKind,
    key: Key,
    session: Session,
    actor: Configurer,
    response: Response,
    precondition: RemovalPrecondition,
) -> ConfigSectionOut:
    edit = edits.delete_catalog_entry(kind, key)
    return await run_edit(
        session, actor, community_id, edit, precondition.version(), precondition.reason, response
    )


@router.put(
    "/seasons/windows/{season_id}",
    response_model=ConfigSectionOut,
    summary="Schedule an explicit season, or replace the one with this id",
    responses=_SEASONS,
)
async def put_season_window(
    community_id: int,
    season_id: Key,
    body: Annotated[
        SeasonWindowBody,
        Body(
            openapi_examples={
                "spring": {
                    "value": {
                        "name": "Spring",
                        "starts_at": 1767225600,
                        "ends_at": 1775001600,
                        "expected_version": 1,
                    }
                }
            }
        ),
    ],
    session: Session,
    actor: Configurer,
    response: Response,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    window = {
        "id": season_id,
        "name": body.name,
        "starts_at": body.starts_at,
        "ends_at": body.ends_at,
    }
    version = expected_version(body.expected_version, if_match)
    edit = edits.add_season_window(window)
    return await run_edit(session, actor, community_id, edit, version, body.reason, response)


@router.delete(
    "/seasons/windows/{season_id}",
    response_model=ConfigSectionOut,
    summary="Remove an explicit season window",
    responses=_SEASONS,
)
async def delete_season_window(
    community_id: int,
    season_id: Key,
    session: Session,
    actor: Configurer,
    response: Response,
    precondition: RemovalPrecondition,
) -> ConfigSectionOut:
    edit = edits.delete_season_window(season_id)
    return await run_edit(
        session, actor, community_id, edit, precondition.version(), precondition.reason, response
    )


@router.post(
    "/seasons/end-current",
    response_model=ConfigSectionOut,
    summary="End the explicit season running now, effective now",
    responses=_SEASONS,
)
async def end_current_season(
    community_id: int,
    body: Annotated[ChangeBody, Body(openapi_examples={"end": {"value": {"expected_version": 2}}})],
    session: Session,
    actor: Configurer,
    response: Response,
    now: Now,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    version = expected_version(body.expected_version, if_match)
    edit = edits.end_current_season(now)
    return await run_edit(session, actor, community_id, edit, version, body.reason, response)


@router.put(
    "/seasons/schedule",
    response_model=ConfigSectionOut,
    summary="Set the recurring season schedule (explicit windows must be removed first)",
    responses=_SEASONS,
)
async def put_season_schedule(
    community_id: int,
    body: Annotated[
        ScheduleBody,
        Body(
            openapi_examples={
                "monthly-ish": {
                    "value": {"anchor_at": 1767225600, "length_days": 30, "expected_version": 2}
                }
            }
        ),
    ],
    session: Session,
    actor: Configurer,
    response: Response,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    schedule = {
        "anchor_at": body.anchor_at,
        "length_days": body.length_days,
        "id_prefix": body.id_prefix,
    }
    version = expected_version(body.expected_version, if_match)
    edit = edits.set_season_schedule(schedule)
    return await run_edit(session, actor, community_id, edit, version, body.reason, response)


@router.delete(
    "/seasons/schedule",
    response_model=ConfigSectionOut,
    summary="Clear the recurring season schedule",
    responses=_SEASONS,
)
async def delete_season_schedule(
    community_id: int,
    session: Session,
    actor: Configurer,
    response: Response,
    precondition: RemovalPrecondition,
) -> ConfigSectionOut:
    edit = edits.set_season_schedule(None)
    return await run_edit(
        session, actor, community_id, edit, precondition.version(), precondition.reason, response
    )
