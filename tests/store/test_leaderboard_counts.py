"""``balance_counts``, the leaderboards' histogram, always equals a count over ``balances``
(and, for ``hidden``, over the balances of bots and members who left).

It is kept by triggers (migration 0003; 0005 counts only the changed values of an
UPDATE); these tests drive ``balances`` with every kind of
statement the application uses (the writer's multi-row INSERT ... SELECT ... ON CONFLICT
DO UPDATE above all), hide, show and delete members, and compare.
"""

from __future__ import annotations

import itertools

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.config.settings import DatabaseSettings
from townsquare.store import migrate
from townsquare.store.engine import create_sync_engine

_slugs = itertools.count(1)
_MEMBERS = 5
_SEASONS = ("", "s1")

# (community, season, currency, value): (members, hidden)
Histogram = dict[tuple[int, str, str, int], tuple[int, int]]

_HISTOGRAM = """
    SELECT community_id, season, currency, value, members, hidden FROM balance_counts
    WHERE community_id = ANY(:communities)
"""
_COUNTED = """
    SELECT b.community_id, b.season, v.currency, v.value, count(*),
           count(*) FILTER (WHERE m.is_bot OR m.left_at IS NOT NULL)
    FROM balances b
    JOIN members m ON m.community_id = b.community_id AND m.id = b.member_id
    CROSS JOIN LATERAL (VALUES ('xp', b.xp), ('stars', b.stars), ('gold', b.gold))
        AS v (currency, value)
    WHERE v.value > 0 AND b.community_id = ANY(:communities)
    GROUP BY 1, 2, 3, 4
"""


