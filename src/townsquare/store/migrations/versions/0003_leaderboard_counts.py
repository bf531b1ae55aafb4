"""Leaderboard counts: a per-board histogram of balances, kept by triggers.

``balance_counts`` holds, per board (community, season, currency) and value above zero,
how many ``balances`` rows have that value (``members``) and how many of those belong to
members hidden from leaderboards, bots and members who left (``hidden``). A rank is then
``1 + the sum of (members - hidden) above the value``: an index range over a few thousand
distinct values instead of half a million balances and a scan for hidden members.

Statement-level AFTER triggers with transition tables keep the histogram in the
transaction that changes the balances: each statement's old and new rows are netted per
member and value, each changed member is looked up once for whether they are hidden, and
the deltas are applied per (board, value) with one upsert, whatever the number of rows
(the ingest writer upserts a whole batch with one INSERT ... ON CONFLICT DO UPDATE, which
fires the INSERT trigger for the rows it inserted and the UPDATE trigger for the rows it
updated). A TRUNCATE of ``balances`` empties the histogram. Row triggers on ``members``
move a member's balances in or out of ``hidden`` when they become (or stop being) a bot
or gone, and before a hidden member is deleted.

Existing balances are counted here (backfill).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Whether a member is hidden from leaderboards (a bot or gone), as an SQL expression.
_HIDDEN = "(m.is_bot OR m.left_at IS NOT NULL)"

# (board, member, value, +1/-1) for each positive currency value of a transition table.
_VALUES = """
    SELECT r.community_id, r.season, r.member_id, v.currency, v.value, {sign} AS delta
    FROM {rows} r
    CROSS JOIN LATERAL (VALUES ('xp', r.xp), ('stars', r.stars), ('gold', r.gold))
        AS v (currency, value)
    WHERE v.value > 0
"""


def _apply(sources: str) -> str:
    """Statements adding the deltas of ``sources`` (rows of ``_VALUES``) to the histogram.

    Each member of the rows is looked up once (a primary-key probe: a member that no
    longer exists, being deleted by a cascade, counts as not hidden; see the member
    trigger); the deltas are summed per (board, value), so changes that cancel out (an
    update that left a currency alone) vanish, and applied with one upsert in key order
    (concurrent writers of one board lock its rows in the same order). The keys whose
    count reached zero are collected and deleted by a second statement.
    """
    return f"""
        WITH d AS ({sources}), who AS MATERIALIZED (
            SELECT w.community_id, w.member_id, coalesce((
                SELECT {_HIDDEN} FROM members m
                WHERE m.community_id = w.community_id AND m.id = w.member_id
            ), false) AS hidden
            FROM (SELECT DISTINCT community_id, member_id FROM d) w
        ), changes AS (
            SELECT d.community_id, d.season, d.currency, d.value, sum(d.delta) AS delta,
                   coalesce(sum(d.delta) FILTER (WHERE w.hidden), 0) AS hidden
            FROM d
            JOIN who w ON w.community_id = d.community_id AND w.member_id = d.member_id
            GROUP BY d.community_id, d.season, d.currency, d.value
            HAVING sum(d.delta) <> 0 OR sum(d.delta) FILTER (WHERE w.hidden) <> 0
            ORDER BY d.community_id, d.season, d.currency, d.value
        ), applied AS (
            INSERT INTO balance_counts AS bc
                (community_id, season, currency, value, members, hidden)
            SELECT community_id, season, currency, value, delta, hidden FROM changes
            ON CONFLICT (community_id, season, currency, value) DO UPDATE
            SET members = bc.members + excluded.members, hidden = bc.hidden + excluded.hidden
            RETURNING bc.community_id, bc.season, bc.currency, bc.value, bc.members
        )
        SELECT array_agg(community_id), array_agg(season), array_agg(currency),
               array_agg(value)
        INTO gone_community, gone_season, gone_currency, gone_value
        FROM applied WHERE members = 0;
        IF gone_community IS NOT NULL THEN
            DELETE FROM balance_counts bc
            USING unnest(gone_community, gone_season, gone_currency, gone_value)
                AS g (community_id, season, currency, value)
            WHERE bc.community_id = g.community_id AND bc.season = g.season
              AND bc.currency = g.currency AND bc.value = g.value AND bc.members = 0;
        END IF;
    """  # noqa: S608 - constant text, no input


_INSERTED = _VALUES.format(sign="1", rows="new_balances")
_DELETED = _VALUES.format(sign="-1", rows="old_balances")

BALANCES_FUNCTION = f"""
CREATE FUNCTION townsquare_balance_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone_community bigint[];
    gone_season text[];
    gone_currency text[];
    gone_value bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_apply(_INSERTED)}
    ELSIF TG_OP = 'UPDATE' THEN
        {_apply(_INSERTED + " UNION ALL " + _DELETED)}
    ELSIF TG_OP = 'DELETE' THEN
        {_apply(_DELETED)}
    ELSIF TG_OP = 'TRUNCATE' THEN
        TRUNCATE balance_counts;
    END IF;
    RETURN NULL;
