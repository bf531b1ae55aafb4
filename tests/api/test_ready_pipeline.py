"""``/ready`` shows the ingest pipeline: its state and spool, and 503 when the spool is full."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

import httpx

from tests.core.builders import T0, message
from townsquare.api.app import create_app
from townsquare.config.settings import load_settings
from townsquare.pipeline.ingest import Pipeline


async def _ready(database_url: str, pipeline: Pipeline) -> httpx.Response:
    settings = load_settings(database={"connect_timeout": 2})
    app = create_app(settings, database_url, pipeline=pipeline)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/ready")


async def test_a_running_pipeline_is_ready_and_shows_its_figures(
    migrated_database: str, tmp_path: Path
) -> None:
    settings = load_settings(pipeline={"spool_dir": str(tmp_path / "spool")})
    async with Pipeline(migrated_database, settings.pipeline, settings.database) as pipeline:
        response = await _ready(migrated_database, pipeline)
    assert response.status_code == 200, response.text
    check = response.json()["checks"]["pipeline"]
    assert check["ok"] is True
    assert check["state"] == "running"
    assert check["spool_records"] == 0
    assert check["queue_capacity"] == settings.pipeline.queue_size


async def test_a_full_spool_makes_the_process_unready(tmp_path: Path) -> None:
    # PostgreSQL is unreachable and the spool (1 MB) fills up: ingest waits, /ready is 503.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"postgresql://app@127.0.0.1:{probe.getsockname()[1]}/townsquare"
    settings = load_settings(
        database={"connect_timeout": 2},
        pipeline={
            "spool_dir": str(tmp_path / "spool"),
            "spool_max_mb": 1,
            "queue_size": 10,
            "batch_size": 20,
        },
    )
    pipeline = Pipeline(url, settings.pipeline, settings.database)
    await pipeline.start()
    feeder = asyncio.ensure_future(_feed(pipeline))
    try:
        async with asyncio.timeout(60):
            while not pipeline.figures.spool_full:  # noqa: ASYNC110 - observing from outside
                await asyncio.sleep(0.05)
        assert not feeder.done()  # back-pressure: ingest is waiting, nothing was dropped
        response = await _ready(url, pipeline)
    finally:
        feeder.cancel()
        await pipeline.stop(grace_seconds=1)
    assert response.status_code == 503
    check = response.json()["checks"]["pipeline"]
    assert check["ok"] is False
    assert "spool is full" in check["error"]
    assert check["spool_records"] > 0


async def _feed(pipeline: Pipeline) -> None:
    padding = tuple(f"{i}-{'r' * 200}" for i in range(5))
    for index in range(1_000_000):
        event = message(f"e{index}", at=T0 + index)
        await pipeline.ingest(dataclasses.replace(event, roles=padding))


async def test_ready_shows_the_config_listener(migrated_database: str, tmp_path: Path) -> None:
    settings = load_settings(pipeline={"spool_dir": str(tmp_path / "spool")})
    async with Pipeline(migrated_database, settings.pipeline, settings.database) as pipeline:
        response = await _ready(migrated_database, pipeline)
    assert response.status_code == 200, response.text
    check = response.json()["checks"]["config"]
    assert check["ok"] is True
    assert check["state"] == "listening"
    assert check["attempts"] == 0
    assert check["staleness_s"] == 0.0


async def test_a_stale_config_cache_makes_the_process_unready(tmp_path: Path) -> None:
    # PostgreSQL was never reachable: the breaker opens and the cache has never been fresh.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"postgresql://app@127.0.0.1:{probe.getsockname()[1]}/townsquare"
    settings = load_settings(
        database={"connect_timeout": 1},
        pipeline={"spool_dir": str(tmp_path / "spool")},
        cache={"reconnect_attempts": 1, "poll_seconds": 0.1},
    )
    pipeline = Pipeline(url, settings.pipeline, settings.database, cache_settings=settings.cache)
    await pipeline.start()
    try:
        cache = pipeline.config_cache
        assert cache is not None
        async with asyncio.timeout(30):
            while not cache.readiness()["breaker_open"]:  # noqa: ASYNC110 - observing
                await asyncio.sleep(0.05)
        response = await _ready(url, pipeline)
    finally:
        await pipeline.stop()
    assert response.status_code == 503
    check = response.json()["checks"]["config"]
    assert check["ok"] is False
    assert check["state"] == "polling"
    assert check["breaker_open"] is True
    assert check["staleness_s"] is None
    assert "stale" in check["error"]
