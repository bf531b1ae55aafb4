"""Recording verified events: the group commit, poisoned batches, a database that is down."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.adapters.line.inbox_support import (
    database_copy,
    line_settings,
    post_events,
    rows_by_event,
    webhook_client,
)
from townsquare.adapters.line.inbox_writer import InboxRecorder, VerifiedEvent
from townsquare.adapters.line.webhook import accept
from townsquare.config.settings import DatabaseSettings
from townsquare.fakes.line import ids, webhooks
from townsquare.fakes.line.ids import JSON
from townsquare.store.engine import create_db_engine

USER = ids.user_id()
ALONE = webhooks.user_source(USER)


@pytest.fixture(scope="module")
def database(postgres_server: str, migrated_template: str) -> Iterator[str]:
    with database_copy(postgres_server, migrated_template) as url:
        yield url


@pytest.fixture
async def engine(database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_db_engine(database, DatabaseSettings(pool_size=4, max_overflow=0))
    yield engine
    await engine.dispose()


def _verified(source: JSON) -> VerifiedEvent:
    event = webhooks.text_message(source, "hi")
    found = accept("clinic", event)
    assert found is not None
    return found


async def test_concurrent_webhooks_share_commits_and_are_all_recorded(
    database: str, engine: AsyncEngine
) -> None:
    recorder = InboxRecorder({c.key: c for c in line_settings().line.channels})
    events = [_verified(ALONE) for _ in range(40)]
    results = await asyncio.gather(*(recorder.record(engine, "clinic", [e]) for e in events))
    assert all(stored >= 1 for stored in results)
    stored = rows_by_event(database)
    assert all(e.webhook_event_id in stored for e in events)
    assert recorder.commits < 40


async def test_one_requests_bad_rows_do_not_fail_the_requests_batched_with_it(
    database: str, engine: AsyncEngine
) -> None:
    recorder = InboxRecorder({c.key: c for c in line_settings().line.channels})
    doomed_group = webhooks.group_source(ids.group_id(), USER)
    doomed = _verified(doomed_group)
    recorder.communities._known.put(doomed.space, 2**40)  # a community deleted since
    await recorder.record(engine, "clinic", [_verified(ALONE)])  # the account's is known
    others = [_verified(ALONE) for _ in range(10)]
    # The first call commits alone; the other ten, the doomed one among them, queue up and
    # are written as one batch — which fails, and is then written one request at a time.
    calls = [recorder.record(engine, "clinic", [e]) for e in [*others[:5], doomed, *others[5:]]]
    results = await asyncio.gather(*calls, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1
    assert type(failed[0]).__name__ == "IntegrityError"
    stored = rows_by_event(database)
    assert all(e.webhook_event_id in stored for e in others)
    # The stale answer was forgotten: LINE's redelivery is recorded (in a new community).
    assert await recorder.record(engine, "clinic", [doomed]) == 1
    assert recorder.commits == 1 + 1 + 9 + 1  # warm-up, first, the nine good alone, retry


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://app:pw@127.0.0.1:{port}/townsquare"


async def test_a_database_that_is_down_is_503_so_line_retries(database: str) -> None:
    down: AsyncEngine = create_db_engine(
        _closed_port_url(), DatabaseSettings(connect_timeout=1, pool_timeout=2)
    )
    try:
        async with webhook_client(database, line_settings(), engine=down) as client:
            response = await post_events(client, [webhooks.follow(ALONE)])
    finally:
        await down.dispose()
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
