from __future__ import annotations

import itertools
import socket
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.config.settings import DatabaseSettings
from townsquare.errors import DatabaseUnavailable, TownsquareError
from townsquare.store.engine import create_db_engine, create_session_factory
from townsquare.store.leaderboards import (
    CURRENCIES,
    InvalidCursor,
    InvalidLeaderboardQuery,
    LeaderboardEntry,
    encode_cursor,
    leaderboard_page,
    member_rank,
)

_slugs = itertools.count(1)


@dataclass(frozen=True)
class Row:
    """One member and their balance (None: no balance row at all)."""

    xp: int | None
    is_bot: bool = False
    left: bool = False
    stars: int = 0
    gold: int = 0


async def make_community(session: AsyncSession) -> int:
    return int(
        (
            await session.execute(
                text("INSERT INTO communities (slug, name) VALUES (:slug, 'c') RETURNING id"),
                {"slug": f"lb-{next(_slugs)}-{id(session)}"},
            )
        ).scalar_one()
    )


async def add_members(
    session: AsyncSession, community_id: int, rows: list[Row], season: str = ""
) -> list[int]:
    """Members 1..n (ids in the order given) with their balances in ``season``."""
    ids = list(range(1, len(rows) + 1))
    for member_id, row in zip(ids, rows, strict=True):
        await session.execute(
            text(
                "INSERT INTO members (community_id, id, display_name, is_bot, left_at) "
                "VALUES (:c, :id, :name, :bot, CASE WHEN :left THEN now() END)"
            ),
            {
                "c": community_id,
                "id": member_id,
                "name": f"m{member_id}",
                "bot": row.is_bot,
                "left": row.left,
            },
        )
        if row.xp is not None:
            await set_balance(session, community_id, member_id, row.xp, season, row)
    return ids


