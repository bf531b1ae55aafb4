"""Leaderboards: who leads a community in XP, Stars or Gold, lifetime or in one season.

Read-only queries over ``balances`` that return frozen dataclasses, never ORM rows.

Who is on a board
    A member is *ranked* on a board when their balance in that currency is above zero,
    they are not a bot, and they have not left (``left_at IS NULL``). Zero (or negative)
    balances are left off: a board of a million lurkers at 0 says nothing, and leaving
    them off keeps the board (and every count below) as small as the active community.
    Bots and members who left keep their balances (they are the ledger's truth and come
    back if the member returns); they are simply not shown and not counted, so ranks have
    no gaps where a hidden member would be.

Order and ranks
    Value descending, then member id ascending (the ``ix_balances_<currency>_rank``
    index order, so pages are index scans). Ranks are competition ranks ("1224"): equal
    values share a rank and the next distinct value's rank skips; a rank is
    ``1 + the number of ranked members with a greater value``, whatever page it is on.

Pagination
    Keyset, never OFFSET: ``next_cursor`` is an opaque string naming the last
    (value, member id) of a page and the board it belongs to; the next page is the
    rows after it. A cursor that is malformed, corrupted or made for another board is
    ``InvalidCursor`` (400). A cursor names only a position, so a forged one can do no
    harm beyond starting a page somewhere else; its checksum catches accidents
    (truncation, a wrong board), it is not a signature.

Cost
    Fetching a page's rows is an index scan of ``limit`` rows plus a primary-key probe of
    ``members`` per row, at any depth (the keyset is split into "rest of this tie group"
    and "lower values", so a tie group of 100,000 members is not walked). A rank is
    ``1 + count(ahead)``, read from the board's histogram ``balance_counts`` (per value:
    how many balances hold it, and how many of those are hidden members'; kept by
    triggers in the transaction that writes balances, migration 0003): a sum over the
    distinct values above, not over the members. A board of 1,000,000 Zipf-like balances
    has ~9,000 distinct values, so a deep page or ``member_rank`` (whose ``total`` sums
    the whole histogram) costs a few ms (``townsquare bench leaderboard``).

Consistency
    ``leaderboard_page`` is one statement (one snapshot); the histogram changes in the
    same transactions as the balances, so the counts and the rows agree. ``member_rank`` is
    three statements; run it in a REPEATABLE READ transaction if ranks must be exact while
    balances change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from sqlalchemy import QueuePool, Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from townsquare.config.settings import DatabaseSettings
from townsquare.errors import TownsquareError
from townsquare.store.engine import translate_errors

Currency = Literal["xp", "stars", "gold"]
CURRENCIES: Final[tuple[Currency, ...]] = get_args(Currency)
LIFETIME: Final = ""
MAX_PAGE_SIZE: Final = 100
MAX_NEIGHBOURS: Final = 25
_SEASON_MAX_LENGTH = 64
_CURSOR_VERSION = "1"
_MAX_BIGINT = 2**63 - 1

Database = AsyncConnection | AsyncSession


class InvalidLeaderboardQuery(TownsquareError):
    """A leaderboard was asked for with an unknown currency or an out-of-range size."""

    status = 400
    code = "leaderboard_query_invalid"


class InvalidCursor(InvalidLeaderboardQuery):
    """A page cursor is malformed, corrupted, or belongs to another leaderboard."""

    code = "leaderboard_cursor_invalid"


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    rank: int
    member_id: int
    display_name: str
    value: int
    level: int


@dataclass(frozen=True, slots=True)
class LeaderboardPage:
    community_id: int
    currency: Currency
    season: str
    entries: tuple[LeaderboardEntry, ...]
    # None on the last page.
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class MemberRank:
    """Where one ranked member stands, with the members just above and below."""

    entry: LeaderboardEntry
    # How many members are ranked on this board.
    total: int
    # Best first, like a page: ``above[-1]`` is right above the member.
    above: tuple[LeaderboardEntry, ...]
    below: tuple[LeaderboardEntry, ...]

    @property
    def rank(self) -> int:
        return self.entry.rank

    @property
    def value(self) -> int:
        return self.entry.value


# ----------------------------------------------------------------------------- cursors


def _checksum(community_id: int, season: str, currency: str, value: int, member_id: int) -> str:
    board = f"{community_id}\x1f{season}\x1f{currency}\x1f{value}\x1f{member_id}"
    return hashlib.sha256(board.encode()).hexdigest()[:12]


def encode_cursor(
    community_id: int, currency: Currency, season: str, value: int, member_id: int
) -> str:
    """The cursor of the position right after (value, member id) on a board."""
    check = _checksum(community_id, season, currency, value, member_id)
    raw = f"{_CURSOR_VERSION}.{value}.{member_id}.{check}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str, community_id: int, currency: Currency, season: str
) -> tuple[int, int]:
    """(value, member id) of a cursor made by ``encode_cursor`` for this very board."""
    invalid = InvalidCursor(
        "The page cursor is not valid for this leaderboard; start again from the first page."
    )
    if not isinstance(cursor, str) or not 0 < len(cursor) <= 200:
        raise invalid
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    parts = raw.split(".")
    if len(parts) != 4 or parts[0] != _CURSOR_VERSION:
        raise invalid
    _, value_text, member_text, check = parts
    if not (value_text.isdigit() and member_text.isdigit()) or len(value_text + member_text) > 40:
        raise invalid
    value, member_id = int(value_text), int(member_text)
    if not (0 < value <= _MAX_BIGINT and 0 <= member_id <= _MAX_BIGINT):
        raise invalid
    if check != _checksum(community_id, season, currency, value, member_id):
        raise invalid
    return value, member_id


# ----------------------------------------------------------------------------- queries

# A ranked row: joined to its member, who must be neither a bot nor gone.
_RANKED_ROWS = """
    FROM balances b
    JOIN members m ON m.community_id = b.community_id AND m.id = b.member_id
    WHERE b.community_id = :community_id AND b.season = :season AND b.{c} > 0
      AND NOT m.is_bot AND m.left_at IS NULL
