"""The achievement catalog with earner counts, and the community's recent unlocks.

Achievements are defined in the community's configuration document; awards are history
keyed by the achievement's key. An award outlives edits to its template (a removed
achievement still shows, under its key), and a hidden achievement is only named where it
was earned: the catalog counts hidden ones without naming them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.config.document import CommunityConfigDocument
from townsquare.core.achievement_config import AchievementConfig, LevelIntervalTrigger
from townsquare.services.engagement.communities import CommunityContext
from townsquare.services.engagement.profile_schemas import (
    CatalogAchievement,
    CatalogOut,
    CategoryOut,
    EarnedAchievement,
    RarityOut,
    RecentUnlocksOut,
    UnlockOut,
)
from townsquare.store import achievement_feed


def _category(document: CommunityConfigDocument, key: str) -> CategoryOut | None:
    for entry in document.catalog.categories:
        if entry.key == key:
            return CategoryOut(key=entry.key, name=entry.name)
    return None


def _rarity(document: CommunityConfigDocument, key: str) -> RarityOut | None:
    for entry in document.catalog.rarities:
        if entry.key == key:
            return RarityOut(key=entry.key, name=entry.name, color=entry.color)
    return None


def achievement_definitions(document: CommunityConfigDocument) -> dict[str, AchievementConfig]:
    return {achievement.id: achievement for achievement in document.rules.achievements}


def earned_achievement(
    document: CommunityConfigDocument,
    key: str,
    season: str | None,
    awarded_at: datetime,
    definitions: dict[str, AchievementConfig] | None = None,
) -> EarnedAchievement:
    """An award described by its catalog entry (``<id>:<level>`` keys name their level)."""
    achievement_id, _, level = key.partition(":")
    definition = (definitions or achievement_definitions(document)).get(achievement_id)
    if definition is None:  # the template was removed since: the award is still history
        return EarnedAchievement(
            key=key,
            achievement_id=achievement_id,
            name=key,
            description="",
            category=None,
            rarity=None,
            series=None,
            tier=None,
            hidden=False,
            season=season,
            awarded_at=awarded_at,
        )
    name = f"{definition.name} (level {level})" if level else definition.name
    return EarnedAchievement(
        key=key,
        achievement_id=achievement_id,
        name=name,
        description=definition.description,
        category=_category(document, definition.category),
        rarity=_rarity(document, definition.rarity),
        series=definition.series,
        tier=definition.tier if definition.series is not None else None,
        hidden=definition.hidden,
        season=season,
        awarded_at=awarded_at,
    )


async def catalog(session: AsyncSession, context: CommunityContext) -> CatalogOut:
    """Every visible achievement in gallery order, with how many members earned it."""
    document = context.config.document
    earners = await achievement_feed.earner_counts(session, context.id)
    categories = sorted(document.catalog.categories, key=lambda c: (c.position, c.key))
    order = {entry.key: index for index, entry in enumerate(categories)}
    visible = [a for a in document.rules.achievements if not a.hidden]
    visible.sort(key=lambda a: (order.get(a.category, len(order)), a.series or "", a.tier))
    return CatalogOut(
        community_id=context.id,
        categories=[CategoryOut(key=c.key, name=c.name) for c in categories],
        achievements=[
            CatalogAchievement(
                id=a.id,
                name=a.name,
                description=a.description,
                category=_category(document, a.category),
                rarity=_rarity(document, a.rarity),
                series=a.series,
                tier=a.tier,
                repeatable=isinstance(a.trigger, LevelIntervalTrigger),
                max_earners=a.max_earners,
                earners=earners.get(a.id, 0),
            )
            for a in visible
        ],
        hidden_count=len(document.rules.achievements) - len(visible),
    )


async def recent_unlocks(
    session: AsyncSession, context: CommunityContext, limit: int = 20
) -> RecentUnlocksOut:
    """The latest awards to members shown on the boards, newest first."""
    document = context.config.document
    definitions = achievement_definitions(document)
    rows = await achievement_feed.recent_unlocks(session, context.id, limit)
    return RecentUnlocksOut(
        community_id=context.id,
        items=[
            UnlockOut(
                member_id=row.member_id,
                display_name=row.display_name,
                achievement=earned_achievement(
                    document, row.achievement_key, row.season, row.awarded_at, definitions
                ),
            )
            for row in rows
        ],
    )
