"""Achievements: categories, rarities, series, templates (with triggers) and awards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.store.models.base import (
    Base,
    community_fk,
    created_at_column,
    in_list,
    member_fk,
)

AWARD_SOURCES = ("rule", "manual", "import")


def _catalog_fk(column: str, table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["community_id", column], [f"{table}.community_id", f"{table}.id"], ondelete="CASCADE"
    )


class AchievementCategory(Base):
    __tablename__ = "achievement_categories"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    position: Mapped[int] = mapped_column(server_default=text("0"))

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "name"),
        community_fk(),
    )


class AchievementRarity(Base):
    __tablename__ = "achievement_rarities"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(7), server_default=text("'#808080'"))
    position: Mapped[int] = mapped_column(server_default=text("0"))

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "name"),
        CheckConstraint("color ~ '^#[0-9a-fA-F]{6}$'", name="color_hex"),
        community_fk(),
    )


class AchievementSeries(Base):
    """Tiered achievements: tier n can only be earned after tier n-1."""

    __tablename__ = "achievement_series"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "name"),
        community_fk(),
    )


class AchievementTemplate(Base):
    """What can be earned, how (``trigger``) and what it gives (``rewards``)."""

    __tablename__ = "achievement_templates"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    category_id: Mapped[int | None]
    rarity_id: Mapped[int | None]
    series_id: Mapped[int | None]
    tier: Mapped[int | None]
    trigger: Mapped[dict[str, Any]]
    rewards: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    hidden: Mapped[bool] = mapped_column(server_default=text("false"))
    max_earners: Mapped[int | None]
    enabled: Mapped[bool] = mapped_column(server_default=text("true"))
    version: Mapped[int] = mapped_column(server_default=text("1"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "key"),
        UniqueConstraint("community_id", "series_id", "tier"),
        CheckConstraint("(series_id IS NULL) = (tier IS NULL)", name="series_has_tier"),
        CheckConstraint("tier IS NULL OR tier >= 1", name="tier_positive"),
        CheckConstraint("max_earners IS NULL OR max_earners >= 1", name="max_earners_positive"),
        community_fk(),
        _catalog_fk("category_id", "achievement_categories"),
        _catalog_fk("rarity_id", "achievement_rarities"),
        _catalog_fk("series_id", "achievement_series"),
    )


class AchievementAward(Base):
    """A member earned an achievement, once.

    Keyed by the achievement's key from the community configuration (``<key>:<level>`` for
    level-interval achievements), not by a catalog row: an award is history and survives
    edits or removal of the template.
    """

    __tablename__ = "achievement_awards"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    achievement_key: Mapped[str] = mapped_column(String(100))
    member_id: Mapped[int]
    season: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), server_default=text("'rule'"))
    event_id: Mapped[int | None]
    awarded_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "member_id", "achievement_key"),
        CheckConstraint(in_list("source", AWARD_SOURCES), name="source"),
        Index("ix_achievement_awards_recent", "community_id", "awarded_at"),
        member_fk(),
    )
