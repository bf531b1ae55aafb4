"""PostgreSQL goes away mid-stream: batches are spooled, replayed in order, none doubled.

These tests stop and start a PostgreSQL of their own (the shared test server stays up).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.pipeline.test_pipeline import (
    assert_rules_applied,
    query,
    random_events,
    settings,
)
from townsquare.config.settings import DatabaseSettings
from townsquare.core import Event
from townsquare.pipeline.ingest import Pipeline
from townsquare.store import migrate
from townsquare.store.embedded import EmbeddedPostgres
from townsquare.store.engine import create_sync_engine

FAST_FAIL = DatabaseSettings(connect_timeout=2)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg", durable=False)
    server.start()
    engine = create_sync_engine(server.url, DatabaseSettings())
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    try:
        yield server
    finally:
        server.stop()


async def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - polls state seen from outside
            await asyncio.sleep(0.05)


async def test_an_outage_spools_and_replays_without_loss_or_doubling(
    own_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    url = own_server.url
    events = random_events(5, 600)
    pipeline = Pipeline(url, settings(tmp_path, batch_size=50), FAST_FAIL)
    await pipeline.start()
    try:
        for event in events[:200]:
            await pipeline.ingest(event)
        await pipeline.flush()
        await asyncio.to_thread(own_server.stop)

        for event in events[200:450]:
            await pipeline.ingest(event)
        await pipeline.flush()
        ready = pipeline.readiness()
        assert ready["state"] == "outage"
        assert ready["spool_records"] > 0
        assert ready["last_error"]

        await asyncio.to_thread(own_server.start)
        # New events keep coming while the spool drains; they must land after it, in order.
        for event in events[450:]:
            await pipeline.ingest(event)
        await wait_for(lambda: pipeline.readiness()["spool_records"] == 0)
        await pipeline.flush()
        assert pipeline.readiness()["state"] == "running"
    finally:
        await pipeline.stop()
    (count,) = (await query(url, "SELECT count(*) FROM events"))[0]
    assert count == len(events)
    await assert_rules_applied(url, events)


async def test_a_full_spool_pushes_back_instead_of_dropping(
    own_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    url = own_server.url
    events = random_events(9, 2500)
    pipeline = Pipeline(
        url, settings(tmp_path, batch_size=100, queue_size=100, spool_max_mb=1), FAST_FAIL
    )
    # Big events (many long role ids), so a 1 MB spool fills quickly.
    padded = [
        dataclasses.replace(e, roles=tuple(f"{i}-{'r' * 150}" for i in range(4))) for e in events
    ]
    await pipeline.start()
    try:
        await asyncio.to_thread(own_server.stop)
        feeder = asyncio.ensure_future(_feed_all(pipeline, padded))
        await wait_for(lambda: "full" in (pipeline.figures.last_error or ""))
        assert not feeder.done()  # ingest is waiting: back-pressure, not loss
        await asyncio.to_thread(own_server.start)
        await asyncio.wait_for(feeder, 120)
        await pipeline.flush()
        await wait_for(lambda: pipeline.readiness()["spool_records"] == 0)
    finally:
        await pipeline.stop()
    (count,) = (await query(url, "SELECT count(*) FROM events"))[0]
    assert count == len(padded)


async def _feed_all(pipeline: Pipeline, events: list[Event]) -> None:
    for event in events:
        await pipeline.ingest(event)


async def test_a_batch_larger_than_the_whole_spool_is_written_once_the_database_is_back(
    own_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    url = own_server.url
    events = random_events(13, 1500)
    padded = [
        dataclasses.replace(e, roles=tuple(f"{i}-{'r' * 300}" for i in range(4))) for e in events
    ]
    pipeline = Pipeline(
        url, settings(tmp_path, batch_size=1500, linger_ms=200, spool_max_mb=1), FAST_FAIL
    )
    await pipeline.start()
    try:
        await asyncio.to_thread(own_server.stop)
        feeder = asyncio.ensure_future(_feed_all(pipeline, padded))
        await wait_for(lambda: pipeline.figures.spool_full)
        await asyncio.to_thread(own_server.start)
        await asyncio.wait_for(feeder, 120)
        await pipeline.flush()
    finally:
        await pipeline.stop()
    (count,) = (await query(url, "SELECT count(*) FROM events"))[0]
    assert count == len(padded)
