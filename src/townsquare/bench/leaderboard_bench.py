"""Leaderboard read latency on one big community (``townsquare bench leaderboard``).

Loads a scratch community of M members whose balances follow a Zipf-like (Pareto)
distribution, so most members share a handful of small values and ties are everywhere,
the way a real server looks: a few very active members, a long tail of lurkers. About 0.5%
of the members are bots and 2% have left (both are kept off the board), and a third of the
members also have a balance in a season, so the lifetime rows are not alone in the index.
The load uses COPY (the triggers that keep the leaderboard histogram ``balance_counts``
fire for it, so ``load_s`` includes their cost), then ANALYZE and VACUUM (so index-only
scans see an up-to-date visibility map, as autovacuum would keep it).

Then it times, over repeated calls through the real read functions: the first page, a
deep page (keyset after rank ~M/2), and ``member_rank`` of a top, a median and a bottom
member. The community is deleted afterwards, whatever happens; the CLI additionally runs
the whole thing in a scratch database that it drops.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from townsquare.bench.scratch import scratch_database
from townsquare.config.settings import DatabaseSettings
from townsquare.errors import SchemaError
from townsquare.store import migrate
from townsquare.store.engine import (
    create_db_engine,
    create_sync_engine,
    libpq_url,
    translate_errors,
    translate_errors_sync,
)
from townsquare.store.leaderboards import (
    Currency,
    encode_cursor,
    leaderboard_page,
    member_rank,
)

_SEASON = "bench-season"
_BOT_EVERY = 200  # 0.5% bots
_LEFT_EVERY = 50  # 2% left
_SEASON_EVERY = 3


def _zipf_value(rng: random.Random, scale: float) -> int:
    # Pareto with alpha ~1.1, shifted so the mode is 0: heavy tail, many ties at the bottom.
    return int((rng.paretovariate(1.1) - 1.0) * scale)


def _balance_rows(members: int, seed: int, first_id: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    for offset in range(members):
        member_id = first_id + offset
        xp = _zipf_value(rng, 40.0)
        stars = _zipf_value(rng, 2.0)
        gold = _zipf_value(rng, 10.0)
        level = int((xp / 100) ** 0.5)
        yield ("", member_id, xp, stars, gold, level)
        if offset % _SEASON_EVERY == 0:
            season_xp = xp // 3
            yield (_SEASON, member_id, season_xp, stars // 3, gold // 3, level)


def load_community(url: str, members: int, seed: int) -> int:
    """Create the scratch community and its members and balances; return its id."""
    slug = f"bench-leaderboard-{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(url)) as conn:
        community_id = conn.execute(
            "INSERT INTO communities (slug, name) VALUES (%s, %s) RETURNING id",
            (slug, "leaderboard bench (scratch)"),
        ).fetchone()
        assert community_id is not None
        cid = int(community_id[0])
        with conn.cursor().copy(
            "COPY members (community_id, id, display_name, is_bot, left_at) FROM STDIN"
        ) as copy:
            for member_id in range(1, members + 1):
                copy.write_row(
                    (
                        cid,
                        member_id,
                        f"member {member_id}",
                        member_id % _BOT_EVERY == 0,
                        "2026-01-01T00:00:00Z" if member_id % _LEFT_EVERY == 7 else None,
                    )
                )
        with conn.cursor().copy(
            "COPY balances (community_id, season, member_id, xp, stars, gold, level) FROM STDIN"
        ) as copy:
            for row in _balance_rows(members, seed, first_id=1):
                copy.write_row((cid, *row))
        conn.commit()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) members")
        conn.execute("VACUUM (ANALYZE) balances")
        conn.execute("VACUUM (ANALYZE) balance_counts")
    return cid


def _delete(url: str, community_id: int) -> None:
    """Remove the scratch community: balances first (one statement, not a cascade per row)."""
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("DELETE FROM balances WHERE community_id = %s", (community_id,))
        conn.execute("DELETE FROM members WHERE community_id = %s", (community_id,))
        conn.execute("DELETE FROM communities WHERE id = %s", (community_id,))
        conn.commit()


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of ``samples`` (nearest rank for p99)."""
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50, p99


async def _timed(call: Callable[[], Awaitable[object]], repeats: int) -> tuple[float, float]:
    await call()  # warm the cache and the connection
    samples: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


