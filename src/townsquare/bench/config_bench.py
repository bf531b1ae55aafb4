"""``townsquare bench config``: how soon a committed config change is visible elsewhere.

A watcher process (``python -m townsquare.bench.config_bench watch ...``) runs a
`ConfigCache` and prints the wall-clock time at which each new config version of the
community becomes visible in it. This process commits one change at a time, the way the
admin services do (document, version and NOTIFY in one transaction), and pairs each
commit's start with the watcher's report: change -> visible in another process.

Two phases: with the listener up (target p99 < 100 ms) and with listening off, so the
cache only polls (target p99 < poll interval + 100 ms). Changes are spaced at random so
they do not fall into step with the poll interval.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from typing import Any

from townsquare.bench.leaderboard_bench import percentiles
from townsquare.config.document import CommunityConfigDocument, Section
from townsquare.config.settings import ConfigCacheSettings, DatabaseSettings
from townsquare.log import configure_logging
from townsquare.store.config_cache import ConfigCache
from townsquare.store.config_documents import read_config, save_document
from townsquare.store.engine import create_db_engine, create_session_factory


async def _watch(url: str, community_id: int, listen: bool, poll_seconds: float) -> None:
    settings = ConfigCacheSettings(listen=listen, poll_seconds=poll_seconds)
    async with ConfigCache(url, settings, DatabaseSettings()) as cache:
        await cache.config_for(community_id)
        version = cache.version(community_id)
        print(f"ready {version}", flush=True)
        while True:
            await cache.wait_for_version(community_id, version + 1)
            seen = time.time()
            version = cache.version(community_id)
            print(f"{version} {seen:.6f}", flush=True)


async def _phase(
    url: str, community_id: int, changes: int, *, listen: bool, poll_seconds: float
) -> list[float]:
    watcher = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "townsquare.bench.config_bench",
        "watch",
        url,
        str(community_id),
        "1" if listen else "0",
        str(poll_seconds),
        stdout=asyncio.subprocess.PIPE,
    )
    assert watcher.stdout is not None
    engine = create_db_engine(url, DatabaseSettings(pool_size=1))
    sessions = create_session_factory(engine)
    rng = random.Random(1)  # noqa: S311 - spacing, not security
    latencies: list[float] = []
    try:
        async with asyncio.timeout(60):
            first = (await watcher.stdout.readline()).decode().split()
        if not first or first[0] != "ready":
            raise RuntimeError("the watcher process did not start")
        for i in range(changes):
            started = time.time()
            async with sessions() as session:
                stored = await read_config(session, community_id, for_update=True)
                raw = stored.document().with_section(
                    Section.BASE_REWARDS, {"message": {"xp": 10 + i % 50, "gold": 1 + i}}
                )
                saved = await save_document(
                    session,
                    stored,
                    CommunityConfigDocument.model_validate(raw),
                    [Section.BASE_REWARDS],
                )
                await session.commit()
            while True:
                async with asyncio.timeout(poll_seconds + 30):
                    version, seen = (await watcher.stdout.readline()).decode().split()
                if int(version) >= saved.version:
                    break
            latencies.append((float(seen) - started) * 1000)
            spacing = rng.uniform(0.0, poll_seconds if not listen else 0.05)
            await asyncio.sleep(spacing)
    finally:
        watcher.terminate()
        await watcher.wait()
        await engine.dispose()
    return latencies


async def _run(url: str, changes: int, poll_changes: int, poll_seconds: float) -> dict[str, Any]:
    engine = create_db_engine(url, DatabaseSettings(pool_size=1))
    try:
        async with engine.begin() as conn:
            community_id = (
                await conn.exec_driver_sql(
                    "INSERT INTO communities (slug, name) VALUES ('bench', 'Bench') RETURNING id"
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    listening = await _phase(url, community_id, changes, listen=True, poll_seconds=poll_seconds)
    polling = await _phase(url, community_id, poll_changes, listen=False, poll_seconds=poll_seconds)
    p50, p99 = percentiles(listening)
    poll_p50, poll_p99 = percentiles(polling)
    return {
        "changes": changes,
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(max(listening), 2),
        "poll_seconds": poll_seconds,
        "poll_changes": poll_changes,
        "poll_p50_ms": round(poll_p50, 2),
        "poll_p99_ms": round(poll_p99, 2),
        "poll_max_ms": round(max(polling), 2),
    }


def run_config_bench(
    url: str, changes: int = 300, poll_changes: int = 40, poll_seconds: float = 1.0
) -> dict[str, Any]:
    """Figures of both phases (keys ``p50_ms``/``p99_ms`` are the listening phase)."""
    return asyncio.run(_run(url, changes, poll_changes, poll_seconds))


if __name__ == "__main__" and sys.argv[1:2] == ["watch"]:
    _, _, watch_url, watch_community, watch_listen, watch_poll = sys.argv
    configure_logging("WARNING")  # stderr: stdout carries the figures
    asyncio.run(_watch(watch_url, int(watch_community), watch_listen == "1", float(watch_poll)))