async def set_balance(
    session: AsyncSession, community_id: int, member_id: int, xp: int, season: str, row: Row
) -> None:
    await session.execute(
        text(
            "INSERT INTO balances (community_id, season, member_id, xp, stars, gold, level) "
            "VALUES (:c, :s, :m, :xp, :stars, :gold, :level)"
        ),
        {
            "c": community_id,
            "s": season,
            "m": member_id,
            "xp": xp,
            "stars": row.stars,
            "gold": row.gold,
            "level": max(0, xp // 10),
        },
    )


def expected_board(rows: list[Row]) -> list[tuple[int, int, int]]:
    """(rank, member id, value) as the docstring defines the board."""
    ranked = sorted(
        (
            (row.xp, member_id)
            for member_id, row in enumerate(rows, start=1)
            if row.xp and row.xp > 0 and not row.is_bot and not row.left
        ),
        key=lambda item: (-item[0], item[1]),
    )
    values = [value for value, _ in ranked]
    return [(1 + sum(v > value for v in values), member, value) for value, member in ranked]


async def walk(session: AsyncSession, community_id: int, limit: int) -> list[LeaderboardEntry]:
    entries: list[LeaderboardEntry] = []
    cursor = None
    for _ in range(1000):
        page = await leaderboard_page(session, community_id, "xp", after=cursor, limit=limit)
        assert len(page.entries) <= limit
        entries.extend(page.entries)
        if page.next_cursor is None:
            return entries
        assert len(page.entries) == limit
        cursor = page.next_cursor
    raise AssertionError("pagination did not end")


rows_strategy = st.lists(
    st.builds(
        Row,
        xp=st.one_of(st.none(), st.integers(min_value=-1, max_value=5)),
        is_bot=st.sampled_from([False, False, False, True]),
        left=st.sampled_from([False, False, False, False, True]),
    ),
    max_size=24,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=rows_strategy, limit=st.integers(min_value=1, max_value=6))
async def test_walking_every_page_yields_the_sorted_board_with_competition_ranks(
    session: AsyncSession, rows: list[Row], limit: int
) -> None:
    example = await session.begin_nested()  # a failing example must not poison the next
    try:
        await check_board_matches_the_model(session, rows, limit)
    finally:
        await example.rollback()


async def check_board_matches_the_model(session: AsyncSession, rows: list[Row], limit: int) -> None:
    community_id = await make_community(session)
    await add_members(session, community_id, rows)
    expected = expected_board(rows)

    entries = await walk(session, community_id, limit)

    assert [(e.rank, e.member_id, e.value) for e in entries] == expected
    # Every ranked member's own rank and neighbours agree with the board.
    for index, (rank, member_id, _value) in enumerate(expected):
        standing = await member_rank(session, community_id, member_id, "xp", neighbours=2)
        assert standing is not None
        assert standing.rank == rank
        assert standing.total == len(expected)
        assert [e.member_id for e in standing.above] == [m for _, m, _ in expected][
            max(0, index - 2) : index
        ]
        assert [e.member_id for e in standing.below] == [m for _, m, _ in expected][
            index + 1 : index + 3
        ]
        assert [e.rank for e in (*standing.above, *standing.below)] == [
            r for r, _, _ in (expected[max(0, index - 2) : index] + expected[index + 1 : index + 3])
        ]
    unranked = set(range(1, len(rows) + 1)) - {m for _, m, _ in expected}
    for member_id in unranked:
        assert await member_rank(session, community_id, member_id, "xp") is None


async def test_ties_share_a_rank_and_the_next_value_skips_across_pages(
    session: AsyncSession,
) -> None:
    community_id = await make_community(session)
    await add_members(session, community_id, [Row(9), Row(7), Row(7), Row(7), Row(3)])

    first = await leaderboard_page(session, community_id, "xp", limit=2)
    second = await leaderboard_page(session, community_id, "xp", after=first.next_cursor, limit=2)
    third = await leaderboard_page(session, community_id, "xp", after=second.next_cursor, limit=2)

    assert [e.rank for e in first.entries] == [1, 2]
    assert [e.rank for e in second.entries] == [2, 2]
    assert [e.rank for e in third.entries] == [5]
    assert third.next_cursor is None
    assert first.entries[0] == LeaderboardEntry(1, 1, "m1", 9, 0)


async def test_season_and_lifetime_are_separate_boards(session: AsyncSession) -> None:
    community_id = await make_community(session)
    await add_members(session, community_id, [Row(5), Row(1)])
    await set_balance(session, community_id, 2, 50, "2026-s1", Row(50))

    lifetime = await leaderboard_page(session, community_id, "xp")
    season = await leaderboard_page(session, community_id, "xp", season="2026-s1")

    assert [(e.member_id, e.value) for e in lifetime.entries] == [(1, 5), (2, 1)]
    assert [(e.member_id, e.value) for e in season.entries] == [(2, 50)]
    assert await member_rank(session, community_id, 1, "xp", season="2026-s1") is None
    ranked = await member_rank(session, community_id, 2, "xp", season="2026-s1")
    assert ranked is not None
    assert (ranked.rank, ranked.total) == (1, 1)


async def test_each_currency_ranks_its_own_column(session: AsyncSession) -> None:
    community_id = await make_community(session)
    await add_members(
        session, community_id, [Row(1, stars=2, gold=30), Row(2, stars=9, gold=0), Row(3)]
    )

    boards = {
        currency: [
            e.member_id for e in (await leaderboard_page(session, community_id, currency)).entries
        ]
        for currency in CURRENCIES
    }

    assert boards == {"xp": [3, 2, 1], "stars": [2, 1], "gold": [1]}
    gold = await leaderboard_page(session, community_id, "gold")
    assert gold.entries[0].value == 30


async def test_communities_do_not_see_each_other(session: AsyncSession) -> None:
    first = await make_community(session)
    second = await make_community(session)
    await add_members(session, first, [Row(5), Row(4), Row(3)])
    await add_members(session, second, [Row(1)])

    page = await leaderboard_page(session, second, "xp")
    ranked = await member_rank(session, second, 1, "xp")

    assert [(e.member_id, e.value) for e in page.entries] == [(1, 1)]
    assert ranked is not None
    assert (ranked.rank, ranked.total) == (1, 1)
    cursor = (await leaderboard_page(session, first, "xp", limit=1)).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidCursor):
        await leaderboard_page(session, second, "xp", after=cursor)


@pytest.mark.parametrize(
    "make_cursor",
    [
        pytest.param(lambda good: "", id="empty"),
        pytest.param(lambda good: "not a cursor!", id="not-base64"),
        pytest.param(lambda good: "bm9wZQ", id="base64-of-garbage"),
        pytest.param(lambda good: good[:-2], id="truncated"),
        pytest.param(lambda good: good[:-1] + ("A" if good[-1] != "A" else "B"), id="edited"),
        pytest.param(lambda good: good * 40, id="too-long"),
        pytest.param(lambda good: encode_cursor(1, "gold", "", 5, 1), id="other-currency"),
        pytest.param(lambda good: encode_cursor(1, "xp", "s1", 5, 1), id="other-season"),
        pytest.param(lambda good: encode_cursor(1, "xp", "", 0, 1), id="zero-value"),
    ],
)
async def test_a_bad_cursor_is_a_typed_400_error(
    session: AsyncSession, make_cursor: Callable[[str], str]
) -> None:
    community_id = await make_community(session)
    await add_members(session, community_id, [Row(5), Row(4)])
    good = (await leaderboard_page(session, community_id, "xp", limit=1)).next_cursor
    assert good is not None
    bad = make_cursor(good)
    assert bad != good

    with pytest.raises(InvalidCursor) as caught:
        await leaderboard_page(session, community_id, "xp", after=bad)

    assert caught.value.status == 400
    assert caught.value.code == "leaderboard_cursor_invalid"
    assert isinstance(caught.value, TownsquareError)


