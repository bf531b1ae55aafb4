"""Per-user conversation sessions and the durable webhook inbox.

Both hold personal data (what a user is in the middle of asking; raw webhook payloads), so
both carry an expiry: sessions by ``expires_at``, inbox payloads are cleared once processed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Identity,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.store.models.base import PLATFORMS, Base, community_fk, created_at_column, in_list

INBOX_STATUSES = ("pending", "processing", "done", "dead")


class ConversationSession(Base):
    """Where one user is in a conversation: a state of an explicit state machine."""

    __tablename__ = "conversation_sessions"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    platform: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(128))
    member_id: Mapped[int | None]
    state: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    # Optimistic concurrency between workers handling the same user.
    version: Mapped[int] = mapped_column(server_default=text("1"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "platform", "user_key"),
        CheckConstraint(in_list("platform", PLATFORMS), name="platform"),
        Index("ix_conversation_sessions_expiry", "expires_at"),
        community_fk(),
    )


class WebhookInboxItem(Base):
    """A verified webhook event, stored before the platform is acknowledged."""

    __tablename__ = "webhook_inbox"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    platform: Mapped[str] = mapped_column(String(16))
    # The configured channel (LINE official account) that received it: whose token replies.
    channel_key: Mapped[str] = mapped_column(String(40))
    webhook_event_id: Mapped[str] = mapped_column(String(128))
    # Events with the same key (one user, one chat) are processed in order.
    ordering_key: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any] | None]
    is_redelivery: Mapped[bool] = mapped_column(server_default=text("false"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    next_attempt_at: Mapped[datetime] = created_at_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = created_at_column()
    processed_at: Mapped[datetime | None]

    # While ``processing``, ``next_attempt_at`` is the worker's lease: past it, the item is
    # due again (its worker died), and the exact value fences a worker whose lease was lost.
    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "platform", "webhook_event_id"),
        CheckConstraint(in_list("status", INBOX_STATUSES), name="status"),
        CheckConstraint(in_list("platform", PLATFORMS), name="platform"),
        Index(
            "ix_webhook_inbox_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'processing')"),
        ),
        # The oldest open event of an ordering key (the only one a worker may take).
        Index(
            "ix_webhook_inbox_open_key",
            "community_id",
            "platform",
            "ordering_key",
            "id",
            postgresql_where=text("status IN ('pending', 'processing')"),
        ),
        # Dead-letter count and the retention sweeps of finished rows.
        Index(
            "ix_webhook_inbox_finished",
            "status",
            "processed_at",
            postgresql_where=text("status IN ('done', 'dead')"),
        ),
        community_fk(),
    )
