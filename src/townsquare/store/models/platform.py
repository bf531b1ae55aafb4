"""What the chat adapters keep across restarts and what they need admins to know.

Voice sessions live here, not in a bot's memory (the predecessor lost every open session on
restart); member preferences hold announcement opt-outs; community problems collect what a
platform refused (a role above the bot's, a missing permission) for admins to fix.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Identity,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.store.models.base import (
    PLATFORMS,
    Base,
    community_fk,
    created_at_column,
    in_list,
    member_fk,
)


class VoiceSession(Base):
    """An open stretch of time one account spends in one voice channel with the same flags.

    ``checkpoint_at`` is the last moment the adapter knew the session was alive; after a
    crash a session that is gone is closed there, so downtime is never paid as voice time.
    """

    __tablename__ = "voice_sessions"

    community_id: Mapped[int]
    platform: Mapped[str] = mapped_column(String(16))
    external_user_id: Mapped[str] = mapped_column(String(128))
    channel_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime]
    checkpoint_at: Mapped[datetime]
    muted: Mapped[bool] = mapped_column(server_default=text("false"))
    deafened: Mapped[bool] = mapped_column(server_default=text("false"))
    alone: Mapped[bool] = mapped_column(server_default=text("false"))
    afk: Mapped[bool] = mapped_column(server_default=text("false"))

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "platform", "external_user_id"),
        CheckConstraint(in_list("platform", PLATFORMS), name="platform"),
        CheckConstraint("checkpoint_at >= started_at", name="checkpoint_after_start"),
        community_fk(),
    )


class MemberPreference(Base):
    """A member's choices about being announced; no row means the defaults (announce)."""

    __tablename__ = "member_preferences"

    community_id: Mapped[int]
    member_id: Mapped[int]
    announce_level_ups: Mapped[bool] = mapped_column(server_default=text("true"))
    announce_achievements: Mapped[bool] = mapped_column(server_default=text("true"))
    updated_at: Mapped[datetime] = created_at_column()

    __table_args__ = (PrimaryKeyConstraint("community_id", "member_id"), member_fk())


class CommunityProblem(Base):
    """Something a platform refused that an admin must fix, counted instead of repeated."""

    __tablename__ = "community_problems"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    platform: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(String(500))
    occurrences: Mapped[int] = mapped_column(server_default=text("1"))
    first_seen_at: Mapped[datetime] = created_at_column()
    last_seen_at: Mapped[datetime] = created_at_column()
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "platform", "kind", "subject"),
        CheckConstraint(in_list("platform", PLATFORMS), name="platform"),
        community_fk(),
    )
