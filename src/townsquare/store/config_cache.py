"""The live configuration cache: every community's compiled rules, fresh within moments.

It loads every community's configuration at start and then LISTENs on a dedicated
psycopg connection. A change commits together with its NOTIFY (see
`townsquare.store.config_documents.save_document`); the cache reloads only the community the
notification names, and only if the version it carries is newer than what it holds.

What the predecessor got wrong, and what this does instead:

* Notifications missed while disconnected were lost → after every (re)connect the cache
  re-reads every community's configuration, and only then trusts notifications again.
* The listener retried forever → reconnects back off exponentially with jitter, capped,
  and after ``reconnect_attempts`` failures the breaker opens.
* An open breaker disabled invalidation until restart → while it is open the cache polls
  ``config_version`` every ``poll_seconds`` and reloads what moved; after
  ``breaker_reset_seconds`` it tries to listen again.
* A daemon thread was killed at shutdown → one asyncio task, owned here; `stop` cancels
  it, closes its connections and waits a bounded time.

`readiness` reports the state, the attempts and how stale the cache may be.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
import structlog
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.config.document import CommunityConfigDocument
from townsquare.config.settings import ConfigCacheSettings, DatabaseSettings
from townsquare.core import CommunityRules, compile_rules
from townsquare.errors import NotFound
from townsquare.store.config_documents import StoredConfig, read_config, read_versions
from townsquare.store.engine import create_db_engine, is_unavailable, libpq_url
from townsquare.store.notify import NotifyChannel

log = structlog.get_logger(__name__)

_DB_ERRORS = (psycopg.Error, DBAPIError, PoolTimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class CachedConfig:
    """One community's configuration as the cache holds it."""

    community_id: int
    version: int
    document: CommunityConfigDocument
    rules: CommunityRules


