"""The event lake, the append-only ledger and what is derived from it (balances, counters)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Identity,
    Index,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.store.models.base import (
    CURRENCIES,
    PLATFORMS,
    Base,
    community_fk,
    created_at_column,
    in_list,
    member_fk,
)

EVENT_STATUSES = ("pending", "rewarded", "zero", "blocked", "failed")
COUNTER_PERIODS = ("lifetime", "season", "day")
# '' in ``season`` of balances and ``period_key`` of counters means "lifetime".
LIFETIME = ""


class Event(Base):
    """One activity event as the platform delivered it (metadata only, never content).

    Partitioned by ``occurred_at`` so retention drops whole partitions. PostgreSQL requires
    the partition key in every unique index, so redeliveries are recognised by
    (community, platform, platform event id, occurred_at); adapters take ``occurred_at``
    from the platform's payload, so a redelivery carries the same value.
    """

    __tablename__ = "events"

    community_id: Mapped[int]
    occurred_at: Mapped[datetime]
    id: Mapped[int] = mapped_column(Identity())
    platform: Mapped[str] = mapped_column(String(16))
    platform_event_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[int | None]
    member_id: Mapped[int | None]
    # The other member an event is about: a reaction's receiver, a reply's author.
    target_member_id: Mapped[int | None]
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", server_default=text("'{}'::jsonb")
    )
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    # How the reward was computed, or why there was none (cooldown, cap, duplicate…).
    outcome: Mapped[dict[str, Any] | None]
    received_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "occurred_at", "id"),
        UniqueConstraint("community_id", "platform", "platform_event_id", "occurred_at"),
        CheckConstraint(in_list("platform", PLATFORMS), name="platform"),
        CheckConstraint(in_list("status", EVENT_STATUSES), name="status"),
        Index("ix_events_member", "community_id", "member_id", "occurred_at"),
        community_fk(),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )


class LedgerEntry(Base):
    """What one event (or grant) changed for one member, for one reason. Append-only: it is
    the truth.

    One row carries the three currencies (most events move two of them). A trigger refuses
    UPDATE and DELETE; balances and counters are rebuilt from here.
    """

    __tablename__ = "ledger_entries"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    member_id: Mapped[int]
    xp: Mapped[int] = mapped_column(server_default=text("0"))
    stars: Mapped[int] = mapped_column(server_default=text("0"))
    gold: Mapped[int] = mapped_column(server_default=text("0"))
    # The season the entry counted towards and how much (a clamp or the reversal of an
    # old reaction can touch one of lifetime and season only, so both deltas are kept).
    season: Mapped[str | None] = mapped_column(String(64))
    season_xp: Mapped[int] = mapped_column(server_default=text("0"))
    season_stars: Mapped[int] = mapped_column(server_default=text("0"))
    season_gold: Mapped[int] = mapped_column(server_default=text("0"))
    reason: Mapped[str] = mapped_column(String(64))
    # No foreign key: events are dropped by retention, the ledger never is.
    event_id: Mapped[int | None]
    # Manual grants carry a key so a retried request is applied once.
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    actor: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        CheckConstraint(
            "xp <> 0 OR stars <> 0 OR gold <> 0 OR season_xp <> 0 OR season_stars <> 0 "
            "OR season_gold <> 0",
            name="not_zero",
        ),
        Index("ix_ledger_entries_member", "community_id", "member_id", "id"),
        Index(
            "uq_ledger_entries_idempotency_key",
            "community_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        member_fk(),
    )


class Balance(Base):
    """A member's XP, Stars, Gold and level, lifetime (season '') or for one season."""

    __tablename__ = "balances"

    community_id: Mapped[int]
    season: Mapped[str] = mapped_column(String(64), server_default=text("''"))
    member_id: Mapped[int]
    xp: Mapped[int] = mapped_column(server_default=text("0"))
    stars: Mapped[int] = mapped_column(server_default=text("0"))
    gold: Mapped[int] = mapped_column(server_default=text("0"))
    level: Mapped[int] = mapped_column(server_default=text("0"))
    updated_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "season", "member_id"),
        CheckConstraint("level >= 0", name="level_not_negative"),
        # Leaderboards: keyset pagination over (value desc, member id).
        Index("ix_balances_xp_rank", "community_id", "season", text("xp DESC"), "member_id"),
        Index("ix_balances_stars_rank", "community_id", "season", text("stars DESC"), "member_id"),
        Index("ix_balances_gold_rank", "community_id", "season", text("gold DESC"), "member_id"),
        member_fk(),
    )


