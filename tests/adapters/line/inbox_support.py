"""What the webhook, inbox and crash tests share: settings, an app, a database, handlers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.adapters.line.contract import InboxItem, PermanentFailure
from townsquare.adapters.line.webhook import webhook_router
from townsquare.api.app import create_app
from townsquare.config.settings import Settings, load_settings
from townsquare.fakes.line import webhooks
from townsquare.fakes.line.ids import JSON
from townsquare.store.engine import libpq_url

CLINIC_SECRET = "clinic-secret-0123456789abcdef"
SHOP_SECRET = "pharmacy-secret-0123456789abcdef"
BOT_SECRET = "bot-secret-0123456789abcdef"
WARD_SECRET = "ward-secret-0123456789abcdef"
WARD_SLUG = "ward-community"
DESTINATION = "U" + "d" * 32


def line_settings(**line: Any) -> Settings:
    """Four accounts: ``clinic``, ``pharmacy`` and ``bot`` (a community made for each),
    ``ward`` (its one-to-one chats belong to the existing community ``ward-community``)."""
    channels = [
        {"key": "clinic", "secret": CLINIC_SECRET, "access_token": "clinic-token"},
        {"key": "pharmacy", "secret": SHOP_SECRET, "access_token": "pharmacy-token"},
        {"key": "bot", "secret": BOT_SECRET, "access_token": "bot-token"},
        {"key": "ward", "secret": WARD_SECRET, "access_token": "w", "community": WARD_SLUG},
    ]
    return load_settings(
        line={"channels": channels, **line}, database={"pool_size": 3, "max_overflow": 2}
    )


@contextmanager
def database_copy(server_url: str, template: str) -> Iterator[str]:
    """A migrated database of its own (copied from the session's template), with the ward
    community in it; dropped afterwards."""
    name = f"townsquare_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("INSERT INTO communities (slug, name) VALUES (%s, 'Ward')", (WARD_SLUG,))
    try:
        yield url
    finally:
        with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def webhook_client(
    url: str,
    settings: Settings,
    *,
    on_stored: Callable[[], None] | None = None,
    engine: AsyncEngine | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (lifespan running) with the LINE webhook mounted, in process."""
    router = webhook_router(settings.line, on_stored=on_stored, engine=engine)
    app = create_app(settings, url, routers=[router])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def post_events(
    client: httpx.AsyncClient, events: Sequence[JSON], channel: str = "clinic"
) -> httpx.Response:
    secrets = {"clinic": CLINIC_SECRET, "pharmacy": SHOP_SECRET, "bot": BOT_SECRET}
    secret = {**secrets, "ward": WARD_SECRET}[channel]
    request = webhooks.signed(secret, DESTINATION, events)
    return await client.post(
        f"/line/webhook/{channel}", content=request.body, headers=request.headers
    )


def inbox_rows(url: str) -> list[dict[str, Any]]:
    """Every inbox row, oldest first."""
    with psycopg.connect(libpq_url(url), row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM webhook_inbox ORDER BY id").fetchall()


def rows_by_event(url: str) -> dict[str, dict[str, Any]]:
    return {row["webhook_event_id"]: row for row in inbox_rows(url)}


async def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait until ``condition()`` holds (checked every 20 ms), failing after ``seconds``."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still not true after {seconds} s")


# -- handlers ----------------------------------------------------------------------------------


class Recorder:
    """Records every event it handles (and how many ran at once, per chat and overall)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.handled: list[InboxItem] = []
        self.running: dict[str, int] = {}
        self.max_running = 0
        self.max_running_per_key = 0
        self.changed = asyncio.Event()

    async def __call__(self, item: InboxItem) -> None:
        key = webhooks.chat_id(item.payload.get("source") or {"type": "user", "userId": "-"})
        self.running[key] = self.running.get(key, 0) + 1
        self.max_running_per_key = max(self.max_running_per_key, self.running[key])
        self.max_running = max(self.max_running, sum(self.running.values()))
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            self.handled.append(item)
            self.changed.set()
        finally:
            self.running[key] -= 1

    @property
    def event_ids(self) -> list[str]:
        return [item.webhook_event_id for item in self.handled]

    async def wait_for(self, count: int, seconds: float = 20.0) -> None:
        async with asyncio.timeout(seconds):
            while len(self.handled) < count:
                self.changed.clear()
                await self.changed.wait()


class Flaky(Recorder):
    """Fails the first ``failures`` attempts at each event (raising ``error``)."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        super().__init__()
        self.failures = failures
        self.error = error
        self.attempts: list[int] = []

    async def __call__(self, item: InboxItem) -> None:
        self.attempts.append(item.attempts)
        if item.attempts < self.failures:
            self.changed.set()
            raise self.error("the provider is down")
        await super().__call__(item)


class Refuser(Recorder):
    async def __call__(self, item: InboxItem) -> None:
        raise PermanentFailure("the user blocked the account")


class Blocker(Recorder):
    """Starts every event and never finishes one (until cancelled)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []

    async def __call__(self, item: InboxItem) -> None:
        self.started.append(item.webhook_event_id)
        self.changed.set()
        await asyncio.Event().wait()