async def _communities(session: AsyncSession, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        community_id = (
            await session.execute(
                text("INSERT INTO communities (slug, name) VALUES (:s, 'c') RETURNING id"),
                {"s": f"counts-{next(_slugs)}-{id(session)}"},
            )
        ).scalar_one()
        await session.execute(
            text(
                "INSERT INTO members (community_id, id, display_name) "
                "SELECT :c, i, 'm' || i FROM generate_series(1, :n) i"
            ),
            {"c": community_id, "n": _MEMBERS},
        )
        ids.append(int(community_id))
    return ids


async def _read(session: AsyncSession, sql: str, communities: list[int]) -> Histogram:
    rows = await session.execute(text(sql), {"communities": communities})
    return {(int(c), str(s), str(cur), int(v)): (int(n), int(h)) for c, s, cur, v, n, h in rows}


async def assert_histogram_matches(session: AsyncSession, communities: list[int]) -> None:
    histogram = await _read(session, _HISTOGRAM, communities)
    assert histogram == await _read(session, _COUNTED, communities)
    assert all(members > 0 for members, _ in histogram.values())


values = st.integers(min_value=-1, max_value=3)
keys = st.tuples(
    st.integers(min_value=0, max_value=1),  # community index
    st.sampled_from(_SEASONS),
    st.integers(min_value=1, max_value=_MEMBERS),
)
upsert = st.tuples(
    st.just("upsert"),
    st.dictionaries(keys, st.tuples(values, values, values), min_size=1, max_size=8),
)
update = st.tuples(
    st.just("update"),
    st.sampled_from(["xp", "stars", "gold", "level"]),
    st.integers(min_value=-2, max_value=2),
    st.integers(min_value=1, max_value=_MEMBERS),  # members up to this id
)
delete = st.tuples(
    st.just("delete"), st.sampled_from(_SEASONS), st.integers(min_value=1, max_value=_MEMBERS)
)
visibility = st.tuples(
    st.just("visibility"),
    st.integers(min_value=1, max_value=_MEMBERS),
    st.booleans(),  # bot
    st.booleans(),  # left
    st.booleans(),  # deleted (with their balances) and added again first
)
operations = st.lists(st.one_of(upsert, upsert, update, delete, visibility), min_size=1, max_size=8)


async def _run(session: AsyncSession, communities: list[int], operation: tuple) -> None:  # type: ignore[type-arg]
    kind = operation[0]
    if kind == "upsert":
        # The writer's statement: many rows, some new and some not, in one upsert.
        rows = [
            {"c": communities[c], "s": s, "m": m, "xp": xp, "st": stars, "g": gold}
            for (c, s, m), (xp, stars, gold) in operation[1].items()
        ]
        placeholders = ", ".join(
            f"(:c{i}, :s{i}, :m{i}, :xp{i}, :st{i}, :g{i})" for i in range(len(rows))
        )
        params = {f"{key}{i}": value for i, row in enumerate(rows) for key, value in row.items()}
        await session.execute(
            text(
                "INSERT INTO balances (community_id, season, member_id, xp, stars, gold, level) "
                "SELECT c::bigint, s, m::bigint, xp::bigint, st::bigint, g::bigint, 0 "
                f"FROM (VALUES {placeholders}) AS staged (c, s, m, xp, st, g) "
                "ON CONFLICT (community_id, season, member_id) DO UPDATE SET xp = excluded.xp, "
                "stars = excluded.stars, gold = excluded.gold, level = excluded.level, "
                "updated_at = now()"
            ),
            params,
        )
    elif kind == "update":
        _, column, delta, upto = operation
        await session.execute(
            text(
                f"UPDATE balances SET {column} = greatest(0, {column} + :d) "
                "WHERE community_id = ANY(:cs) AND member_id <= :upto"
            ),
            {"d": delta, "cs": communities, "upto": upto},
        )
    elif kind == "visibility":
        _, member_id, bot, left, deleted = operation
        if deleted:
            await session.execute(
                text("DELETE FROM members WHERE community_id = ANY(:cs) AND id = :m"),
                {"cs": communities, "m": member_id},
            )
            await session.execute(
                text(
                    "INSERT INTO members (community_id, id, display_name) "
                    "SELECT c, :m, 'again' FROM unnest(CAST(:cs AS bigint[])) c"
                ),
                {"cs": communities, "m": member_id},
            )
        await session.execute(
            text(
                "UPDATE members SET is_bot = :bot, left_at = CASE WHEN :left THEN now() END "
                "WHERE community_id = ANY(:cs) AND id = :m"
            ),
            {"cs": communities, "m": member_id, "bot": bot, "left": left},
        )
    else:
        _, season, member_id = operation
        await session.execute(
            text(
                "DELETE FROM balances WHERE community_id = ANY(:cs) AND season = :s "
                "AND member_id >= :m"
            ),
            {"cs": communities, "s": season, "m": member_id},
        )


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=operations)
async def test_the_histogram_equals_a_count_of_balances_after_any_statements(
    session: AsyncSession,
    steps: list[tuple],  # type: ignore[type-arg]
) -> None:
    example = await session.begin_nested()
    try:
        communities = await _communities(session, 2)
        for step in steps:
            await _run(session, communities, step)
            await assert_histogram_matches(session, communities)
    finally:
        await example.rollback()


async def test_an_upsert_fires_insert_for_new_rows_and_update_for_existing_ones(
    session: AsyncSession,
) -> None:
    (community_id,) = await _communities(session, 1)
    await session.execute(
        text("INSERT INTO balances (community_id, member_id, xp) VALUES (:c, 1, 5), (:c, 2, 5)"),
        {"c": community_id},
    )
    # Member 1 moves from 5 to 7, member 3 is new at 5, member 2 is untouched.
    await session.execute(
        text(
            "INSERT INTO balances (community_id, member_id, xp) VALUES (:c, 1, 7), (:c, 3, 5) "
            "ON CONFLICT (community_id, season, member_id) DO UPDATE SET xp = excluded.xp"
        ),
        {"c": community_id},
    )

    histogram = await _read(session, _HISTOGRAM, [community_id])
    assert histogram == {
        (community_id, "", "xp", 5): (2, 0),
        (community_id, "", "xp", 7): (1, 0),
    }
    await assert_histogram_matches(session, [community_id])


