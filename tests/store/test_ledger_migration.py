"""Migration 0005: per-currency ledger rows become one row per event, member and reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from townsquare.config.settings import DatabaseSettings
from townsquare.store import migrate
from townsquare.store.engine import create_sync_engine

# (member, currency, delta, season, season_delta, reason, event_id, idempotency_key)
OLD_ROWS = [
    (1, "xp", 10, "s1", 10, "activity", 100, None),
    (1, "gold", 2, "s1", 2, "activity", 100, None),
    (2, "stars", 1, "s1", 1, "reaction_received", 100, None),
    # A reversal of an old reaction: lifetime only, no season.
    (2, "stars", -1, None, 0, "reaction_reversed", 101, None),
    (1, "xp", 5, "s1", 5, "level_up_bonus", 100, None),
    # Manual grants without an event stay one row each.
    (1, "gold", 7, None, 0, "manual_award", None, "grant-1"),
    (1, "gold", 3, None, 0, "manual_award", None, None),
]


@pytest.fixture
def engine(fresh_database: str) -> Iterator[Engine]:
    engine = create_sync_engine(fresh_database, DatabaseSettings())
    yield engine
    engine.dispose()


def _seed_old_ledger(engine: Engine) -> None:
    migrate.upgrade(engine, "0003")
    with engine.begin() as conn:
        community = conn.execute(
            text("INSERT INTO communities (slug, name) VALUES ('p', 'P') RETURNING id")
        ).scalar_one()
        for member in (1, 2):
            conn.execute(
                text("INSERT INTO members (community_id, id, display_name) VALUES (:c, :m, 'x')"),
                {"c": community, "m": member},
            )
        for member, currency, delta, season, season_delta, reason, event, key in OLD_ROWS:
            conn.execute(
                text(
                    "INSERT INTO ledger_entries (community_id, member_id, currency, delta, "
                    "season, season_delta, reason, event_id, idempotency_key, occurred_at) "
                    "VALUES (:c, :m, :cur, :d, :s, :sd, :r, :e, :k, now())"
                ),
                {
                    "c": community,
                    "m": member,
                    "cur": currency,
                    "d": delta,
                    "s": season,
                    "sd": season_delta,
                    "r": reason,
                    "e": event,
                    "k": key,
                },
            )


def test_upgrade_merges_the_currencies_of_one_event_member_and_reason(engine: Engine) -> None:
    _seed_old_ledger(engine)
    migrate.upgrade(engine, "0005")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT member_id, xp, stars, gold, season, season_xp, season_stars, "
                "season_gold, reason, event_id, idempotency_key FROM ledger_entries ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, 10, 0, 2, "s1", 10, 0, 2, "activity", 100, None),
        (2, 0, 1, 0, "s1", 0, 1, 0, "reaction_received", 100, None),
        (2, 0, -1, 0, None, 0, 0, 0, "reaction_reversed", 101, None),
        (1, 5, 0, 0, "s1", 5, 0, 0, "level_up_bonus", 100, None),
        (1, 0, 0, 7, None, 0, 0, 0, "manual_award", None, "grant-1"),
        (1, 0, 0, 3, None, 0, 0, 0, "manual_award", None, None),
    ]


def test_the_ledger_stays_append_only_and_ids_continue_after_the_upgrade(engine: Engine) -> None:
    _seed_old_ledger(engine)
    migrate.upgrade(engine, "0005")
    with engine.begin() as conn:
        new_id = conn.execute(
            text(
                "INSERT INTO ledger_entries (community_id, member_id, xp, reason, occurred_at) "
                "SELECT c.id, 1, 4, 'activity', now() FROM communities c RETURNING id"
            )
        ).scalar_one()
    assert new_id > len(OLD_ROWS)
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE ledger_entries SET xp = 1000"))


def test_downgrade_splits_rows_back_into_one_per_currency(engine: Engine) -> None:
    _seed_old_ledger(engine)
    migrate.upgrade(engine, "0005")
    migrate.downgrade(engine, "0003")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT member_id, currency, delta, season, season_delta, reason, event_id, "
                "idempotency_key FROM ledger_entries"
            )
        ).all()
    assert sorted(tuple(r) for r in rows) == sorted(
        (m, c, d, s, sd, r, e, k) for m, c, d, s, sd, r, e, k in OLD_ROWS
    )
