"""Inbox workers: order per chat, bounded concurrency, retries, dead letters, leases, stop.

Each test has a migrated database of its own (workers commit); events reach the inbox the
way they do in production, through the signed webhook.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from tests.adapters.line.inbox_support import (
    Blocker,
    Flaky,
    Recorder,
    Refuser,
    database_copy,
    eventually,
    inbox_rows,
    line_settings,
    post_events,
    rows_by_event,
    webhook_client,
)
from townsquare.adapters.line.contract import EventHandler
from townsquare.adapters.line.inbox import InboxOptions, InboxWorker, backoff_seconds
from townsquare.adapters.line.runner import LineAdapter
from townsquare.config.settings import DatabaseSettings, Settings
from townsquare.errors import SettingsInvalid
from townsquare.fakes.line import ids, webhooks
from townsquare.fakes.line.ids import JSON
from townsquare.store import webhook_inbox
from townsquare.store.engine import create_db_engine, libpq_url

NO_PIPELINE: Any = None  # the handlers here need none
FAST = InboxOptions(lease_seconds=30.0, poll_seconds=0.05, depth_seconds=0.1)


@pytest.fixture
def database(postgres_server: str, migrated_template: str) -> Iterator[str]:
    with database_copy(postgres_server, migrated_template) as url:
        yield url


@pytest.fixture
async def engine(database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_db_engine(database, DatabaseSettings(pool_size=4, max_overflow=4))
    yield engine
    await engine.dispose()


async def _store(database: str, events: list[JSON], channel: str = "clinic") -> None:
    async with webhook_client(database, line_settings()) as client:
        for event in events:
            response = await post_events(client, [event], channel)
            assert response.status_code == 200


@asynccontextmanager
async def _worker(
    engine: AsyncEngine,
    handler: EventHandler,
    settings: Settings | None = None,
    options: InboxOptions = FAST,
) -> AsyncIterator[InboxWorker]:
    worker = InboxWorker(
        engine, handler, (settings or line_settings()).line, options, rng=random.Random(1)
    )
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop(grace_seconds=2)


def _chat(n: int) -> JSON:
    return webhooks.group_source(f"C{n:032d}", ids.user_id())


async def test_stored_events_are_handled_and_their_payload_cleared(
    database: str, engine: AsyncEngine
) -> None:
    events = [webhooks.text_message(webhooks.user_source(ids.user_id()), "hi") for _ in range(5)]
    await _store(database, events)
    recorder = Recorder()
    async with _worker(engine, recorder):
        await recorder.wait_for(5)
    assert sorted(recorder.event_ids) == sorted(e["webhookEventId"] for e in events)
    handled = recorder.handled[0]
    assert handled.channel_key == "clinic"
    assert handled.attempts == 0
    assert handled.payload["type"] == "message"
    for row in inbox_rows(database):
        assert (row["status"], row["payload"], row["attempts"]) == ("done", None, 0)
        assert row["processed_at"] is not None


async def test_one_chat_at_a_time_in_order_several_chats_at_once(
    database: str, engine: AsyncEngine
) -> None:
    chats = [_chat(n) for n in range(4)]
    events = [webhooks.text_message(chats[i % 4], f"m{i}") for i in range(24)]
    await _store(database, events)
    recorder = Recorder(delay=0.02)
    async with _worker(engine, recorder, line_settings(workers=3)):
        await recorder.wait_for(24)
    assert recorder.max_running_per_key == 1
    assert 1 < recorder.max_running <= 3
    for chat in chats:
        sent = [e["webhookEventId"] for e in events if e["source"] == chat]
        handled = [i.webhook_event_id for i in recorder.handled if i.payload["source"] == chat]
        assert handled == sent


async def test_a_failing_handler_is_retried_with_backoff_then_succeeds(
    database: str, engine: AsyncEngine
) -> None:
    event = webhooks.follow(webhooks.user_source(ids.user_id()))
    await _store(database, [event])
    flaky = Flaky(failures=2)
    settings = line_settings(retry_initial_seconds=0.05, retry_max_seconds=0.1)
    with capture_logs() as logs:
        async with _worker(engine, flaky, settings):
            await flaky.wait_for(1)
    assert flaky.attempts == [0, 1, 2]
    [row] = inbox_rows(database)
    assert (row["status"], row["attempts"]) == ("done", 2)
    assert row["last_error"] == "ConnectionError: the provider is down"
    retries = [entry for entry in logs if entry["event"] == "line_event_retry"]
    assert [r["attempts"] for r in retries] == [1, 2]
    assert retries[0]["error"] == "ConnectionError"
    assert retries[0]["event_id"] == event["webhookEventId"]


async def test_a_handler_that_keeps_failing_is_dead_lettered_with_a_clear_log(
    database: str, engine: AsyncEngine
) -> None:
    event = webhooks.text_message(webhooks.user_source(ids.user_id()), "private words")
    later = webhooks.text_message(event["source"], "after it")
    await _store(database, [event, later])
    flaky = Flaky(failures=99)
    settings = line_settings(max_attempts=3, retry_initial_seconds=0.02, retry_max_seconds=0.05)
    with capture_logs() as logs:
        async with _worker(engine, flaky, settings) as worker:
            await eventually(lambda: worker.figures.dead_lettered >= 2)
    rows = rows_by_event(database)
    dead = rows[event["webhookEventId"]]
    assert (dead["status"], dead["attempts"]) == ("dead", 3)
    assert dead["payload"] == event  # kept for the retention period, to see why
    assert dead["last_error"].startswith("ConnectionError")
    [line, _] = [entry for entry in logs if entry["event"] == "line_event_dead"]
    assert line["log_level"] == "error"
    assert line["event_id"] == event["webhookEventId"]
    assert line["inbox_id"] == dead["id"]
    assert line["community"] == dead["community_id"]
    assert (line["event_type"], line["attempts"], line["error"]) == (
        "message",
        3,
        "ConnectionError",
    )
    assert line["reason"] == "attempts_exhausted"
    assert "private words" not in repr(logs)  # never the payload
    assert flaky.attempts == [0, 1, 2, 0, 1, 2]  # the chat's next event waited its turn


async def test_a_permanent_failure_is_dead_lettered_at_once(
    database: str, engine: AsyncEngine
) -> None:
    await _store(database, [webhooks.follow(webhooks.user_source(ids.user_id()))])
    with capture_logs() as logs:
        async with _worker(engine, Refuser()) as worker:
            await eventually(lambda: worker.figures.dead_lettered >= 1)
    [row] = inbox_rows(database)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert row["last_error"] == "PermanentFailure: the user blocked the account"
    [line] = [entry for entry in logs if entry["event"] == "line_event_dead"]
    assert line["reason"] == "permanent_failure"


async def test_a_duplicate_and_a_redelivered_webhook_are_handled_once(
    database: str, engine: AsyncEngine
) -> None:
    event = webhooks.text_message(webhooks.user_source(ids.user_id()), "once")
    redelivered = {**event, "deliveryContext": {"isRedelivery": True}}
    await _store(database, [event, event, redelivered])
    recorder = Recorder()
    async with _worker(engine, recorder):
        await recorder.wait_for(1)
        await _store(database, [redelivered])  # even after it was handled
        await asyncio.sleep(0.3)
    assert recorder.event_ids == [event["webhookEventId"]]


async def test_an_event_whose_worker_died_is_taken_again_after_its_lease(
    database: str, engine: AsyncEngine
) -> None:
    await _store(database, [webhooks.follow(webhooks.user_source(ids.user_id()))])
    async with engine.begin() as conn:  # a worker claims it, then dies without a word
        [claimed] = await webhook_inbox.claim_due(conn, "line", 10, lease_seconds=0.3)
    recorder = Recorder()
    async with _worker(engine, recorder):
        await recorder.wait_for(1)
    assert recorder.handled[0].attempts == 1  # the lost attempt counts
    [row] = inbox_rows(database)
    assert (row["status"], row["attempts"]) == ("done", 1)
    async with engine.begin() as conn:  # the dead worker's late word changes nothing
        assert not await webhook_inbox.finish(conn, claimed, claimed.lease, "retry", error="x")


async def test_an_event_that_kills_its_worker_every_time_ends_dead(
    database: str, engine: AsyncEngine
) -> None:
    await _store(database, [webhooks.follow(webhooks.user_source(ids.user_id()))])
    for _ in range(2):
        async with engine.begin() as conn:
            [_claimed] = await webhook_inbox.claim_due(conn, "line", 1, lease_seconds=0.01)
        await asyncio.sleep(0.05)
    recorder = Recorder()
    async with _worker(engine, recorder, line_settings(max_attempts=2)) as worker:
        await eventually(lambda: worker.figures.dead_lettered >= 1)
    assert recorder.handled == []
    [row] = inbox_rows(database)
    assert (row["status"], row["attempts"]) == ("dead", 2)
    assert row["last_error"].startswith("LeaseExpired")


async def test_a_long_handler_keeps_its_lease(database: str, engine: AsyncEngine) -> None:
    await _store(database, [webhooks.follow(webhooks.user_source(ids.user_id()))])
    recorder = Recorder(delay=1.0)
    options = InboxOptions(lease_seconds=0.3, poll_seconds=0.05)
    async with _worker(engine, recorder, options=options) as worker:
        await recorder.wait_for(1)
    assert worker.figures.lost_leases == 0
    [row] = inbox_rows(database)
    assert (row["status"], row["attempts"]) == ("done", 0)


async def test_a_slow_handler_times_out_and_is_retried(database: str, engine: AsyncEngine) -> None:
    await _store(database, [webhooks.follow(webhooks.user_source(ids.user_id()))])
    settings = line_settings(max_attempts=1)
    options = InboxOptions(poll_seconds=0.05, handler_timeout=0.1)
    async with _worker(engine, Blocker(), settings, options) as worker:
        await eventually(lambda: worker.figures.dead_lettered >= 1)
    [row] = inbox_rows(database)
    assert row["last_error"] == "TimeoutError"


async def test_stop_gives_unfinished_events_back_without_counting_an_attempt(
    database: str, engine: AsyncEngine
) -> None:
    events = [webhooks.follow(webhooks.user_source(ids.user_id())) for _ in range(3)]
    await _store(database, events)
    blocker = Blocker()
    worker = InboxWorker(engine, blocker, line_settings(workers=2).line, FAST)
    await worker.start()
    await eventually(lambda: len(blocker.started) >= 2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await worker.stop(grace_seconds=0.5)
    assert loop.time() - started < 1.6
    for row in inbox_rows(database):
        assert (row["status"], row["attempts"]) == ("pending", 0)
    recorder = Recorder()
    async with _worker(engine, recorder):  # a new worker takes them at once
        await recorder.wait_for(3, seconds=5)


async def test_readiness_shows_the_inbox_depth(database: str, engine: AsyncEngine) -> None:
    await _store(database, [webhooks.follow(webhooks.user_source(ids.user_id()))] * 1)
    worker = InboxWorker(engine, Recorder(), line_settings(workers=5).line, FAST)
    await worker.refresh_depth()
    figures = worker.readiness()
    assert (figures["pending"], figures["processing"], figures["dead"]) == (1, 0, 0)
    assert figures["oldest_pending_seconds"] >= 0
    assert (figures["workers"], figures["in_flight"]) == (5, 0)


async def test_retention_clears_dead_payloads_and_deletes_old_rows(
    database: str, engine: AsyncEngine
) -> None:
    events = [webhooks.follow(webhooks.user_source(ids.user_id())) for _ in range(2)]
    await _store(database, events)
    with psycopg.connect(libpq_url(database)) as conn:
        conn.execute(
            "UPDATE webhook_inbox SET status = 'dead', processed_at = now() - interval '8 days' "
            "WHERE webhook_event_id = %s",
            (events[0]["webhookEventId"],),
        )
        conn.execute(
            "UPDATE webhook_inbox SET status = 'done', payload = NULL, "
            "processed_at = now() - interval '8 days' WHERE webhook_event_id = %s",
            (events[1]["webhookEventId"],),
        )
    async with engine.begin() as conn:
        counts = await webhook_inbox.expire_finished(
            conn,
            "line",
            done_after=timedelta(days=7),
            dead_payload_after=timedelta(days=7),
            dead_after=timedelta(days=30),
        )
    assert counts == (1, 1, 0)
    [row] = inbox_rows(database)
    assert (row["webhook_event_id"], row["status"], row["payload"]) == (
        events[0]["webhookEventId"],
        "dead",
        None,
    )


@pytest.mark.parametrize(("failures", "low", "high"), [(1, 0.5, 1.0), (3, 2.0, 4.0), (30, 5, 10)])
def test_backoff_doubles_with_jitter_and_is_capped(failures: int, low: float, high: float) -> None:
    rng = random.Random(7)
    delays = [backoff_seconds(failures, 1.0, 10.0, rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 100  # jittered


async def test_the_adapter_runs_the_workers_and_reports_them(
    database: str, engine: AsyncEngine
) -> None:
    recorder = Recorder()
    adapter = LineAdapter(
        line_settings(workers=2).line, NO_PIPELINE, engine, lambda _p, _e: recorder, options=FAST
    )
    assert adapter.readiness()["status"] == "starting"
    await adapter.start()
    try:
        await _store(database, [webhooks.follow(webhooks.user_source(ids.user_id()))])
        await recorder.wait_for(1)
        await asyncio.sleep(0.3)
        ready = adapter.readiness()
        assert ready["status"] == "ok"
        assert ready["channels"] == ["clinic", "pharmacy", "bot", "ward"]
        assert ready["workers"] == 2
        assert ready["pending"] == 0
        assert ready["done"] == 1
    finally:
        await adapter.stop(grace_seconds=2)
    await asyncio.wait_for(adapter.wait_stopped(), 2)
    assert adapter.failed is None


async def test_the_adapter_refuses_a_community_slug_that_does_not_exist(
    engine: AsyncEngine,
) -> None:
    settings = line_settings()
    channels = [settings.line.channels[0].model_copy(update={"community": "nowhere"})]
    line = settings.line.model_copy(update={"channels": tuple(channels)})
    adapter = LineAdapter(line, NO_PIPELINE, engine, lambda _p, _e: Recorder())
    with pytest.raises(SettingsInvalid, match="nowhere"):
        await adapter.start()