async def test_an_update_that_moves_rows_between_keys_is_counted_in_full(
    session: AsyncSession,
) -> None:
    (community_id,) = await _communities(session, 1)
    await session.execute(
        text(
            "INSERT INTO balances (community_id, season, member_id, xp, stars) VALUES "
            "(:c, '', 1, 5, 1), (:c, '', 2, 9, 1), (:c, 's1', 1, 5, 0)"
        ),
        {"c": community_id},
    )
    await session.execute(
        text("UPDATE members SET is_bot = true WHERE community_id = :c AND id = 2"),
        {"c": community_id},
    )
    # The lifetime rows of members 1 and 2 (a bot) move to 3 and 4; member 1's season
    # row moves to 's2'.
    await session.execute(
        text(
            "UPDATE balances SET member_id = member_id + 2 WHERE community_id = :c AND season = ''"
        ),
        {"c": community_id},
    )
    await session.execute(
        text("UPDATE balances SET season = 's2', xp = 6 WHERE community_id = :c AND season = 's1'"),
        {"c": community_id},
    )

    await assert_histogram_matches(session, [community_id])
    histogram = await _read(session, _HISTOGRAM, [community_id])
    assert histogram[(community_id, "", "xp", 5)] == (1, 0)
    assert histogram[(community_id, "", "xp", 9)] == (1, 0)
    assert histogram[(community_id, "s2", "xp", 6)] == (1, 0)
    assert (community_id, "s1", "xp", 5) not in histogram


async def test_deleting_a_member_or_a_community_cascades_into_the_histogram(
    session: AsyncSession,
) -> None:
    first, second = await _communities(session, 2)
    for community_id in (first, second):
        await session.execute(
            text(
                "INSERT INTO balances (community_id, season, member_id, xp, gold) "
                "SELECT :c, s, m, m, 1 FROM generate_series(1, 3) m, "
                "unnest(ARRAY['', 's1']) s"
            ),
            {"c": community_id},
        )
    await session.execute(
        text("UPDATE members SET is_bot = true WHERE community_id = ANY(:cs) AND id IN (2, 3)"),
        {"cs": [first, second]},
    )
    await assert_histogram_matches(session, [first, second])

    await session.execute(
        text("DELETE FROM members WHERE community_id = :c AND id IN (1, 2)"), {"c": first}
    )
    await assert_histogram_matches(session, [first, second])
    await session.execute(text("DELETE FROM communities WHERE id = :c"), {"c": second})

    await assert_histogram_matches(session, [first, second])
    assert await _read(session, _HISTOGRAM, [second]) == {}


async def test_truncating_balances_empties_the_histogram(session: AsyncSession) -> None:
    (community_id,) = await _communities(session, 1)
    await session.execute(
        text("INSERT INTO balances (community_id, member_id, xp) VALUES (:c, 1, 5)"),
        {"c": community_id},
    )

    await session.execute(text("TRUNCATE balances"))

    assert (await session.execute(text("SELECT count(*) FROM balance_counts"))).scalar() == 0


def test_the_migration_counts_the_balances_that_exist(fresh_database: str) -> None:
    engine = create_sync_engine(fresh_database, DatabaseSettings())
    try:
        migrate.upgrade(engine, "0002")
        url = make_url(fresh_database).set(drivername="postgresql")
        with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
            conn.execute("INSERT INTO communities (id, slug, name) VALUES (1, 'c', 'c')")
            conn.execute(
                "INSERT INTO members (community_id, id, display_name, is_bot) "
                "SELECT 1, i, 'm', i % 5 = 0 FROM generate_series(1, 50) i"
            )
            conn.execute(
                "INSERT INTO balances (community_id, season, member_id, xp, stars, gold) "
                "SELECT 1, s, i, i % 7, i % 3, i % 2 - 1 FROM generate_series(1, 50) i, "
                "unnest(ARRAY['', 's1']) s"
            )
            conn.commit()
        migrate.upgrade(engine)
        with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
            histogram = conn.execute(
                "SELECT community_id, season, currency, value, members, hidden FROM balance_counts"
            ).fetchall()
            counted = conn.execute(_COUNTED.replace(":communities", "ARRAY[1]")).fetchall()
    finally:
        engine.dispose()
    assert any(hidden for *_, hidden in histogram)
    assert sorted(histogram) == sorted(counted)
