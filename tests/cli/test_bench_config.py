"""``townsquare bench config`` times real changes through a real second process."""

from __future__ import annotations

import asyncio

import psycopg

from townsquare.bench.config_bench import run_config_bench
from townsquare.store.engine import libpq_url


async def test_bench_config_times_every_change_in_both_phases(migrated_database: str) -> None:
    figures = await asyncio.to_thread(
        run_config_bench, migrated_database, changes=12, poll_changes=5, poll_seconds=0.2
    )
    assert set(figures) >= {"p50_ms", "p99_ms", "poll_p50_ms", "poll_p99_ms"}
    assert (figures["changes"], figures["poll_changes"]) == (12, 5)
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert 0 < figures["poll_p50_ms"] <= figures["poll_p99_ms"] <= figures["poll_max_ms"]
    # Every change was committed (and seen: the bench waits for each one).
    with psycopg.connect(libpq_url(migrated_database)) as conn:
        row = conn.execute("SELECT config_version FROM communities WHERE slug = 'bench'").fetchone()
    assert row == (1 + 12 + 5,)
