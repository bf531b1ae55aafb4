"""A cheaper write path for the ingest pipeline: fewer ledger rows, one index less.

Ledger: one row per (member, event, reason) with xp, stars and gold, not one per currency.
An event that rewards XP and Gold wrote two ledger rows that repeated everything but the
currency and the amount; the writer now writes one, with the three lifetime deltas and
the three season deltas (``season_xp``…, counted towards ``season``). The ledger stays
append-only and stays the truth: a balance is still the sum of its column.

Existing rows are merged: the rows of one event, member, reason and season become one
(the lowest id is kept); rows without an event (manual grants through the API) are kept
one for one. The table is rebuilt under an ACCESS EXCLUSIVE lock, so writers wait.
Downgrade splits every row back into one row per currency that is not zero.

Events: ``ix_events_kind`` (community, kind, time) goes. Nothing reads the lake by kind,
and every index on the lake is one more insert per event; a per-kind report can scan a
community's days (the lake is partitioned by day) or bring it back.

Leaderboard histogram: the ``balances`` UPDATE trigger (migration 0003) counted every
positive value of every old and new row (six tuples per row) and let the sums cancel. It
now pairs each new row with its old row and counts only the currencies whose value
changed: the ingest writer's upsert changes one or two of three in most rows, and the
trigger's cost was a third of the upsert's. Rows without a partner (an UPDATE that changes
a key) count in full, as before.

Member states: ``member_states.state`` becomes ``json`` instead of ``jsonb``. The writer
writes the document of every member a batch touches and reads it back whole; only
reconciliation looks inside. Input to ``json`` checks the syntax and keeps the text; input
to ``jsonb`` builds a tree, which cost the writer's transaction several microseconds a
document.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CURRENCIES = ("xp", "stars", "gold")

# The balance rows whose values changed, paired by key: (board, member, value, +1/-1) for
# the new and the old value of each changed currency (as 0003's ``_VALUES``).
_CHANGED_VALUES = """
    SELECT coalesce(n.community_id, o.community_id) AS community_id,
           coalesce(n.season, o.season) AS season,
           coalesce(n.member_id, o.member_id) AS member_id,
           c.currency, v.value, v.delta
    FROM new_balances n
    FULL JOIN old_balances o ON o.community_id = n.community_id AND o.season = n.season
        AND o.member_id = n.member_id
    CROSS JOIN LATERAL (VALUES ('xp', n.xp, o.xp), ('stars', n.stars, o.stars),
        ('gold', n.gold, o.gold)) AS c (currency, new, old)
    CROSS JOIN LATERAL (VALUES (c.new, 1), (c.old, -1)) AS v (value, delta)
    WHERE c.new IS DISTINCT FROM c.old AND v.value > 0