class ConfigCache:
    """Owns the listener task, its connection and a one-connection engine for reloads."""

    def __init__(
        self,
        url: str,
        settings: ConfigCacheSettings,
        database: DatabaseSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.settings = settings
        self.database = database
        self._clock = clock
        self._configs: dict[int, CachedConfig] = {}
        self._default_document = CommunityConfigDocument()
        self._default_rules = compile_rules(self._default_document.rules)
        self._engine: AsyncEngine | None = None
        self._listener: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self.state = "stopped"
        self.attempts = 0
        self.last_error: str | None = None
        self.reloads = 0
        self.notifications = 0
        self._fresh_at: float | None = None
        self._breaker_opened_at: float | None = None

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening (loads the snapshot first). If PostgreSQL is away the cache
        starts anyway, empty, and keeps trying; readers get rules as soon as it is back."""
        if self._task is not None:
            return
        self._engine = create_db_engine(
            self.url, self.database.model_copy(update={"pool_size": 1, "max_overflow": 0})
        )
        self.state = "starting"
        connected = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(connected), name="townsquare-config-listener")
        # Wait for the first connect attempt (either way), so a healthy start is listening.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(connected), self.database.connect_timeout + 1)

    async def stop(self) -> None:
        """Stop the listener and close every connection, waiting at most ``stop_timeout``."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, self.settings.stop_timeout_seconds)
        await self._close_listener()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        self.state = "stopped"

    async def __aenter__(self) -> ConfigCache:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # --- reading ---------------------------------------------------------------------------

    def get(self, community_id: int) -> CachedConfig | None:
        """What the cache holds for a community (None: not loaded yet)."""
        return self._configs.get(community_id)

    async def config_for(self, community_id: int) -> CachedConfig:
        """A community's configuration, loaded now if the cache does not hold it yet."""
        cached = self._configs.get(community_id)
        if cached is None:
            cached = await self._reload(community_id)
        return cached

    async def rules_for(self, _conn: object, community_id: int) -> CommunityRules:
        """The ingest writer's `RulesSource`: compiled rules from memory."""
        return (await self.config_for(community_id)).rules

    def version(self, community_id: int) -> int:
        cached = self._configs.get(community_id)
        return cached.version if cached is not None else 0

    async def wait_for_version(self, community_id: int, version: int) -> CachedConfig:
        """Wait until the cache holds ``version`` (or newer) of a community's configuration."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.version(community_id) >= version)
        return self._configs[community_id]

    def readiness(self) -> dict[str, Any]:
        """Listener state, attempts and staleness for ``/ready``."""
        staleness = self.staleness_seconds()
        detail: dict[str, Any] = {
            "state": self.state,
            "attempts": self.attempts,
            "listen": self.settings.listen,
            "breaker_open": self._breaker_opened_at is not None,
            "staleness_s": None if staleness is None else round(staleness, 3),
            "communities": len(self._configs),
            "reloads": self.reloads,
            "notifications": self.notifications,
        }
        if self.last_error is not None and self.state != "listening":
            detail["last_error"] = self.last_error
        return detail

    def staleness_seconds(self) -> float | None:
        """0 while listening; otherwise seconds since the cache last matched the database
        (None: it never did)."""
        if self.state == "listening":
            return 0.0
        if self._fresh_at is None:
            return None
        return self._clock() - self._fresh_at

    def is_fresh_enough(self) -> bool:
        """Whether readers get config at most a few polls old."""
        staleness = self.staleness_seconds()
        return staleness is not None and staleness <= 3 * self.settings.poll_seconds + 1

    # --- the listener task -----------------------------------------------------------------

    async def _run(self, connected: asyncio.Future[None]) -> None:
        if not self.settings.listen:
            await self._poll_only(connected)
            return
        try:
            while True:
                try:
                    await self._listen(connected)
                except _DB_ERRORS as exc:
                    if not _is_outage(exc):
                        raise
                    await self._after_failure(exc)
                finally:
                    await self._close_listener()
                    if not connected.done():
                        connected.set_result(None)
        except Exception:
            log.exception("config_listener_crashed")
            self.state = "crashed"

    async def _poll_only(self, connected: asyncio.Future[None]) -> None:
        """Listening turned off (a pooler that cannot LISTEN): poll for good."""
        self.state = "polling"
        while True:
            await self._poll()
            if not connected.done():
                connected.set_result(None)
            await asyncio.sleep(self.settings.poll_seconds)

    async def _listen(self, connected: asyncio.Future[None]) -> None:
        self._listener = await psycopg.AsyncConnection.connect(
            libpq_url(self.url),
            autocommit=True,
            connect_timeout=self.database.connect_timeout,
            application_name="townsquare-config-listener",
        )
        await self._listener.execute(f"LISTEN {NotifyChannel.CONFIG.value}")
        # Anything that changed while we were not listening is only in the database.
        await self._reload_all()
        was = self.state
        self.state = "listening"
        self.attempts = 0
        self._breaker_opened_at = None
        if not connected.done():
            connected.set_result(None)
        log.info("config_listener_connected", previous_state=was)
        while True:
            heard = False
            async for notify in self._listener.notifies(timeout=self.settings.keepalive_seconds):
                heard = True
                await self._on_notify(notify.payload)
            if not heard:
                # Quiet for a while: make sure the connection is still there.
                await self._listener.execute("SELECT 1")

    async def _after_failure(self, exc: BaseException) -> None:
        self.attempts += 1
        self.last_error = _describe(exc)
        log.warning("config_listener_failed", attempts=self.attempts, error=type(exc).__name__)
        if self.attempts < self.settings.reconnect_attempts:
            self.state = "reconnecting"
            await asyncio.sleep(self._backoff(self.attempts))
            return
        # Breaker open: poll the versions until it is time to try listening again.
        if self._breaker_opened_at is None:
            self._breaker_opened_at = self._clock()
            log.error("config_listener_breaker_open", attempts=self.attempts)
        self.state = "polling"
        deadline = self._clock() + self.settings.breaker_reset_seconds
        while self._clock() < deadline:
            await self._poll()
            await asyncio.sleep(self.settings.poll_seconds)

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff with full jitter (AWS's "full jitter")."""
        ceiling = min(
            self.settings.backoff_max_seconds,
            self.settings.backoff_initial_seconds * 2 ** (attempt - 1),
        )
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    async def _poll(self) -> None:
        try:
            versions = await self._read_versions()
            for community_id, version in versions.items():
                if version > self.version(community_id):
                    with contextlib.suppress(NotFound):
                        await self._reload(community_id)
            self._fresh_at = self._clock()
        except _DB_ERRORS as exc:
            if not _is_outage(exc):
                raise
            self.last_error = _describe(exc)

    async def _on_notify(self, payload: str) -> None:
        self.notifications += 1
        try:
            message = orjson.loads(payload)
            community_id = int(message["community"])
            version = int(message["version"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("config_notification_unreadable")
            return
        if version > self.version(community_id):
            with contextlib.suppress(NotFound):
                await self._reload(community_id)

    # --- loading ---------------------------------------------------------------------------

    async def _read_versions(self) -> dict[int, int]:
        assert self._engine is not None
        async with self._engine.connect() as conn:
            return await read_versions(conn)

    async def _reload_all(self) -> None:
        """Re-read every community (after a reconnect: notifications may have been missed)."""
        versions = await self._read_versions()
        for community_id in set(self._configs) - set(versions):
            del self._configs[community_id]
        for community_id in versions:
            with contextlib.suppress(NotFound):  # deleted meanwhile
                await self._reload(community_id)
        self._fresh_at = self._clock()

    async def _reload(self, community_id: int) -> CachedConfig:
        assert self._engine is not None, "the config cache is not started"
        async with self._engine.connect() as conn:
            try:
                stored = await read_config(conn, community_id)
            except NotFound:
                self._configs.pop(community_id, None)
                raise
        cached = self._compile(stored)
        self.reloads += 1
        async with self._changed:
            current = self._configs.get(community_id)
            if current is None or cached.version >= current.version:
                self._configs[community_id] = cached
            self._changed.notify_all()
        return self._configs[community_id]

    def _compile(self, stored: StoredConfig) -> CachedConfig:
        previous = self._configs.get(stored.community_id)
        if previous is not None and previous.version == stored.version:
            return previous
        try:
            document = stored.document()
        except ValidationError as exc:
            # Written by older code or by hand: keep the last good rules, loudly.
            log.error(
                "stored_config_invalid",
                community=stored.community_id,
                version=stored.version,
                errors=exc.error_count(),
            )
            if previous is not None:
                return CachedConfig(
                    stored.community_id, stored.version, previous.document, previous.rules
                )
            return CachedConfig(
                stored.community_id,
                stored.version,
                self._default_document,
                self._default_rules,
            )
        rules = (
            self._default_rules
            if document == self._default_document
            else compile_rules(document.rules)
        )
        return CachedConfig(stored.community_id, stored.version, document, rules)

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close()


def _is_outage(exc: BaseException) -> bool:
    """A database error that means "not reachable now" (retry), not "this query is wrong".

    Raw psycopg and socket errors come from the listener's own connection, where any of
    them means the connection is gone.
    """
    return not isinstance(exc, DBAPIError | PoolTimeoutError) or is_unavailable(exc)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