"""

# Counts over a board come from its histogram ``balance_counts``: per value, how many
# balance rows hold it (``members``) and how many of those are hidden members' (bots,
# leavers), kept by triggers on ``balances`` and ``members`` (migration 0003). One row:
# ``gt`` and ``ge``, the ranked members with a value above / at least ``{value}``, and
# ``total``, all ranked members (only if asked for; otherwise the histogram is read from
# ``{value}`` up only).
_STANDING = """
    SELECT coalesce(sum(bc.members - bc.hidden) FILTER (WHERE bc.value > {value}), 0) AS gt,
           coalesce(sum(bc.members - bc.hidden) FILTER (WHERE bc.value >= {value}), 0) AS ge,
           {total} AS total
    FROM balance_counts bc
    WHERE bc.community_id = :community_id AND bc.season = :season
      AND bc.currency = :currency AND bc.value {histogram_range}
"""


def _standing_sql(value: str, with_total: bool) -> str:
    """The ``_STANDING`` row of ``value`` (an SQL expression) on the board."""
    if with_total:
        total, histogram_range = "coalesce(sum(bc.members - bc.hidden), 0)", "> 0"
    else:
        total, histogram_range = "0", f">= {value}"
    return _STANDING.format(value=value, total=total, histogram_range=histogram_range)


_COLUMNS = "b.member_id, m.display_name, b.{c} AS value, b.level"


def _after_sql(currency: Currency, value: str, member_id: str, limit: str) -> str:
    """Up to ``limit`` ranked rows right after the position (value, member id), in board
    order. Two index ranges (the rest of the value's tie group, then the lower values)
    rather than one range and a filter, so a huge tie group is not walked to find its end.
    """
    c, ranked, columns = currency, _RANKED_ROWS.format(c=currency), _COLUMNS.format(c=currency)
    return f"""
        SELECT * FROM (
            (SELECT {columns} {ranked} AND b.{c} = {value} AND b.member_id > {member_id}
             ORDER BY b.member_id LIMIT {limit})
            UNION ALL
            (SELECT {columns} {ranked} AND b.{c} < {value}
             ORDER BY b.{c} DESC, b.member_id LIMIT {limit})
        ) after_rows ORDER BY value DESC, member_id LIMIT {limit}
    """  # noqa: S608 - see _check_board


def _before_sql(currency: Currency, value: str, member_id: str, limit: str) -> str:
    """Up to ``limit`` ranked rows right before the position, nearest first."""
    c, ranked, columns = currency, _RANKED_ROWS.format(c=currency), _COLUMNS.format(c=currency)
    return f"""
        SELECT * FROM (
            (SELECT {columns} {ranked} AND b.{c} = {value} AND b.member_id < {member_id}
             ORDER BY b.member_id DESC LIMIT {limit})
            UNION ALL
            (SELECT {columns} {ranked} AND b.{c} > {value}
             ORDER BY b.{c}, b.member_id DESC LIMIT {limit})
        ) before_rows ORDER BY value, member_id DESC LIMIT {limit}
    """  # noqa: S608 - see _check_board


def _page_sql(currency: Currency, after: bool) -> str:
    c = currency
    if not after:
        return f"""
            SELECT {_COLUMNS.format(c=c)}, 0 AS gt, 0 AS ge {_RANKED_ROWS.format(c=c)}
            ORDER BY b.{c} DESC, b.member_id LIMIT :fetch
        """
    # The page's rows, and the standing of its first row's value (for the ranks).
    rows = _after_sql(currency, ":after_value", ":after_id", ":fetch")
    standing = _standing_sql("top.value", with_total=False)
    return f"""
        WITH page AS MATERIALIZED ({rows}),
        top AS (SELECT max(value) AS value FROM page)
        SELECT p.*, s.gt, s.ge
        FROM top CROSS JOIN LATERAL ({standing}) s LEFT JOIN page p ON true
        ORDER BY p.value DESC, p.member_id
    """  # noqa: S608 - see _check_board


# (member id, display name, value, level) of a ranked row, in board order.
_BoardRow = tuple[int, str, int, int]


def _board_row(row: Row[Any]) -> _BoardRow:
    return int(row.member_id), str(row.display_name), int(row.value), int(row.level)


def _board_order(row: _BoardRow) -> tuple[int, int]:
    return -row[2], row[0]


def _ranked(rows: Sequence[_BoardRow], above: int, at_least: int) -> tuple[LeaderboardEntry, ...]:
    """Competition ranks for consecutive board rows, given how many ranked members have a
    value above, and at least, the first row's value."""
    entries: list[LeaderboardEntry] = []
    rank = above + 1
    # Ranked members before the first row: all of its value's tie group but the rows here.
    # Used only once the value changes, so the tie group ends among these rows.
    before = at_least - sum(1 for row in rows if row[2] == rows[0][2])
    for index, (member_id, display_name, value, level) in enumerate(rows):
        if index > 0 and value != rows[index - 1][2]:
            rank = before + 1 + index
        entries.append(LeaderboardEntry(rank, member_id, display_name, value, level))
    return tuple(entries)


def _check_board(community_id: int, currency: str, season: str) -> Currency:
    """Validate a board's identity. The currency names a column in the SQL text, so only
    the three known names ever get there; everything else is a bound parameter."""
    if currency not in CURRENCIES:
        raise InvalidLeaderboardQuery(
            f"Unknown currency {currency!r}; a leaderboard ranks one of {', '.join(CURRENCIES)}."
        )
    if not isinstance(season, str) or len(season) > _SEASON_MAX_LENGTH:
        raise InvalidLeaderboardQuery(
            f"A season key is at most {_SEASON_MAX_LENGTH} characters ('' for lifetime)."
        )
    if not isinstance(community_id, int) or not 0 <= community_id <= _MAX_BIGINT:
        raise InvalidLeaderboardQuery("A community id is a non-negative 64-bit integer.")
    for known in CURRENCIES:  # narrow str to the Literal without a cast
        if currency == known:
            return known
    raise AssertionError(currency)  # pragma: no cover


@asynccontextmanager
async def _translated(db: Database) -> AsyncIterator[None]:
    """Connection failures inside the block become ``DatabaseUnavailable`` (the figures
    of an exhausted pool are read from the engine's own pool)."""
    engine = db.get_bind().engine if isinstance(db, AsyncSession) else db.sync_engine
    settings = DatabaseSettings()
    pool = engine.pool
    if isinstance(pool, QueuePool):
        settings = DatabaseSettings(
            pool_size=pool.size(),
            max_overflow=max(0, getattr(pool, "_max_overflow", 0)),
            pool_timeout=pool.timeout(),
        )
    async with translate_errors(engine.url.render_as_string(hide_password=False), settings):
        yield


async def leaderboard_page(
    db: Database,
    community_id: int,
    currency: Currency,
    season: str = LIFETIME,
    after: str | None = None,
    limit: int = 25,
) -> LeaderboardPage:
    """One page of a board (``season`` '' is lifetime), best first, after ``after``.

    See the module docstring for who is ranked, how ties rank and what a cursor is.
    The first page is one index scan; a later page also counts the members ahead of it
    (a sum over the histogram from its first value up).
    """
    board = _check_board(community_id, currency, season)
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidLeaderboardQuery(f"A page holds 1 to {MAX_PAGE_SIZE} members.")
    params: dict[str, object] = {
        "community_id": community_id,
        "season": season,
        "fetch": limit + 1,
    }
    if after is not None:
        params["after_value"], params["after_id"] = decode_cursor(
            after, community_id, board, season
        )
        params["currency"] = board
    async with _translated(db):
        result = await db.execute(text(_page_sql(board, after is not None)), params)
        fetched = result.all()
    rows = [_board_row(row) for row in fetched if row.member_id is not None]
    more = len(rows) > limit
    rows = rows[:limit]
    above = int(fetched[0].gt) if rows else 0
    at_least = int(fetched[0].ge) if rows else 0
    if after is None:
        above, at_least = 0, sum(1 for row in rows if row[2] == rows[0][2])
    entries = _ranked(rows, above=above, at_least=at_least)
    next_cursor = (
        encode_cursor(community_id, board, season, rows[-1][2], rows[-1][0])
        if more and rows
        else None
    )
    return LeaderboardPage(community_id, board, season, entries, next_cursor)


async def member_rank(
    db: Database,
    community_id: int,
    member_id: int,
    currency: Currency,
    season: str = LIFETIME,
    neighbours: int = 2,
) -> MemberRank | None:
    """Where ``member_id`` stands on a board, with up to ``neighbours`` ranked members
    just above and just below (fewer at either end of the board).

    None when the member is not ranked on this board: unknown, no balance row, a zero
    balance, a bot or gone (see the module docstring). Counts the whole board for
    ``total`` (a sum over the whole histogram).
    """
    board = _check_board(community_id, currency, season)
    if not isinstance(neighbours, int) or not 0 <= neighbours <= MAX_NEIGHBOURS:
        raise InvalidLeaderboardQuery(f"Ask for 0 to {MAX_NEIGHBOURS} neighbours.")
    if not isinstance(member_id, int) or not 0 <= member_id <= _MAX_BIGINT:
        return None
    c = board
    params: dict[str, object] = {
        "community_id": community_id,
        "season": season,
        "member_id": member_id,
        "neighbours": neighbours,
    }
    columns = _COLUMNS.format(c=c)
    ranked = _RANKED_ROWS.format(c=c)
    async with _translated(db):
        own = (
            await db.execute(
                text(f"SELECT {columns} {ranked} AND b.member_id = :member_id"), params
            )
        ).first()
        if own is None:
            return None
        params["value"] = own.value
        up_sql = _before_sql(board, ":value", ":member_id", ":neighbours")
        down_sql = _after_sql(board, ":value", ":member_id", ":neighbours")
        window = await db.execute(
            text(
                f"SELECT -1 AS side, * FROM ({up_sql}) up "  # noqa: S608 - see _check_board
                f"UNION ALL SELECT 1, * FROM ({down_sql}) down"
            ),
            params,
        )
        nearby = window.all()
        up = sorted((_board_row(r) for r in nearby if r.side < 0), key=_board_order)
        down = sorted((_board_row(r) for r in nearby if r.side > 0), key=_board_order)
        rows = [*up, _board_row(own), *down]
        params["top_value"] = rows[0][2]
        counts = (
            await db.execute(
                text(_standing_sql(":top_value", with_total=True)),
                {**params, "currency": board},
            )
        ).one()
    entries = _ranked(rows, above=int(counts.gt), at_least=int(counts.ge))
    own_index = len(up)
    return MemberRank(
        entry=entries[own_index],
        total=int(counts.total),
        above=entries[:own_index],
        below=entries[own_index + 1 :],
    )
