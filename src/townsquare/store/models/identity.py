"""One-time codes that let a member attach another platform's account to themselves.

Only a hash of each code is stored (whoever reads the table cannot redeem a code), with its
expiry; a member has at most one live code per platform, and a redeemed code is deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Identity,
    Index,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
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


class LinkCode(Base):
    """A code a member was given to link their ``platform`` account (e.g. LINE) to them."""

    __tablename__ = "link_codes"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    member_id: Mapped[int]
    # The platform whose account the code links (the member typed /link on another one).
    platform: Mapped[str] = mapped_column(String(16))
    # SHA-256 (hex) of the normalized code; codes are looked up by it, across communities.
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        UniqueConstraint("community_id", "member_id", "platform"),
        CheckConstraint(in_list("platform", PLATFORMS), name="platform"),
        Index("ix_link_codes_code_hash", "code_hash"),
        community_fk(),
        member_fk(),
    )