async def test_a_forged_but_well_formed_cursor_only_moves_the_start(
    session: AsyncSession,
) -> None:
    community_id = await make_community(session)
    await add_members(session, community_id, [Row(5), Row(4), Row(4), Row(1)])

    page = await leaderboard_page(
        session, community_id, "xp", after=encode_cursor(community_id, "xp", "", 4, 2)
    )

    assert [(e.rank, e.member_id) for e in page.entries] == [(2, 3), (4, 4)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"currency": "karma"}, "Unknown currency"),
        ({"limit": 0}, "1 to 100"),
        ({"limit": 101}, "1 to 100"),
        ({"season": "s" * 65}, "season key"),
    ],
)
async def test_a_bad_query_is_a_typed_400_error(
    session: AsyncSession, kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"currency": "xp", **kwargs}
    with pytest.raises(InvalidLeaderboardQuery) as caught:
        await leaderboard_page(session, 1, **arguments)  # type: ignore[arg-type]
    assert message in caught.value.message
    assert caught.value.status == 400


async def test_member_rank_at_the_top_bottom_and_in_a_tie(session: AsyncSession) -> None:
    community_id = await make_community(session)
    await add_members(session, community_id, [Row(9), Row(5), Row(5), Row(5), Row(2), Row(1)])

    top = await member_rank(session, community_id, 1, "xp", neighbours=2)
    tied = await member_rank(session, community_id, 3, "xp", neighbours=2)
    bottom = await member_rank(session, community_id, 6, "xp", neighbours=2)

    assert top is not None
    assert tied is not None
    assert bottom is not None
    assert (top.rank, top.value, top.total, top.above) == (1, 9, 6, ())
    assert [(e.rank, e.member_id) for e in top.below] == [(2, 2), (2, 3)]
    assert tied.rank == 2
    assert [(e.rank, e.member_id) for e in tied.above] == [(1, 1), (2, 2)]
    assert [(e.rank, e.member_id) for e in tied.below] == [(2, 4), (5, 5)]
    assert (bottom.rank, bottom.below) == (6, ())
    assert [(e.rank, e.member_id) for e in bottom.above] == [(2, 4), (5, 5)]
    alone = await member_rank(session, community_id, 6, "xp", neighbours=0)
    assert alone is not None
    assert (alone.above, alone.below, alone.rank) == ((), (), 6)


async def test_member_rank_of_a_member_who_is_not_ranked_is_none(session: AsyncSession) -> None:
    community_id = await make_community(session)
    await add_members(session, community_id, [Row(3), Row(None), Row(0)])

    assert await member_rank(session, community_id, 2, "xp") is None  # no balance row
    assert await member_rank(session, community_id, 3, "xp") is None  # zero
    assert await member_rank(session, community_id, 99, "xp") is None  # no such member
    assert await member_rank(session, community_id, 1, "stars") is None  # nothing in stars


async def test_bots_and_members_who_left_are_hidden_and_leave_no_gap(
    session: AsyncSession,
) -> None:
    community_id = await make_community(session)
    await add_members(
        session,
        community_id,
        [Row(10, is_bot=True), Row(8), Row(7, left=True), Row(6), Row(6, is_bot=True), Row(5)],
    )

    page = await leaderboard_page(session, community_id, "xp", limit=2)
    rest = await leaderboard_page(session, community_id, "xp", after=page.next_cursor)
    ranked = await member_rank(session, community_id, 6, "xp")

    assert [(e.rank, e.member_id) for e in (*page.entries, *rest.entries)] == [
        (1, 2),
        (2, 4),
        (3, 6),
    ]
    assert ranked is not None
    assert (ranked.rank, ranked.total) == (3, 3)
    assert [e.member_id for e in ranked.above] == [2, 4]
    for hidden in (1, 3, 5):
        assert await member_rank(session, community_id, hidden, "xp") is None


async def test_an_empty_board_is_one_empty_page(session: AsyncSession) -> None:
    community_id = await make_community(session)

    page = await leaderboard_page(session, community_id, "xp")

    assert (page.entries, page.next_cursor) == ((), None)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_database_is_database_unavailable() -> None:
    url = f"postgresql://app:hunter2@127.0.0.1:{_closed_port()}/townsquare"
    engine = create_db_engine(url, DatabaseSettings(connect_timeout=2))
    try:
        async with create_session_factory(engine)() as db_session:
            with pytest.raises(DatabaseUnavailable) as caught:
                await leaderboard_page(db_session, 1, "xp")
            with pytest.raises(DatabaseUnavailable):
                await member_rank(db_session, 1, 1, "xp")
    finally:
        await engine.dispose()
    assert caught.value.status == 503
    assert "127.0.0.1" in caught.value.message
    assert "hunter2" not in caught.value.message