async def _measure(
    url: str, community_id: int, currency: Currency, repeats: int
) -> dict[str, float]:
    settings = DatabaseSettings(pool_size=1, max_overflow=0, statement_timeout_ms=0)
    engine = create_db_engine(url, settings)
    figures: dict[str, float] = {}
    try:
        async with translate_errors(url, settings), engine.connect() as conn:
            ranked = await _ranked_positions(conn, community_id, currency)
            figures["ranked"] = float(ranked["count"])
            middle_value, middle_id = ranked["median"]
            deep = encode_cursor(community_id, currency, "", middle_value, middle_id)
            top_page = await leaderboard_page(conn, community_id, currency)
            top_id = top_page.entries[0].member_id
            median = await member_rank(conn, community_id, middle_id, currency)
            bottom_id = ranked["bottom"][1]
            assert median is not None
            figures["median_rank"] = float(median.rank)

            cases: dict[str, Callable[[], Awaitable[object]]] = {
                "first_page": lambda: leaderboard_page(conn, community_id, currency),
                "deep_page": lambda: leaderboard_page(conn, community_id, currency, after=deep),
                "rank_top": lambda: member_rank(conn, community_id, top_id, currency),
                "rank_median": lambda: member_rank(conn, community_id, middle_id, currency),
                "rank_bottom": lambda: member_rank(conn, community_id, bottom_id, currency),
            }
            for name, call in cases.items():
                p50, p99 = await _timed(call, repeats)
                figures[f"{name}_p50_ms"] = p50
                figures[f"{name}_p99_ms"] = p99
            await conn.rollback()
    finally:
        await engine.dispose()
    return figures


async def _ranked_positions(
    conn: AsyncConnection, community_id: int, currency: Currency
) -> dict[str, Any]:
    """Setup, not timed: how many are ranked, and the (value, member id) at the middle and
    at the bottom of the board (one OFFSET scan: no API offers an offset, on purpose)."""
    ranked = f"""
        FROM balances b JOIN members m ON m.community_id = b.community_id AND m.id = b.member_id
        WHERE b.community_id = :c AND b.season = '' AND b.{currency} > 0
          AND NOT m.is_bot AND m.left_at IS NULL
    """
    count = (await conn.execute(text(f"SELECT count(*) {ranked}"), {"c": community_id})).scalar()
    assert count
    at = text(
        f"SELECT b.{currency}, b.member_id {ranked} "
        f"ORDER BY b.{currency} DESC, b.member_id OFFSET :skip LIMIT 1"
    )
    median = (await conn.execute(at, {"c": community_id, "skip": count // 2})).one()
    bottom = (await conn.execute(at, {"c": community_id, "skip": count - 1})).one()
    return {"count": count, "median": tuple(median), "bottom": tuple(bottom)}


def run_leaderboard_bench(
    database_url: str,
    members: int = 1_000_000,
    seed: int = 1,
    *,
    currency: Currency = "xp",
    repeats: int = 50,
    delete_after: bool = True,
) -> dict[str, float]:
    """Load M members into a scratch community at ``database_url`` (schema at head), time
    the reads, delete the community (unless the whole database is about to be dropped:
    deleting a million members cascades row by row and takes minutes); return the
    figures (latencies in ms)."""
    started = time.perf_counter()
    community_id = load_community(database_url, members, seed)
    load_s = time.perf_counter() - started
    try:
        figures = asyncio.run(_measure(database_url, community_id, currency, repeats))
    finally:
        if delete_after:
            _delete(database_url, community_id)
    return {"members": float(members), "load_s": load_s, **figures}


def run_in_scratch_database(
    server_url: str, settings: DatabaseSettings, members: int, seed: int = 1
) -> dict[str, float]:
    """``run_leaderboard_bench`` in a database of its own on the server at ``server_url``,
    created, migrated and dropped here, so nothing is left behind in the user's database.

    Without the right to create databases, it falls back to a scratch community in the
    database at ``server_url`` (whose schema must be current), deleted afterwards.
    """
    with translate_errors_sync(server_url, settings), ExitStack() as stack:
        try:
            scratch_url = stack.enter_context(scratch_database(server_url, settings))
        except psycopg.errors.InsufficientPrivilege:
            _require_current_schema(server_url, settings)
            return run_leaderboard_bench(server_url, members, seed)
        return run_leaderboard_bench(scratch_url, members, seed, delete_after=False)


def _require_current_schema(url: str, settings: DatabaseSettings) -> None:
    engine = create_sync_engine(url, settings)
    try:
        schema = migrate.status(engine)
    finally:
        engine.dispose()
    if not schema.up_to_date:
        raise SchemaError(
            "The leaderboard bench needs either the right to create a scratch database or "
            f"a database at schema {schema.head}; run `townsquare db upgrade` first."
        )