"""


def _leaderboard_counts() -> ModuleType:
    """Migration 0003, whose trigger function this one rewrites one branch of."""
    path = Path(__file__).with_name("0003_leaderboard_counts.py")
    spec = importlib.util.spec_from_file_location("townsquare_migration_0003", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _balance_counts_function(*, changed_only: bool) -> str:
    m = _leaderboard_counts()
    function: str = m.BALANCES_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    if changed_only:
        every_value = m._apply(m._INSERTED + " UNION ALL " + m._DELETED)
        assert every_value in function
        function = function.replace(every_value, m._apply(_CHANGED_VALUES))
    return function


def _recreate_indexes_and_trigger() -> None:
    op.create_index(
        "ix_ledger_entries_member", "ledger_entries", ["community_id", "member_id", "id"]
    )
    op.create_index(
        "uq_ledger_entries_idempotency_key",
        "ledger_entries",
        ["community_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.execute(
        "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries "
        "FOR EACH ROW EXECUTE FUNCTION townsquare_append_only()"
    )


def _rename_old() -> None:
    op.execute("LOCK TABLE ledger_entries IN ACCESS EXCLUSIVE MODE")
    op.execute("DROP TRIGGER ledger_entries_append_only ON ledger_entries")
    op.drop_index("ix_ledger_entries_member", table_name="ledger_entries")
    op.drop_index("uq_ledger_entries_idempotency_key", table_name="ledger_entries")
    op.rename_table("ledger_entries", "ledger_entries_old")
    for name in ("pk_ledger_entries", "fk_ledger_entries_community_id_member_id_members"):
        op.execute(f"ALTER TABLE ledger_entries_old RENAME CONSTRAINT {name} TO {name}_old")


def _common_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
    ]


def _tail_columns() -> list[sa.Column[object]]:
    return [
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
    ]


def _keys() -> list[sa.Constraint]:
    return [
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"],
            ["members.community_id", "members.id"],
            name=op.f("fk_ledger_entries_community_id_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_ledger_entries")),
    ]


def _carry_identity_on() -> None:
    """New ids continue after the highest id the old table gave out."""
    op.execute(
        "SELECT setval(pg_get_serial_sequence('ledger_entries', 'id'), "
        "coalesce((SELECT max(id) FROM ledger_entries_old), 0) + 1, false)"
    )


def _finish() -> None:
    op.execute("DROP TABLE ledger_entries_old")
    _recreate_indexes_and_trigger()


def _sum(column: str, currency: str) -> str:
    return f"coalesce(sum({column}) FILTER (WHERE currency = '{currency}'), 0)"


def upgrade() -> None:
    _rename_old()
    amounts = [
        sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        for name in (*_CURRENCIES, *(f"season_{c}" for c in _CURRENCIES))
    ]
    op.create_table(
        "ledger_entries",
        *_common_columns(),
        *amounts[:3],
        sa.Column("season", sa.String(length=64), nullable=True),
        *amounts[3:],
        *_tail_columns(),
        sa.CheckConstraint(
            "xp <> 0 OR stars <> 0 OR gold <> 0 OR season_xp <> 0 OR season_stars <> 0 "
            "OR season_gold <> 0",
            name=op.f("ck_ledger_entries_not_zero"),
        ),
        *_keys(),
    )
    _carry_identity_on()
    lifetime = [_sum("delta", c) for c in _CURRENCIES]
    season = [_sum("season_delta", c) for c in _CURRENCIES]
    op.execute(
        "INSERT INTO ledger_entries (community_id, id, member_id, xp, stars, gold, season, "  # noqa: S608 - constant text
        "season_xp, season_stars, season_gold, reason, event_id, idempotency_key, actor, "
        "occurred_at, created_at) "
        f"SELECT community_id, min(id), member_id, {', '.join(lifetime)}, season, "
        f"{', '.join(season)}, reason, event_id, idempotency_key, max(actor), "
        "min(occurred_at), min(created_at) FROM ledger_entries_old "
        # Rows without an event (manual grants through the API) stay one for one.
        "GROUP BY community_id, member_id, event_id, reason, season, idempotency_key, "
        "CASE WHEN event_id IS NULL THEN id END "
        f"HAVING ({' OR '.join(f'{total} <> 0' for total in lifetime + season)})"
    )
    _finish()
    op.drop_index("ix_events_kind", table_name="events")
    op.execute(_balance_counts_function(changed_only=True))
    op.execute("ALTER TABLE member_states ALTER COLUMN state TYPE json USING state::json")


def downgrade() -> None:
    op.execute(_balance_counts_function(changed_only=False))
    op.execute("ALTER TABLE member_states ALTER COLUMN state TYPE jsonb USING state::jsonb")
    op.create_index("ix_events_kind", "events", ["community_id", "kind", "occurred_at"])
    _rename_old()
    op.create_table(
        "ledger_entries",
        *_common_columns(),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        *_tail_columns(),
        sa.Column("season", sa.String(length=64), nullable=True),
        sa.Column("season_delta", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "currency IN ('xp', 'stars', 'gold')", name=op.f("ck_ledger_entries_currency")
        ),
        sa.CheckConstraint(
            "delta <> 0 OR season_delta <> 0", name=op.f("ck_ledger_entries_delta_not_zero")
        ),
        *_keys(),
    )
    _carry_identity_on()
    # One row per currency that moved; the first keeps the row's id and its idempotency
    # key (the key is unique), the others get new ids.
    op.execute(
        "INSERT INTO ledger_entries (community_id, id, member_id, currency, delta, season, "
        "season_delta, reason, event_id, idempotency_key, actor, occurred_at, created_at) "
        "SELECT community_id, CASE WHEN keeps_id THEN id ELSE nextval(pg_get_serial_sequence("
        "'ledger_entries', 'id')) END, member_id, currency, delta, season, season_delta, "
        "reason, event_id, CASE WHEN keeps_id THEN idempotency_key END, actor, occurred_at, "
        "created_at FROM ("
        "SELECT l.*, c.currency, c.delta, c.season_delta, "
        "row_number() OVER (PARTITION BY l.community_id, l.id ORDER BY c.position) = 1 AS keeps_id "
        "FROM ledger_entries_old l CROSS JOIN LATERAL (VALUES "
        "(1, 'xp', l.xp, l.season_xp), (2, 'stars', l.stars, l.season_stars), "
        "(3, 'gold', l.gold, l.season_gold)) AS c (position, currency, delta, season_delta) "
        "WHERE c.delta <> 0 OR c.season_delta <> 0) s"
    )
    _finish()
