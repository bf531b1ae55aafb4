"""Communities, the platform spaces linked to them, members, identities, channels, rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
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

CHANNEL_TYPES = (
    "text",
    "voice",
    "stage",
    "forum",
    "announcement",
    "thread",
    "category",
    "line_user",
    "line_group",
    "line_room",
    "other",
)


class Community(Base):
    """A community: one economy, one config, possibly several platform spaces."""

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Bumped by every configuration change; caches poll it when LISTEN is unavailable.
    config_version: Mapped[int] = mapped_column(server_default=text("1"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]*$'", name="slug_format"),)


class CommunityLink(Base):
    """A Discord guild or LINE channel/group that belongs to a community."""

    __tablename__ = "community_links"

    community_id: Mapped[int]
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(200))
    linked_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "platform", "external_id"),
        UniqueConstraint("platform", "external_id"),
        CheckConstraint(in_list("platform", PLATFORMS), name="platform"),
        community_fk(),
    )


class Member(Base):
    """A person in a community, whatever platforms they speak through."""

    __tablename__ = "members"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    display_name: Mapped[str] = mapped_column(String(200))
    is_bot: Mapped[bool] = mapped_column(server_default=text("false"))
    joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (PrimaryKeyConstraint("community_id", "id"), community_fk())


class MemberIdentity(Base):
    """A platform account of a member; a member may link a Discord and a LINE identity."""

    __tablename__ = "member_identities"

    community_id: Mapped[int]
    platform: Mapped[str] = mapped_column(String(16))
    external_user_id: Mapped[str] = mapped_column(String(128))
    member_id: Mapped[int]
    linked_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "platform", "external_user_id"),
        UniqueConstraint("community_id", "member_id", "platform"),
        CheckConstraint(in_list("platform", PLATFORMS), name="platform"),
        member_fk(),
    )


class Channel(Base):
    """A place where activity happens; threads point at their parent, channels at their category."""

    __tablename__ = "channels"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None]
    created_at: Mapped[datetime] = created_at_column()
    deleted_at: Mapped[datetime | None]

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "platform", "external_id"),
        CheckConstraint(in_list("type", CHANNEL_TYPES), name="type"),
        CheckConstraint(in_list("platform", PLATFORMS), name="platform"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        community_fk(),
        ForeignKeyConstraint(
            ["community_id", "parent_id"], ["channels.community_id", "channels.id"]
        ),
    )


class CommunitySettings(Base):
    """A community's configuration document (`townsquare.config.document`), validated on write.

    ``section_versions`` holds the version of each section an edit was based on, for
    optimistic concurrency; ``communities.config_version`` moves with every change.
    """

    __tablename__ = "community_settings"

    community_id: Mapped[int] = mapped_column(primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(
        server_default=text("""'{"format": 1}'::jsonb""")
    )
    section_versions: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    updated_at: Mapped[datetime] = created_at_column()

    __table_args__ = (community_fk(),)
