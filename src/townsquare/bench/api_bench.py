"""Public read API under concurrency on one big community (``townsquare bench api``).

The data is the leaderboard bench's: M members with Zipf-like balances (ties everywhere,
0.5% bots, 2% gone, a third with a season balance), loaded with COPY. On top, so a
profile does the work a real one does, the community gets a configuration (a level curve,
achievements, a season window around now that the season balances belong to), and a
sample of members get achievement awards and recent events with stored reward breakdowns.

The server is the real thing: ``townsquare serve`` in a process of its own (uvicorn, the
app, its pool), pointed at the scratch database, with the per-IP read limit raised so the
limiter never answers instead of the API (every request here comes from 127.0.0.1). This
process is only the load: ``concurrency`` httpx clients over keep-alive connections, one
phase per endpoint — leaderboard first page, a page deep in the board (a cursor at a
random ranked member), a member's neighbourhood, a member's profile — each timed from
request sent to body read. Latencies include the client's own overhead; on a small
machine the client and the server share the CPU, so requests/s is a floor.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

from townsquare.bench.leaderboard_bench import load_community, percentiles
from townsquare.bench.scratch import scratch_database
from townsquare.config.document import CommunityConfigDocument
from townsquare.config.settings import DatabaseSettings
from townsquare.core import Balances, CommunityConfig, RewardBreakdown, RewardKind
from townsquare.errors import TownsquareError
from townsquare.pipeline.outcome_doc import encode_breakdown
from townsquare.store.engine import libpq_url, translate_errors_sync
from townsquare.store.leaderboards import encode_cursor

#: The bench's season key (the leaderboard bench's season balances use it).
_SEASON = "bench-season"
#: Reads allowed per IP while benchmarking: the limiter still runs, it just never says no.
GENEROUS_READ_LIMIT = "1000000/second"
ENDPOINTS = ("leaderboard_first", "leaderboard_deep", "around", "profile")
_SAMPLE = 2_000
_EVENTS_PER_MEMBER = 10
_AWARDS = ("first-post", "chatter-1", "chatter-2", "xp-1")


class ApiBenchFailed(TownsquareError):
    code = "api_bench_failed"


def _config(now: int) -> CommunityConfigDocument:
    achievements: list[dict[str, Any]] = [
        {
            "id": key,
            "name": key.replace("-", " ").title(),
            "trigger": {"type": "counter", "counter": "messages", "threshold": 1 + i},
        }
        for i, key in enumerate(_AWARDS)
    ]
    achievements.append(
        {"id": "secret", "name": "Secret", "hidden": True, "trigger": {"type": "manual"}}
    )
    rules = CommunityConfig.model_validate(
        {
            "achievements": achievements,
            "seasons": {
                "windows": [{"id": _SEASON, "starts_at": now - 7 * 86_400, "ends_at": now + 86_400}]
            },
        }
    )
    return CommunityConfigDocument.covering(rules)


def _enrich(url: str, community_id: int, profiled: list[int]) -> None:
    """Configuration, awards and recent events for the profiled members."""
    now = int(time.time())
    document = _config(now)
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(
            "INSERT INTO community_settings (community_id, settings) VALUES (%s, %s)",
            (community_id, Jsonb(document.model_dump(mode="json"))),
        )
        conn.execute(
            "UPDATE communities SET config_version = config_version + 1 WHERE id = %s",
            (community_id,),
        )
        with conn.cursor().copy(
            "COPY achievement_awards (community_id, member_id, achievement_key, season) FROM STDIN"
        ) as copy:
            for member_id in profiled:
                for key in _AWARDS[: 1 + member_id % len(_AWARDS)]:
                    copy.write_row((community_id, member_id, key, _SEASON))
        with conn.cursor().copy(
            "COPY events (community_id, occurred_at, platform, platform_event_id, kind, "
            "member_id, metadata, status, outcome) FROM STDIN"
        ) as copy:
            for member_id in profiled:
                breakdown = RewardBreakdown(
                    str(member_id),
                    RewardKind.MESSAGE,
                    base=Balances(15, 0, 1),
                    computed=Balances(15, 0, 1),
                    granted=Balances(15, 0, 1),
                )
                outcome = Jsonb({"counters": [], "why": [encode_breakdown(breakdown)]})
                for n in range(_EVENTS_PER_MEMBER):
                    at = datetime.fromtimestamp(now - 3_600 * (n + 1) - member_id % 3_600, UTC)
                    copy.write_row(
                        (
                            community_id,
                            at,
                            "discord",
                            f"bench-{member_id}-{n}",
                            "message",
                            member_id,
                            Jsonb({"length": 42}),
                            "rewarded",
                            outcome,
                        )
                    )
        conn.commit()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) achievement_awards")
        conn.execute("VACUUM (ANALYZE) events")


def _targets(url: str, community_id: int, members: int, seed: int) -> dict[str, list[str]]:
    """Request paths per endpoint: random members, ranked ones for cursors and ranks."""
    rng = random.Random(seed)  # noqa: S311 - synthetic load, not secrets
    sample = rng.sample(range(1, members + 1), min(_SAMPLE, members))
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT b.member_id, b.xp FROM balances b "
            "JOIN members m ON m.community_id = b.community_id AND m.id = b.member_id "
            "WHERE b.community_id = %s AND b.season = '' AND b.xp > 0 "
            "AND NOT m.is_bot AND m.left_at IS NULL AND b.member_id = ANY(%s)",
            (community_id, sample),
        ).fetchall()
        slug_row = conn.execute(
            "SELECT slug FROM communities WHERE id = %s", (community_id,)
        ).fetchone()
        people = conn.execute(
            "SELECT id FROM members WHERE community_id = %s AND id = ANY(%s) "
            "AND NOT is_bot AND left_at IS NULL",
            (community_id, sample),
        ).fetchall()
    if not rows or slug_row is None:
        raise ApiBenchFailed("The bench community has no ranked members; use more --members.")
    base = f"/api/v1/communities/{slug_row[0]}"
    ranked = [(int(member_id), int(xp)) for member_id, xp in rows]
    return {
        "leaderboard_first": [f"{base}/leaderboard?currency=xp&limit=25"],
        "leaderboard_deep": [
            f"{base}/leaderboard?currency=xp&limit=25&after="
            + encode_cursor(community_id, "xp", "", value, member_id)
            for member_id, value in ranked
        ],
        "around": [
            f"{base}/leaderboard/around/{member_id}?neighbours=5" for member_id, _ in ranked
        ],
        "profile": [f"{base}/members/{int(row[0])}" for row in people],
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _server(url: str, settings: DatabaseSettings) -> Iterator[str]:
    """``townsquare serve`` on a free local port against ``url``; its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "TOWNSQUARE_DATABASE_URL": url,
        "TOWNSQUARE_DATABASE_POOL_SIZE": str(settings.pool_size),
        "TOWNSQUARE_DATABASE_MAX_OVERFLOW": str(settings.max_overflow),
        "TOWNSQUARE_API_HOST": "127.0.0.1",
        "TOWNSQUARE_API_PORT": str(port),
        "TOWNSQUARE_API_READ_RATE_LIMIT": GENEROUS_READ_LIMIT,
        "TOWNSQUARE_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "townsquare", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                error = process.stderr.read() if process.stderr else ""
                raise ApiBenchFailed(f"The API server exited at start: {error.strip()[-500:]}")
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ApiBenchFailed("The API server did not answer /health within 60 s.")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _phase(
    client: httpx.AsyncClient, paths: list[str], requests: int, concurrency: int, seed: int
) -> tuple[list[float], float, int]:
    """``requests`` GETs of random ``paths`` by ``concurrency`` workers: latencies (ms),
    wall time (s) and the number of answers that were not 200."""
    rng = random.Random(seed)  # noqa: S311 - synthetic load, not secrets
    queue = [rng.choice(paths) for _ in range(requests)]
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while queue:
            path = queue.pop()
            started = time.perf_counter()
            response = await client.get(path)
            latencies.append((time.perf_counter() - started) * 1000)
            errors += response.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, errors