END
$$
"""

# A member becomes hidden or visible (AFTER UPDATE), or a hidden member is about to be
# deleted (BEFORE DELETE: the cascade to ``balances`` then finds no member and counts the
# rows as visible ones): move their balances between the ``hidden`` counts. Their rows are
# found one season at a time (``balances`` is keyed by season before member; the seasons
# of the community are walked with a loose index scan, a probe each).
MEMBERS_FUNCTION = """
CREATE FUNCTION townsquare_balance_counts_visibility() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    who members%ROWTYPE;
    sign int;
BEGIN
    IF TG_OP = 'DELETE' THEN
        who := OLD;
        sign := -1;
    ELSE
        who := NEW;
        sign := CASE WHEN NEW.is_bot OR NEW.left_at IS NOT NULL THEN 1 ELSE -1 END;
    END IF;
    WITH RECURSIVE seasons (season) AS (
        SELECT min(b.season) FROM balances b WHERE b.community_id = who.community_id
        UNION ALL
        SELECT (SELECT min(b.season) FROM balances b
                WHERE b.community_id = who.community_id AND b.season > s.season)
        FROM seasons s WHERE s.season IS NOT NULL
    ), changes AS (
        SELECT b.season, v.currency, v.value
        FROM seasons s
        JOIN balances b ON b.community_id = who.community_id AND b.season = s.season
            AND b.member_id = who.id
        CROSS JOIN LATERAL (VALUES ('xp', b.xp), ('stars', b.stars), ('gold', b.gold))
            AS v (currency, value)
        WHERE v.value > 0
    )
    UPDATE balance_counts bc SET hidden = bc.hidden + sign
    FROM changes c
    WHERE bc.community_id = who.community_id AND bc.season = c.season
      AND bc.currency = c.currency AND bc.value = c.value;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NULL;
END
$$
"""

_VISIBILITY_CHANGED = (
    "(OLD.is_bot OR OLD.left_at IS NOT NULL) IS DISTINCT FROM "
    "(NEW.is_bot OR NEW.left_at IS NOT NULL)"
)
_BALANCES_TRIGGERS = {
    "balances_counts_insert": "AFTER INSERT ON balances REFERENCING NEW TABLE AS new_balances",
    "balances_counts_update": (
        "AFTER UPDATE ON balances REFERENCING OLD TABLE AS old_balances NEW TABLE AS new_balances"
    ),
    "balances_counts_delete": "AFTER DELETE ON balances REFERENCING OLD TABLE AS old_balances",
    "balances_counts_truncate": "AFTER TRUNCATE ON balances",
}
_MEMBERS_TRIGGERS = {
    "members_balance_counts_visibility": (
        f"AFTER UPDATE OF is_bot, left_at ON members FOR EACH ROW WHEN ({_VISIBILITY_CHANGED})"
    ),
    "members_balance_counts_delete": (
        "BEFORE DELETE ON members FOR EACH ROW WHEN (OLD.is_bot OR OLD.left_at IS NOT NULL)"
    ),
}

BACKFILL = f"""
INSERT INTO balance_counts (community_id, season, currency, value, members, hidden)
SELECT b.community_id, b.season, v.currency, v.value,
    count(*), count(*) FILTER (WHERE {_HIDDEN})
FROM balances b
JOIN members m ON m.community_id = b.community_id AND m.id = b.member_id
CROSS JOIN LATERAL (VALUES ('xp', b.xp), ('stars', b.stars), ('gold', b.gold))
    AS v (currency, value)
WHERE v.value > 0
GROUP BY b.community_id, b.season, v.currency, v.value
"""  # noqa: S608 - constant text, no input


def upgrade() -> None:
    op.create_table(
        "balance_counts",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("season", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.Column("hidden", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "currency IN ('xp', 'stars', 'gold')", name=op.f("ck_balance_counts_currency")
        ),
        sa.CheckConstraint("value > 0", name=op.f("ck_balance_counts_value_positive")),
        sa.PrimaryKeyConstraint(
            "community_id", "season", "currency", "value", name=op.f("pk_balance_counts")
        ),
        postgresql_with={"fillfactor": 50},
    )
    op.execute(BALANCES_FUNCTION)
    op.execute(MEMBERS_FUNCTION)
    # Lock out writers between the backfill and the triggers, so no change is missed.
    op.execute("LOCK TABLE balances, members IN SHARE ROW EXCLUSIVE MODE")
    op.execute(BACKFILL)
    for name, timing in _BALANCES_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} {timing} "
            "FOR EACH STATEMENT EXECUTE FUNCTION townsquare_balance_counts()"
        )
    for name, timing in _MEMBERS_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} {timing} "
            "EXECUTE FUNCTION townsquare_balance_counts_visibility()"
        )


def downgrade() -> None:
    for name in _MEMBERS_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON members")
    for name in _BALANCES_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON balances")
    op.execute("DROP FUNCTION IF EXISTS townsquare_balance_counts_visibility()")
    op.execute("DROP FUNCTION IF EXISTS townsquare_balance_counts()")
    op.drop_table("balance_counts")
