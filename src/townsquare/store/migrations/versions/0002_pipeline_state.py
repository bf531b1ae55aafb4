"""Pipeline state: season keys, member states, level-ups, counter rollups.

The rules engine names seasons and achievements by the keys of the community's
configuration, so the ledger, balances, counters and awards now record those keys instead
of catalog row ids; the writer keeps each member's rules state in ``member_states``;
level-ups are recorded; retention folds dropped partitions into ``counter_rollups``.

Existing rows are converted: a season id becomes the season's key ('' for lifetime), an
award's template id becomes the template's key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RANKED = ("xp", "stars", "gold")


def _member_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["community_id", "member_id"],
        ["members.community_id", "members.id"],
        name=op.f(f"fk_{table}_community_id_member_id_members"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    # Seasons get the key the rules use; existing rows keep their id as key.
    op.add_column("seasons", sa.Column("key", sa.String(length=64), nullable=True))
    op.execute("UPDATE seasons SET key = id::text")
    op.alter_column("seasons", "key", nullable=False)
    op.create_unique_constraint(
        op.f("uq_seasons_community_id_key"), "seasons", ["community_id", "key"]
    )

    # Balances: lifetime is season '' instead of 0.
    for currency in _RANKED:
        op.drop_index(f"ix_balances_{currency}_rank", table_name="balances")
    op.drop_constraint(op.f("pk_balances"), "balances", type_="primary")
    op.drop_constraint(op.f("ck_balances_season_id_not_negative"), "balances", type_="check")
    op.add_column(
        "balances",
        sa.Column("season", sa.String(length=64), server_default=sa.text("''"), nullable=False),
    )
    op.execute(
        "UPDATE balances b SET season = coalesce("
        "(SELECT s.key FROM seasons s WHERE s.community_id = b.community_id AND s.id = b.season_id),"
        " '') WHERE b.season_id <> 0"
    )
    op.drop_column("balances", "season_id")
    op.create_primary_key(op.f("pk_balances"), "balances", ["community_id", "season", "member_id"])
    for currency in _RANKED:
        op.create_index(
            f"ix_balances_{currency}_rank",
            "balances",
            ["community_id", "season", sa.literal_column(f"{currency} DESC"), "member_id"],
        )

    # Ledger: season key and the season's own delta.
    op.add_column("ledger_entries", sa.Column("season", sa.String(length=64), nullable=True))
    op.add_column(
        "ledger_entries",
        sa.Column("season_delta", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    # The ledger is append-only; this one-off conversion is the documented exception.
    op.execute("ALTER TABLE ledger_entries DISABLE TRIGGER USER")
    op.execute(
        "UPDATE ledger_entries l SET season = s.key, season_delta = l.delta FROM seasons s "
        "WHERE s.community_id = l.community_id AND s.id = l.season_id"
    )
    op.execute("ALTER TABLE ledger_entries ENABLE TRIGGER USER")
    op.drop_column("ledger_entries", "season_id")
    op.drop_constraint(op.f("ck_ledger_entries_delta_not_zero"), "ledger_entries", type_="check")
    op.create_check_constraint(
        op.f("ck_ledger_entries_delta_not_zero"),
        "ledger_entries",
        "delta <> 0 OR season_delta <> 0",
    )

    # Counters: a season key may be longer than an ISO date.
    op.alter_column(
        "counters",
        "period_key",
        type_=sa.String(length=64),
        existing_type=sa.String(length=16),
        existing_nullable=False,
    )

    # Awards are keyed by the achievement key; they outlive catalog edits.
    op.add_column(
        "achievement_awards", sa.Column("achievement_key", sa.String(length=100), nullable=True)
    )
    op.add_column("achievement_awards", sa.Column("season", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE achievement_awards a SET achievement_key = t.key FROM achievement_templates t "
        "WHERE t.community_id = a.community_id AND t.id = a.template_id"
    )
    op.execute(
        "UPDATE achievement_awards a SET season = s.key FROM seasons s "
        "WHERE s.community_id = a.community_id AND s.id = a.season_id"
    )
    op.alter_column("achievement_awards", "achievement_key", nullable=False)
    op.drop_constraint(
        op.f("uq_achievement_awards_community_id_template_id_member_id"),
        "achievement_awards",
        type_="unique",
    )
    op.drop_constraint(
        op.f("fk_achievement_awards_community_id_template_id_achievement_templates"),
        "achievement_awards",
        type_="foreignkey",
    )
    op.drop_column("achievement_awards", "template_id")
    op.drop_column("achievement_awards", "season_id")
    op.create_unique_constraint(
        op.f("uq_achievement_awards_community_id_member_id_achievement_key"),
        "achievement_awards",
        ["community_id", "member_id", "achievement_key"],
    )

    op.create_table(
        "member_states",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("state", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("format", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _member_fk("member_states"),
        sa.PrimaryKeyConstraint("community_id", "member_id", name=op.f("pk_member_states")),
    )
    op.create_table(
        "level_ups",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("old_level", sa.BigInteger(), nullable=False),
        sa.Column("new_level", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        _member_fk("level_ups"),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_level_ups")),
    )
    op.create_index("ix_level_ups_recent", "level_ups", ["community_id", "occurred_at"])
    op.create_table(
        "counter_rollups",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        _member_fk("counter_rollups"),
        sa.PrimaryKeyConstraint(
            "community_id", "member_id", "name", name=op.f("pk_counter_rollups")
        ),
    )


def downgrade() -> None:
    op.drop_table("counter_rollups")
    op.drop_index("ix_level_ups_recent", table_name="level_ups")
    op.drop_table("level_ups")
    op.drop_table("member_states")

    # Awards: back to template ids; awards whose key names no template cannot be kept.
    op.add_column("achievement_awards", sa.Column("template_id", sa.BigInteger(), nullable=True))
    op.add_column("achievement_awards", sa.Column("season_id", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE achievement_awards a SET template_id = t.id FROM achievement_templates t "
        "WHERE t.community_id = a.community_id AND t.key = a.achievement_key"
    )
    op.execute(
        "UPDATE achievement_awards a SET season_id = s.id FROM seasons s "
        "WHERE s.community_id = a.community_id AND s.key = a.season"
    )
    op.execute("DELETE FROM achievement_awards WHERE template_id IS NULL")
    op.alter_column("achievement_awards", "template_id", nullable=False)
    op.drop_constraint(
        op.f("uq_achievement_awards_community_id_member_id_achievement_key"),
        "achievement_awards",
        type_="unique",
    )
    op.drop_column("achievement_awards", "achievement_key")
    op.drop_column("achievement_awards", "season")
    op.create_unique_constraint(
        op.f("uq_achievement_awards_community_id_template_id_member_id"),
        "achievement_awards",
        ["community_id", "template_id", "member_id"],
    )
    op.create_foreign_key(
        op.f("fk_achievement_awards_community_id_template_id_achievement_templates"),
        "achievement_awards",
        "achievement_templates",
        ["community_id", "template_id"],
        ["community_id", "id"],
        ondelete="CASCADE",
    )

    op.alter_column(
        "counters",
        "period_key",
        type_=sa.String(length=16),
        existing_type=sa.String(length=64),
        existing_nullable=False,
        postgresql_using="left(period_key, 16)",
    )

    op.drop_constraint(op.f("ck_ledger_entries_delta_not_zero"), "ledger_entries", type_="check")
    op.add_column("ledger_entries", sa.Column("season_id", sa.BigInteger(), nullable=True))
    op.execute("ALTER TABLE ledger_entries DISABLE TRIGGER USER")
    op.execute(
        "UPDATE ledger_entries l SET season_id = s.id FROM seasons s "
        "WHERE s.community_id = l.community_id AND s.key = l.season"
    )
    # Season-only corrections have no place in the old shape.
    op.execute("DELETE FROM ledger_entries WHERE delta = 0")
    op.execute("ALTER TABLE ledger_entries ENABLE TRIGGER USER")
    op.drop_column("ledger_entries", "season_delta")
    op.drop_column("ledger_entries", "season")
    op.create_check_constraint(
        op.f("ck_ledger_entries_delta_not_zero"), "ledger_entries", "delta <> 0"
    )

    for currency in _RANKED:
        op.drop_index(f"ix_balances_{currency}_rank", table_name="balances")
    op.drop_constraint(op.f("pk_balances"), "balances", type_="primary")
    op.add_column(
        "balances",
        sa.Column("season_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        "UPDATE balances b SET season_id = s.id FROM seasons s "
        "WHERE s.community_id = b.community_id AND s.key = b.season"
    )
    op.execute("DELETE FROM balances WHERE season <> '' AND season_id = 0")
    op.drop_column("balances", "season")
    op.create_check_constraint(
        op.f("ck_balances_season_id_not_negative"), "balances", "season_id >= 0"
    )
    op.create_primary_key(
        op.f("pk_balances"), "balances", ["community_id", "season_id", "member_id"]
    )
    for currency in _RANKED:
        op.create_index(
            f"ix_balances_{currency}_rank",
            "balances",
            ["community_id", "season_id", sa.literal_column(f"{currency} DESC"), "member_id"],
        )

    op.drop_constraint(op.f("uq_seasons_community_id_key"), "seasons", type_="unique")
    op.drop_column("seasons", "key")