async def _drive(
    base_url: str, targets: dict[str, list[str]], requests: int, concurrency: int, seed: int
) -> dict[str, float]:
    # httpx logs every request at INFO: that would time our logging, not the API.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    figures: dict[str, float] = {}
    every: list[float] = []
    wall = 0.0
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        for index, name in enumerate(ENDPOINTS):
            warmup = max(concurrency, requests // 10)
            await _phase(client, targets[name], warmup, concurrency, seed + index)
            latencies, seconds, failed = await _phase(
                client, targets[name], requests, concurrency, seed + 100 + index
            )
            p50, p99 = percentiles(latencies)
            figures[f"{name}_requests_per_s"] = len(latencies) / seconds
            figures[f"{name}_p50_ms"] = p50
            figures[f"{name}_p99_ms"] = p99
            every += latencies
            wall += seconds
            errors += failed
    p50, p99 = percentiles(every)
    return {
        "requests": float(len(every)),
        "errors": float(errors),
        "requests_per_s": len(every) / wall,
        "p50_ms": p50,
        "p99_ms": p99,
        **figures,
    }


def run_api_bench(
    database_url: str,
    members: int = 1_000_000,
    seed: int = 1,
    *,
    requests: int = 2_000,
    concurrency: int = 32,
    settings: DatabaseSettings | None = None,
) -> dict[str, Any]:
    """Load M members at ``database_url`` (a scratch database at schema head), serve the
    API on it and measure; returns the figures (latencies in ms)."""
    started = time.perf_counter()
    community_id = load_community(database_url, members, seed)
    targets = _targets(database_url, community_id, members, seed)
    profiled = [int(path.rsplit("/", 1)[1]) for path in targets["profile"]]
    _enrich(database_url, community_id, profiled)
    load_s = time.perf_counter() - started
    with _server(database_url, settings or DatabaseSettings()) as base_url:
        figures = asyncio.run(_drive(base_url, targets, requests, concurrency, seed))
    return {
        "members": float(members),
        "load_s": load_s,
        "concurrency": float(concurrency),
        **figures,
    }


def run_in_scratch_database(
    server_url: str,
    settings: DatabaseSettings,
    members: int,
    seed: int = 1,
    *,
    requests: int = 2_000,
    concurrency: int = 32,
) -> dict[str, Any]:
    """``run_api_bench`` in a database of its own on the server at ``server_url``, created,
    migrated and dropped here, so nothing is left behind in the user's database."""
    with translate_errors_sync(server_url, settings), ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_database(server_url, settings))
        except psycopg.errors.InsufficientPrivilege:
            raise ApiBenchFailed(
                "The API bench needs the right to create a scratch database on the server."
            ) from None
        return run_api_bench(
            url, members, seed, requests=requests, concurrency=concurrency, settings=settings
        )
