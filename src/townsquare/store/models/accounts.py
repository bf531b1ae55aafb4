"""People who sign in (dashboard, API), their sessions, roles and API tokens.

Accounts belong to the instance, not to a community — one person administers several
communities — so these are the only tables not keyed by ``community_id`` first (roles and
API tokens, which are about one community, are). Secrets are stored hashed: session ids
and API tokens as SHA-256 (they are long random strings), passwords with scrypt.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.store.models.base import Base, community_fk, created_at_column, in_list

ROLES = ("owner", "admin", "moderator", "viewer")
IDENTITY_PROVIDERS = ("discord", "line", "local")


def _user_fk(column: str = "user_id") -> ForeignKeyConstraint:
    return ForeignKeyConstraint([column], ["users.id"], ondelete="CASCADE")


class User(Base):
    """Someone who can sign in. ``is_instance_admin`` may manage every community."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    is_instance_admin: Mapped[bool] = mapped_column(server_default=text("false"))
    # scrypt hash (``scrypt$n$r$p$salt$hash``) for the CLI-created bootstrap admin; None
    # for people who only sign in through Discord or LINE.
    password_hash: Mapped[str | None] = mapped_column(String(300))
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class UserIdentity(Base):
    """A login of a user at a provider (Discord user id, LINE user id, or a local name)."""

    __tablename__ = "user_identities"

    provider: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int]
    linked_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        PrimaryKeyConstraint("provider", "subject"),
        CheckConstraint(in_list("provider", IDENTITY_PROVIDERS), name="provider"),
        Index("ix_user_identities_user", "user_id"),
        _user_fk(),
    )


class AuthSession(Base):
    """A signed-in browser. The cookie holds a random id; the table holds its SHA-256."""

    __tablename__ = "auth_sessions"

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_id: Mapped[int]
    provider: Mapped[str] = mapped_column(String(16))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    last_seen_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]
    # When the provider's roles were last re-read (Discord: guild member roles).
    refreshed_at: Mapped[datetime] = created_at_column()
    revoked_at: Mapped[datetime | None]
    # The provider's grant (Discord tokens), AES-GCM encrypted with ``auth.secret_key`` and
    # bound to this row; NULL without a key, or once the session ends.
    provider_grant: Mapped[bytes | None] = mapped_column(LargeBinary)
    user_agent: Mapped[str | None] = mapped_column(String(300))
    source_ip: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(in_list("provider", IDENTITY_PROVIDERS), name="provider"),
        Index("ix_auth_sessions_user", "user_id"),
        _user_fk(),
    )


class CommunityRole(Base):
    """What a user may do in one community."""

    __tablename__ = "community_roles"

    community_id: Mapped[int]
    user_id: Mapped[int]
    role: Mapped[str] = mapped_column(String(16))
    # "manual" (granted by an admin or the CLI) or "discord" (derived from guild roles and
    # re-checked when the session refreshes).
    source: Mapped[str] = mapped_column(String(16), server_default=text("'manual'"))
    granted_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "user_id"),
        CheckConstraint(in_list("role", ROLES), name="role"),
        CheckConstraint(in_list("source", ("manual", "discord")), name="source"),
        Index("ix_community_roles_user", "user_id"),
        community_fk(),
        _user_fk(),
    )


class ApiToken(Base):
    """An automation credential scoped to one community and a set of permissions."""

    __tablename__ = "api_tokens"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The first characters of the token, shown in lists so a leaked token can be found.
    prefix: Mapped[str] = mapped_column(String(16))
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    created_by: Mapped[int | None]
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("token_hash"),
        community_fk(),
        ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
    )
