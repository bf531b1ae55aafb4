"""The admin audit log: who changed what, from where, before and after. Append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Identity, Index, PrimaryKeyConstraint, String
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.store.models.base import Base, community_fk, created_at_column, in_list

ACTOR_TYPES = ("user", "api_token", "bot", "cli", "system")


class AuditEntry(Base):
    __tablename__ = "audit_log"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    occurred_at: Mapped[datetime] = created_at_column()
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(128))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None] = mapped_column(String(500))
    source_ip: Mapped[str | None] = mapped_column(INET)

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        CheckConstraint(in_list("actor_type", ACTOR_TYPES), name="actor_type"),
        Index("ix_audit_log_when", "community_id", "occurred_at"),
        Index("ix_audit_log_target", "community_id", "target_type", "target_id"),
        community_fk(),
    )
