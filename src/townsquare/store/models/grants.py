"""Admin awards and revokes waiting for (or applied by) the ingest writer."""

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

from townsquare.store.models.base import Base, created_at_column, in_list, member_fk

GRANT_ACTIONS = ("award", "revoke")
GRANT_STATUSES = ("pending", "applied", "failed")


class ManualGrant(Base):
    """An outbox row: written with its audit entry, applied as a manual event by the writer.

    The writer owns member state, so an admin transaction never changes balances itself;
    it records the grant, and the pipeline applies it exactly once (its event id is derived
    from ``idempotency_key``, and the event lake ignores a second delivery).
    """

    __tablename__ = "manual_grants"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    idempotency_key: Mapped[str] = mapped_column(String(128))
    member_id: Mapped[int]
    action: Mapped[str] = mapped_column(String(8))
    xp: Mapped[int] = mapped_column(server_default=text("0"))
    stars: Mapped[int] = mapped_column(server_default=text("0"))
    gold: Mapped[int] = mapped_column(server_default=text("0"))
    achievement_key: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(500))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(8), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    event_id: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()
    applied_at: Mapped[datetime | None]

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "idempotency_key"),
        CheckConstraint(in_list("action", GRANT_ACTIONS), name="action"),
        CheckConstraint(in_list("status", GRANT_STATUSES), name="status"),
        CheckConstraint("xp >= 0 AND stars >= 0 AND gold >= 0", name="amounts_not_negative"),
        CheckConstraint(
            "xp + stars + gold > 0 OR achievement_key IS NOT NULL", name="grants_something"
        ),
        Index(
            "ix_manual_grants_pending",
            "community_id",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        member_fk(),
    )
