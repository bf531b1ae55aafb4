"""Live configuration: one validated document per community, grants through the pipeline.

The rules tables of the first schema (channel, channel-type and role rules, achievement
catalog and templates, seasons) were never read by the rules: the engine compiles one
`CommunityConfig` document, so they were a second, silent place for the same settings (the
predecessor's settings UI edited keys nothing read). They are dropped; the document in
``community_settings`` becomes the one place, now with the achievement catalog and a
version per section (``section_versions``) for optimistic concurrency. Existing documents
are wrapped into the new format with a catalog holding every category, rarity and series
their achievements name. If any of the dropped tables holds rows, the upgrade stops and
says so rather than dropping data.

``manual_grants`` is the outbox of admin awards and revokes: written with the audit entry
in the admin's transaction, applied by the ingest writer as manual events (so the writer,
which owns member state, stays the only one that changes balances).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DROPPED = (
    "channel_rules",
    "achievement_templates",
    "seasons",
    "role_rules",
    "channel_type_rules",
    "achievement_series",
    "achievement_rarities",
    "achievement_categories",
)
_DEFAULT_RARITIES = (
    ("common", "Common", "#9e9e9e"),
    ("uncommon", "Uncommon", "#4caf50"),
    ("rare", "Rare", "#2196f3"),
    ("epic", "Epic", "#9c27b0"),
    ("legendary", "Legendary", "#ff9800"),
)


def upgrade() -> None:
    bind = op.get_bind()
    exists = "SELECT EXISTS (SELECT 1 FROM {})"  # table names come from _DROPPED
    filled = [table for table in _DROPPED if bind.execute(sa.text(exists.format(table))).scalar()]
    if filled:
        raise CommandError(  # `townsquare db upgrade` shows this message, no traceback
            "Migration 0004 moves community configuration into community_settings and drops "
            f"the old rules tables, but these hold rows: {', '.join(filled)}. Export them "
            "and empty the tables first; nothing has been changed."
        )
    op.drop_index(
        "uq_seasons_one_active", table_name="seasons", postgresql_where=sa.text("status = 'active'")
    )
    for table in _DROPPED:
        op.drop_table(table)

    rows = bind.execute(sa.text("SELECT community_id, settings FROM community_settings"))
    for community_id, settings in rows.fetchall():
        bind.execute(
            sa.text("UPDATE community_settings SET settings = :doc WHERE community_id = :id"),
            {"doc": json.dumps(_wrap(settings)), "id": community_id},
        )
    op.drop_column("community_settings", "version")
    op.add_column(
        "community_settings",
        sa.Column(
            "section_versions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.alter_column(
        "community_settings",
        "settings",
        server_default=sa.text("""'{"format": 1}'::jsonb"""),
    )

    op.create_table(
        "manual_grants",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("xp", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("stars", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("gold", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("achievement_key", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=128), nullable=False),
        sa.Column(
            "status", sa.String(length=8), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("action IN ('award', 'revoke')", name=op.f("ck_manual_grants_action")),
        sa.CheckConstraint(
            "status IN ('pending', 'applied', 'failed')", name=op.f("ck_manual_grants_status")
        ),
        sa.CheckConstraint(
            "xp >= 0 AND stars >= 0 AND gold >= 0",
            name=op.f("ck_manual_grants_amounts_not_negative"),
        ),
        sa.CheckConstraint(
            "xp + stars + gold > 0 OR achievement_key IS NOT NULL",
            name=op.f("ck_manual_grants_grants_something"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"],
            ["members.community_id", "members.id"],
            name=op.f("fk_manual_grants_community_id_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_manual_grants")),
        sa.UniqueConstraint(
            "community_id",
            "idempotency_key",
            name=op.f("uq_manual_grants_community_id_idempotency_key"),
        ),
    )
    op.create_index(
        "ix_manual_grants_pending",
        "manual_grants",
        ["community_id", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def _wrap(settings: dict[str, Any]) -> dict[str, Any]:
    """An old bare rules document as a format-1 document with the catalog it needs."""
    if settings.get("format") == 1:
        return settings
    achievements = settings.get("achievements") or []
    used = {a.get("category", "general") for a in achievements} - {"general"}
    categories = ["general", *sorted(used)]
    rarity_keys = {key for key, _name, _color in _DEFAULT_RARITIES}
    extra_rarities = sorted({a.get("rarity", "common") for a in achievements} - rarity_keys)
    series = sorted({a["series"] for a in achievements if a.get("series")})
    rarities = [
        {"key": key, "name": name, "color": color, "position": position}
        for position, (key, name, color) in enumerate(_DEFAULT_RARITIES)
    ] + [
        {"key": key, "name": key.capitalize(), "position": len(_DEFAULT_RARITIES) + i}
        for i, key in enumerate(extra_rarities)
    ]
    return {
        "format": 1,
        "rules": settings,
        "catalog": {
            "categories": [
                {"key": key, "name": key.replace("-", " ").capitalize(), "position": i}
                for i, key in enumerate(categories)
            ],
            "rarities": rarities,
            "series": [{"key": key, "name": key} for key in series],
        },
    }


def downgrade() -> None:
    op.drop_index(
        "ix_manual_grants_pending",
        table_name="manual_grants",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("manual_grants")
    op.execute(
        "UPDATE community_settings SET settings = coalesce(settings -> 'rules', '{}'::jsonb)"
    )
    op.alter_column("community_settings", "settings", server_default=sa.text("'{}'::jsonb"))
    op.drop_column("community_settings", "section_versions")
    op.add_column(
        "community_settings",
        sa.Column("version", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
    )
    _create_old_rules_tables()


def _create_old_rules_tables() -> None:
    """The tables as 0001 and 0002 left them (empty: their data lived nowhere else)."""
    op.create_table(
        "achievement_categories",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("position", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_achievement_categories_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_achievement_categories")),
        sa.UniqueConstraint(
            "community_id", "name", name=op.f("uq_achievement_categories_community_id_name")
        ),
    )
    op.create_table(
        "achievement_rarities",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "color", sa.String(length=7), server_default=sa.text("'#808080'"), nullable=False
        ),
        sa.Column("position", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "color ~ '^#[0-9a-fA-F]{6}$'", name=op.f("ck_achievement_rarities_color_hex")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_achievement_rarities_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_achievement_rarities")),
        sa.UniqueConstraint(
            "community_id", "name", name=op.f("uq_achievement_rarities_community_id_name")
        ),
    )
    op.create_table(
        "achievement_series",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_achievement_series_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_achievement_series")),
        sa.UniqueConstraint(
            "community_id", "name", name=op.f("uq_achievement_series_community_id_name")
        ),
    )
    op.create_table(
        "channel_type_rules",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("channel_type", sa.String(length=32), nullable=False),
        sa.Column(
            "event_kind", sa.String(length=32), server_default=sa.text("'*'"), nullable=False
        ),
        sa.Column(
            "multiplier",
            sa.Numeric(precision=10, scale=4),
            server_default=sa.text("1"),
            nullable=False,
        ),
        sa.Column("rewards_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "channel_type IN ('text', 'voice', 'stage', 'forum', 'announcement', 'thread', 'category', 'line_user', 'line_group', 'line_room', 'other')",
            name=op.f("ck_channel_type_rules_channel_type"),
        ),
        sa.CheckConstraint(
            "multiplier >= 0", name=op.f("ck_channel_type_rules_multiplier_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_channel_type_rules_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_channel_type_rules")),
        sa.UniqueConstraint(
            "community_id",
            "channel_type",
            "event_kind",
            name=op.f("uq_channel_type_rules_community_id_channel_type_event_kind"),
        ),
    )
    op.create_table(
        "role_rules",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("role_external_id", sa.String(length=128), nullable=False),
        sa.Column(
            "multiplier",
            sa.Numeric(precision=10, scale=4),
            server_default=sa.text("1"),
            nullable=False,
        ),
        sa.Column("rewards_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint("platform IN ('discord', 'line')", name=op.f("ck_role_rules_platform")),
        sa.CheckConstraint("multiplier >= 0", name=op.f("ck_role_rules_multiplier_not_negative")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_role_rules_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_role_rules")),
        sa.UniqueConstraint(
            "community_id",
            "platform",
            "role_external_id",
            name=op.f("uq_role_rules_community_id_platform_role_external_id"),
        ),
    )
    op.create_table(
        "seasons",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'scheduled'"), nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('scheduled', 'active', 'ended')", name=op.f("ck_seasons_status")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_seasons_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_seasons_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_seasons")),
    )
    op.create_index(
        "uq_seasons_one_active",
        "seasons",
        ["community_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "achievement_templates",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("category_id", sa.BigInteger(), nullable=True),
        sa.Column("rarity_id", sa.BigInteger(), nullable=True),
        sa.Column("series_id", sa.BigInteger(), nullable=True),
        sa.Column("tier", sa.BigInteger(), nullable=True),
        sa.Column("trigger", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "rewards",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("hidden", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("max_earners", sa.BigInteger(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(series_id IS NULL) = (tier IS NULL)",
            name=op.f("ck_achievement_templates_series_has_tier"),
        ),
        sa.CheckConstraint(
            "max_earners IS NULL OR max_earners >= 1",
            name=op.f("ck_achievement_templates_max_earners_positive"),
        ),
        sa.CheckConstraint(
            "tier IS NULL OR tier >= 1", name=op.f("ck_achievement_templates_tier_positive")
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "category_id"],
            ["achievement_categories.community_id", "achievement_categories.id"],
            name=op.f("fk_achievement_templates_community_id_category_id_achievement_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "rarity_id"],
            ["achievement_rarities.community_id", "achievement_rarities.id"],
            name=op.f("fk_achievement_templates_community_id_rarity_id_achievement_rarities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "series_id"],
            ["achievement_series.community_id", "achievement_series.id"],
            name=op.f("fk_achievement_templates_community_id_series_id_achievement_series"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_achievement_templates_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_achievement_templates")),
        sa.UniqueConstraint(
            "community_id", "key", name=op.f("uq_achievement_templates_community_id_key")
        ),
        sa.UniqueConstraint(
            "community_id",
            "series_id",
            "tier",
            name=op.f("uq_achievement_templates_community_id_series_id_tier"),
        ),
    )
    op.create_table(
        "channel_rules",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "event_kind", sa.String(length=32), server_default=sa.text("'*'"), nullable=False
        ),
        sa.Column(
            "multiplier",
            sa.Numeric(precision=10, scale=4),
            server_default=sa.text("1"),
            nullable=False,
        ),
        sa.Column("rewards_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "multiplier >= 0", name=op.f("ck_channel_rules_multiplier_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "channel_id"],
            ["channels.community_id", "channels.id"],
            name=op.f("fk_channel_rules_community_id_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_channel_rules_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_channel_rules")),
        sa.UniqueConstraint(
            "community_id",
            "channel_id",
            "event_kind",
            name=op.f("uq_channel_rules_community_id_channel_id_event_kind"),
        ),
    )

    op.add_column("seasons", sa.Column("key", sa.String(length=64), nullable=False))
    op.create_unique_constraint(
        op.f("uq_seasons_community_id_key"), "seasons", ["community_id", "key"]
    )
