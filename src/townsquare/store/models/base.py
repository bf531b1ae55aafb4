"""Declarative base: naming convention for constraints and the shared column types."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKeyConstraint, MetaData, Numeric, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PLATFORMS = ("discord", "line")
CURRENCIES = ("xp", "stars", "gold")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        int: BigInteger(),
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB(),
        Decimal: Numeric(10, 4),
    }


def created_at_column() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


def community_fk() -> ForeignKeyConstraint:
    """Rows of a community disappear with it (erasure is one DELETE)."""
    return ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE")


def member_fk(column: str = "member_id") -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["community_id", column], ["members.community_id", "members.id"], ondelete="CASCADE"
    )


def in_list(column: str, values: tuple[str, ...]) -> str:
    """A CHECK expression restricting ``column`` to ``values``."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"
