"""Seasons: time-boxed competitions; at most one is active per community."""

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

from townsquare.store.models.base import Base, community_fk, created_at_column, in_list

SEASON_STATUSES = ("scheduled", "active", "ended")


class Season(Base):
    __tablename__ = "seasons"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    # The id the rules and the ledger use for this season (``townsquare.core`` seasons).
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), server_default=text("'scheduled'"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "key"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint(in_list("status", SEASON_STATUSES), name="status"),
        # The database, not the code, guarantees a single active season.
        Index(
            "uq_seasons_one_active",
            "community_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        community_fk(),
    )