class Counter(Base):
    """How many times a member did something, lifetime, per season or per day.

    ``period_key`` is '' for lifetime, the season key for a season and the ISO date for a day.
    """

    __tablename__ = "counters"

    community_id: Mapped[int]
    member_id: Mapped[int]
    period: Mapped[str] = mapped_column(String(8))
    period_key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[int] = mapped_column(server_default=text("0"))

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "member_id", "period", "period_key", "name"),
        CheckConstraint(in_list("period", COUNTER_PERIODS), name="period"),
        member_fk(),
    )


class MemberState(Base):
    """The rules engine's view of a member (``townsquare.core.MemberState``), serialized.

    Written by the community's single writer in the same transaction as the ledger rows
    it explains; derived like balances, so reconciliation can correct it. ``format`` is
    the serialization version, so an old row can be read after an upgrade.
    """

    __tablename__ = "member_states"

    community_id: Mapped[int]
    member_id: Mapped[int]
    # json, not jsonb: written for every member a batch touches, read whole by the writer
    # and by key only by reconciliation; json input only checks the syntax, jsonb input
    # builds a tree (a few microseconds a document, on the writer's critical path).
    state: Mapped[dict[str, Any]] = mapped_column(JSON())
    format: Mapped[int] = mapped_column(server_default=text("1"))
    updated_at: Mapped[datetime] = created_at_column()

    __table_args__ = (PrimaryKeyConstraint("community_id", "member_id"), member_fk())


class LevelUp(Base):
    """A member's level changed (possibly by several levels in one event)."""

    __tablename__ = "level_ups"

    community_id: Mapped[int]
    id: Mapped[int] = mapped_column(Identity())
    member_id: Mapped[int]
    old_level: Mapped[int]
    new_level: Mapped[int]
    event_id: Mapped[int | None]
    occurred_at: Mapped[datetime]

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "id"),
        Index("ix_level_ups_recent", "community_id", "occurred_at"),
        member_fk(),
    )


class CounterRollup(Base):
    """Lifetime counter totals of event-lake partitions that retention dropped.

    Reconciliation rebuilds lifetime counters as rollup + what the lake still holds, so
    dropping old events never shrinks a lifetime count. The rollup and the partition drop
    commit together (DDL is transactional), so a retried retention run counts nothing twice.
    """

    __tablename__ = "counter_rollups"

    community_id: Mapped[int]
    member_id: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[int] = mapped_column(server_default=text("0"))

    __table_args__ = (PrimaryKeyConstraint("community_id", "member_id", "name"), member_fk())


class BalanceCount(Base):
    """How many ``balances`` rows of a board hold each value above zero: the board's
    histogram, so a rank is a sum over the few distinct values above it.

    ``members`` counts every row; ``hidden`` counts the rows of members hidden from
    leaderboards (bots, members who left), so ``members - hidden`` are the ranked ones.
    Maintained by triggers on ``balances`` and ``members`` (migration 0003) in the
    transaction that changes them, never written by the application; a value whose
    ``members`` drops to zero has no row.
    """

    __tablename__ = "balance_counts"

    community_id: Mapped[int]
    season: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(8))
    value: Mapped[int]
    members: Mapped[int]
    hidden: Mapped[int] = mapped_column(server_default=text("0"))

    __table_args__ = (
        PrimaryKeyConstraint("community_id", "season", "currency", "value"),
        CheckConstraint(in_list("currency", CURRENCIES), name="currency"),
        CheckConstraint("value > 0", name="value_positive"),
        # Room on each page for the next versions of its rows: every batch of the writer
        # updates the counts in place, and free room makes those HOT updates.
        {"postgresql_with": {"fillfactor": 50}},
    )
