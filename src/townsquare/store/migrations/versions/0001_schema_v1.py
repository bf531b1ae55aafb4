"""Schema v1: communities, members, channels, rules, event lake, ledger, balances,
counters, achievements, seasons, audit log, conversation sessions, webhook inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION townsquare_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('townsquare.allow_erase', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "communities",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("config_version", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9][a-z0-9-]*$'", name=op.f("ck_communities_slug_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communities")),
        sa.UniqueConstraint("slug", name=op.f("uq_communities_slug")),
    )
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
        "audit_log",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=128), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("source_ip", postgresql.INET(), nullable=True),
        sa.CheckConstraint(
            "actor_type IN ('user', 'api_token', 'bot', 'cli', 'system')",
            name=op.f("ck_audit_log_actor_type"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_audit_log_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_target",
        "audit_log",
        ["community_id", "target_type", "target_id"],
        unique=False,
    )
    op.create_index("ix_audit_log_when", "audit_log", ["community_id", "occurred_at"], unique=False)
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
        "channels",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("platform IN ('discord', 'line')", name=op.f("ck_channels_platform")),
        sa.CheckConstraint(
            "type IN ('text', 'voice', 'stage', 'forum', 'announcement', 'thread', 'category', 'line_user', 'line_group', 'line_room', 'other')",
            name=op.f("ck_channels_type"),
        ),
        sa.CheckConstraint(
            "parent_id IS NULL OR parent_id <> id", name=op.f("ck_channels_not_own_parent")
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "parent_id"],
            ["channels.community_id", "channels.id"],
            name=op.f("fk_channels_community_id_parent_id_channels"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_channels_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_channels")),
        sa.UniqueConstraint(
            "community_id",
            "platform",
            "external_id",
            name=op.f("uq_channels_community_id_platform_external_id"),
        ),
    )
    op.create_table(
        "community_links",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column(
            "linked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "platform IN ('discord', 'line')", name=op.f("ck_community_links_platform")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_links_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "platform", "external_id", name=op.f("pk_community_links")
        ),
        sa.UniqueConstraint(
            "platform", "external_id", name=op.f("uq_community_links_platform_external_id")
        ),
    )
    op.create_table(
        "community_settings",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_settings_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_community_settings")),
    )
    op.create_table(
        "conversation_sessions",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("user_key", sa.String(length=128), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "platform IN ('discord', 'line')", name=op.f("ck_conversation_sessions_platform")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_conversation_sessions_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_conversation_sessions")),
        sa.UniqueConstraint(
            "community_id",
            "platform",
            "user_key",
            name=op.f("uq_conversation_sessions_community_id_platform_user_key"),
        ),
    )
    op.create_index(
        "ix_conversation_sessions_expiry", "conversation_sessions", ["expires_at"], unique=False
    )
    op.create_table(
        "events",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("platform_event_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("target_member_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("outcome", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("platform IN ('discord', 'line')", name=op.f("ck_events_platform")),
        sa.CheckConstraint(
            "status IN ('pending', 'rewarded', 'zero', 'blocked', 'failed')",
            name=op.f("ck_events_status"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_events_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "occurred_at", "id", name=op.f("pk_events")),
        sa.UniqueConstraint(
            "community_id",
            "platform",
            "platform_event_id",
            "occurred_at",
            name=op.f("uq_events_community_id_platform_platform_event_id_occurred_at"),
        ),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.create_index(
        "ix_events_kind", "events", ["community_id", "kind", "occurred_at"], unique=False
    )
    op.create_index(
        "ix_events_member", "events", ["community_id", "member_id", "occurred_at"], unique=False
    )
    op.create_table(
        "members",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("is_bot", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_members_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_members")),
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
        "webhook_inbox",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("webhook_event_id", sa.String(length=128), nullable=False),
        sa.Column("ordering_key", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("is_redelivery", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "platform IN ('discord', 'line')", name=op.f("ck_webhook_inbox_platform")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'done', 'dead')",
            name=op.f("ck_webhook_inbox_status"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_webhook_inbox_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_webhook_inbox")),
        sa.UniqueConstraint(
            "community_id",
            "platform",
            "webhook_event_id",
            name=op.f("uq_webhook_inbox_community_id_platform_webhook_event_id"),
        ),
    )
    op.create_index(
        "ix_webhook_inbox_due",
        "webhook_inbox",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
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
        "balances",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("season_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("xp", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("stars", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("gold", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("level", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("level >= 0", name=op.f("ck_balances_level_not_negative")),
        sa.CheckConstraint("season_id >= 0", name=op.f("ck_balances_season_id_not_negative")),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"],
            ["members.community_id", "members.id"],
            name=op.f("fk_balances_community_id_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "season_id", "member_id", name=op.f("pk_balances")),
    )
    op.create_index(
        "ix_balances_gold_rank",
        "balances",
        ["community_id", "season_id", sa.literal_column("gold DESC"), "member_id"],
        unique=False,
    )
    op.create_index(
        "ix_balances_stars_rank",
        "balances",
        ["community_id", "season_id", sa.literal_column("stars DESC"), "member_id"],
        unique=False,
    )
    op.create_index(
        "ix_balances_xp_rank",
        "balances",
        ["community_id", "season_id", sa.literal_column("xp DESC"), "member_id"],
        unique=False,
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
    op.create_table(
        "counters",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("period_key", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "period IN ('lifetime', 'season', 'day')", name=op.f("ck_counters_period")
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"],
            ["members.community_id", "members.id"],
            name=op.f("fk_counters_community_id_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "member_id", "period", "period_key", "name", name=op.f("pk_counters")
        ),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("season_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "currency IN ('xp', 'stars', 'gold')", name=op.f("ck_ledger_entries_currency")
        ),
        sa.CheckConstraint("delta <> 0", name=op.f("ck_ledger_entries_delta_not_zero")),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"],
            ["members.community_id", "members.id"],
            name=op.f("fk_ledger_entries_community_id_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "ix_ledger_entries_member",
        "ledger_entries",
        ["community_id", "member_id", "id"],
        unique=False,
    )
    op.create_index(
        "uq_ledger_entries_idempotency_key",
        "ledger_entries",
        ["community_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_table(
        "member_identities",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("external_user_id", sa.String(length=128), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "linked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "platform IN ('discord', 'line')", name=op.f("ck_member_identities_platform")
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"],
            ["members.community_id", "members.id"],
            name=op.f("fk_member_identities_community_id_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "platform", "external_user_id", name=op.f("pk_member_identities")
        ),
        sa.UniqueConstraint(
            "community_id",
            "member_id",
            "platform",
            name=op.f("uq_member_identities_community_id_member_id_platform"),
        ),
    )
    op.create_table(
        "achievement_awards",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("season_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=16), server_default=sa.text("'rule'"), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "awarded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "source IN ('rule', 'manual', 'import')", name=op.f("ck_achievement_awards_source")
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"],
            ["members.community_id", "members.id"],
            name=op.f("fk_achievement_awards_community_id_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "template_id"],
            ["achievement_templates.community_id", "achievement_templates.id"],
            name=op.f("fk_achievement_awards_community_id_template_id_achievement_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_achievement_awards")),
        sa.UniqueConstraint(
            "community_id",
            "template_id",
            "member_id",
            name=op.f("uq_achievement_awards_community_id_template_id_member_id"),
        ),
    )
    op.create_index(
        "ix_achievement_awards_recent",
        "achievement_awards",
        ["community_id", "awarded_at"],
        unique=False,
    )

    # Append-only tables: the ledger is the truth and the audit log is evidence. Erasing a
    # whole community (GDPR) sets townsquare.allow_erase = 'on' for its transaction.
    op.execute(APPEND_ONLY_FUNCTION)
    for table in ("ledger_entries", "audit_log"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION townsquare_append_only()"
        )
    # Rows of any date land somewhere until the pipeline creates dated partitions.
    op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS events_default")
    op.drop_index("ix_achievement_awards_recent", table_name="achievement_awards")
    op.drop_table("achievement_awards")
    op.drop_table("member_identities")
    op.drop_index(
        "uq_ledger_entries_idempotency_key",
        table_name="ledger_entries",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.drop_index("ix_ledger_entries_member", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("counters")
    op.drop_table("channel_rules")
    op.drop_index("ix_balances_xp_rank", table_name="balances")
    op.drop_index("ix_balances_stars_rank", table_name="balances")
    op.drop_index("ix_balances_gold_rank", table_name="balances")
    op.drop_table("balances")
    op.drop_table("achievement_templates")
    op.drop_index(
        "ix_webhook_inbox_due",
        table_name="webhook_inbox",
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    )
    op.drop_table("webhook_inbox")
    op.drop_index(
        "uq_seasons_one_active", table_name="seasons", postgresql_where=sa.text("status = 'active'")
    )
    op.drop_table("seasons")
    op.drop_table("role_rules")
    op.drop_table("members")
    op.drop_index("ix_events_member", table_name="events")
    op.drop_index("ix_events_kind", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_conversation_sessions_expiry", table_name="conversation_sessions")
    op.drop_table("conversation_sessions")
    op.drop_table("community_settings")
    op.drop_table("community_links")
    op.drop_table("channels")
    op.drop_table("channel_type_rules")
    op.drop_index("ix_audit_log_when", table_name="audit_log")
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("achievement_series")
    op.drop_table("achievement_rarities")
    op.drop_table("achievement_categories")
    op.drop_table("communities")
    op.execute("DROP FUNCTION IF EXISTS townsquare_append_only()")
