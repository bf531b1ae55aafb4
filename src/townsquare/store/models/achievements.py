"""Achievement awards; what can be earned lives in the community configuration document."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
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
    created_at_column,
    in_list,
    member_fk,
)

AWARD_SOURCES = ("rule", "manual", "import")


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
