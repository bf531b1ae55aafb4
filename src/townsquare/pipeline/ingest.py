"""The ingest pipeline: a bounded queue in front of the micro-batch writer and the spool.

``await pipeline.ingest(event)`` returns as soon as the event is queued and waits (never
drops) when the queue is full. One drain task — owned by the pipeline, stopped by
``stop()`` — takes up to ``batch_size`` events or whatever arrived within ``linger_ms`` and
hands them to the `BatchWriter`. When PostgreSQL cannot be reached the batch goes to the
outage spool instead (fsync'd), and so does every later batch, in order, until a probe
reconnects; then the spool is replayed oldest first and acknowledged record by record.
When the spool is full, the drain task waits, the queue fills and ``ingest`` waits: the
back-pressure reaches the adapters instead of the disk filling up or events vanishing.

Outcomes (level-ups, unlocks, role changes) reach subscribers only after their commit.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
import structlog

from townsquare.config.settings import DatabaseSettings, PipelineSettings
from townsquare.core import Event
from townsquare.errors import TownsquareError
from townsquare.pipeline.directory import Connection
from townsquare.pipeline.event_codec import decode_event, encode_event
from townsquare.pipeline.rules_source import StoredRules
from townsquare.pipeline.spool import Spool, SpoolFull
from townsquare.pipeline.writer import BatchResult, BatchWriter, Published, RulesSource
from townsquare.store.engine import display_url

log = structlog.get_logger(__name__)

#: How many ingest->commit latencies are kept for the percentiles.
_LATENCY_WINDOW = 100_000


class PipelineStopped(TownsquareError):
    """``ingest`` was called on a pipeline that is not running."""

    status = 503
    code = "pipeline-stopped"


@dataclass(slots=True)
class PipelineFigures:
    """What `/ready` and the benchmark report."""

    state: str = "stopped"
    queued: int = 0
    committed_events: int = 0
    duplicates: int = 0
    failed_events: int = 0
    batches: int = 0
    statements: int = 0
    ledger_rows: int = 0
    spooled_batches: int = 0
    replayed_batches: int = 0
    deferred: int = 0
    dead_lettered: int = 0
    owned_communities: int = 0
    last_error: str | None = None
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))

    def percentile(self, fraction: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _conninfo(url: str) -> str:
    """libpq conninfo for a SQLAlchemy-style URL."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def connect_writer(url: str, settings: DatabaseSettings) -> Connection:
    """The writer's own connection (outside the pool: it holds session advisory locks)."""
    return await psycopg.AsyncConnection.connect(
        _conninfo(url),
        autocommit=True,
        connect_timeout=settings.connect_timeout,
        options=f"-c statement_timeout={settings.statement_timeout_ms}",
        application_name="townsquare-writer",
    )


#: Generation-0 threshold while a pipeline runs (CPython's default is 700).
GC_THRESHOLD = 50_000


def relax_garbage_collection() -> None:
    """Collect young objects less often; the writer's caches make each collection costly.

    The writer keeps hundreds of thousands of long-lived objects (member states, ids) and
    allocates a few dozen short-lived ones per event; with CPython's default thresholds the
    collector rescans the old ones so often that it doubled the writer's CPU per event
    (measured: 121 -> 60 us). Reference counting still frees almost everything at once;
    this only spaces out the cycle searches. Process-wide, so the pipeline (the process's
    main workload) sets it once and never lowers an already higher threshold.
    """
    first, second, third = gc.get_threshold()
    if first < GC_THRESHOLD:
        gc.set_threshold(GC_THRESHOLD, second, third)


def _is_outage(exc: BaseException) -> bool:
    """A failure of the connection or server, not of our SQL."""
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | OSError):
        return True
    state = getattr(exc, "sqlstate", None)
    return isinstance(state, str) and state.startswith(("08", "57P", "53"))


class Pipeline:
    """Owns the queue, the drain task, the writer's connection and the spool."""

    def __init__(
        self,
        url: str,
        settings: PipelineSettings,
        database: DatabaseSettings,
        *,
        rules: RulesSource | None = None,
        spool: Spool | None = None,
        connect: Callable[[], Awaitable[Connection]] | None = None,
    ) -> None:
        self.url = url
        self.settings = settings
        self.database = database
        self.rules = rules or StoredRules()
        self.spool = spool or Spool(settings.spool_dir, max_bytes=settings.spool_max_mb << 20)
        self._connect = connect or (lambda: connect_writer(url, database))
        self._queue: asyncio.Queue[tuple[Event, float]] = asyncio.Queue(settings.queue_size)
        self._writer: BatchWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._deferred: list[tuple[Event, float]] = []
        self._no_deferred = asyncio.Event()
        self._no_deferred.set()
        self._subscribers: list[asyncio.Queue[Published]] = []
        self._retry_at = 0.0
        self._backoff = 0.5
        self.figures = PipelineFigures()

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (or start in outage mode if PostgreSQL is away) and start draining."""
        if self._task is not None:
            return
        relax_garbage_collection()
        self._stopping.clear()
        try:
            await self._open()
        except Exception as exc:
            if not _is_outage(exc):
                raise
            self._enter_outage(exc)
        if len(self.spool):
            self.figures.state = "outage" if self._writer is None else "replaying"
        self._task = asyncio.create_task(self._drain(), name="townsquare-pipeline-drain")

    async def stop(self, grace_seconds: float = 30.0) -> None:
        """Write (or spool) what is queued, release the communities, close. Bounded."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_seconds)
        except TimeoutError:
            task.cancel()
            log.error("pipeline stop timed out; queued events were not written", queued=self.queued)
        finally:
            await self._close()
            self.figures.state = "stopped"

    async def __aenter__(self) -> Pipeline:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # --- the public interface --------------------------------------------------------------

    async def ingest(self, event: Event) -> None:
        """Queue one event; waits while the queue is full (back-pressure), never drops."""
        if self._task is None or self._stopping.is_set():
            raise PipelineStopped("The ingest pipeline is not running; the event was not taken.")
        await self._queue.put((event, time.monotonic()))

    async def flush(self) -> None:
        """Wait until everything queued so far is committed, spooled or dead-lettered.

        Events waiting for a community another writer owns are waited for too (wrap the
        call in ``asyncio.timeout`` if that other writer may never let go).
        """
        await self._queue.join()
        await self._no_deferred.wait()

    def subscribe(self, maxsize: int = 10_000) -> asyncio.Queue[Published]:
        """Outcomes after commit; a subscriber that falls behind loses the oldest ones."""
        queue: asyncio.Queue[Published] = asyncio.Queue(maxsize)
        self._subscribers.append(queue)
        return queue

    @property
    def queued(self) -> int:
        return self._queue.qsize() + len(self._deferred)

    def readiness(self) -> dict[str, Any]:
        """The pipeline's part of `/ready`."""
        stats = self.spool.stats()
        figures = self.figures
        return {
            "state": figures.state,
            "queued": self.queued,
            "queue_capacity": self.settings.queue_size,
            "committed_events": figures.committed_events,
            "owned_communities": figures.owned_communities,
            "spool_records": stats.records,
            "spool_bytes": stats.bytes,
            "spool_max_bytes": stats.max_bytes,
            "dead_lettered": figures.dead_lettered,
            "last_error": figures.last_error,
        }

    # --- the drain loop --------------------------------------------------------------------

    async def _drain(self) -> None:
        while True:
            batch, taken = await self._next_batch()
            if not batch:
                return
            try:
                await self._handle(batch)
            finally:
                if not self._deferred:
                    self._no_deferred.set()
                for _ in range(taken):
                    self._queue.task_done()

    async def _next_batch(self) -> tuple[list[tuple[Event, float]], int]:
        """Up to batch_size events, waiting at most linger_ms after the first one.

        Returns the batch and how many of its events came off the queue (the rest were
        deferred by an earlier batch and are retried first, in order).
        """
        limit = self.settings.batch_size
        batch = self._deferred[:limit]
        del self._deferred[:limit]
        taken = 0
        while not batch:
            # While the spool holds batches, wake up to retry PostgreSQL even if idle.
            idle = None
            if self._writer is None or len(self.spool):
                idle = max(0.05, self._retry_at - time.monotonic())
            getter = asyncio.ensure_future(self._queue.get())
            stopper = asyncio.ensure_future(self._stopping.wait())
            done, _ = await asyncio.wait(
                {getter, stopper}, timeout=idle, return_when=asyncio.FIRST_COMPLETED
            )
            stopper.cancel()
            if getter in done:
                batch.append(getter.result())
                taken += 1
                break
            getter.cancel()
            if stopper in done and self._queue.empty():
                return [], 0
            if not done:
                await self._recover()
        deadline = time.monotonic() + self.settings.linger_ms / 1000
        while len(batch) < limit:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(item)
            taken += 1
        return batch, taken

    async def _handle(self, batch: list[tuple[Event, float]]) -> None:
        if self._writer is None or len(self.spool):
            await self._spool([event for event, _ in batch])
            await self._recover()
            return
        try:
            await self._write(batch)
        except Exception as exc:
            if not _is_outage(exc):
                raise
            self._enter_outage(exc)
            await self._spool([event for event, _ in batch])
            return
        if self._deferred:
            # Another writer owns some communities; give it a moment before asking again.
            await asyncio.sleep(min(0.5, self.settings.linger_ms / 1000 + 0.05))

    async def _write(self, batch: list[tuple[Event, float]]) -> None:
        """Write a batch; a batch the database refuses is split until the culprit is alone.

        Outages propagate (the caller spools). Any other failure of a single event — a bug
        or data the schema refuses — sends that event to the dead-letter file with the
        error, so it is kept for a human and does not block everything behind it.
        """
        assert self._writer is not None
        try:
            result = await self._writer.write([event for event, _ in batch])
        except Exception as exc:
            if _is_outage(exc):
                raise
            if len(batch) == 1:
                await self._dead_letter(batch[0][0], exc)
                return
            middle = len(batch) // 2
            await self._write(batch[:middle])
            await self._write(batch[middle:])
            return
        deferred = {id(event) for event in result.deferred}
        if deferred:
            self._deferred += [item for item in batch if id(item[0]) in deferred]
            self._no_deferred.clear()
        self._account(result, [q for e, q in batch if id(e) not in deferred])

    async def _dead_letter(self, event: Event, exc: BaseException) -> None:
        log.error(
            "event could not be written; kept in the dead-letter file",
            event_id=event.event_id,
            error=type(exc).__name__,
        )
        line = json.dumps(
            {"error": f"{type(exc).__name__}: {exc}"[:1000], "event": encode_event(event)}
        )
        path = self.settings.spool_dir / "dead-letter.jsonl"

        def append() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as file:
                file.write(line + "\n")
                file.flush()
                os.fsync(file.fileno())

        await asyncio.to_thread(append)
        self.figures.dead_lettered += 1

    def _account(self, result: BatchResult, queued: list[float]) -> None:
        figures = self.figures
        figures.batches += 1
        figures.committed_events += result.recorded
        figures.duplicates += result.duplicates
        figures.failed_events += result.failed
        figures.statements += result.statements
        figures.ledger_rows += result.ledger_rows
        figures.deferred = len(result.deferred)
        if self._writer is not None:
            figures.owned_communities = len(self._writer.owned)
        now = time.monotonic()
        figures.latencies_ms.extend((now - t) * 1000 for t in queued)
        for published in result.published:
            for queue in self._subscribers:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(published)

    # --- outage and recovery ---------------------------------------------------------------

    def _enter_outage(self, exc: BaseException) -> None:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self.figures.state != "outage":
            log.error(
                "PostgreSQL unreachable; spooling batches", url=display_url(self.url), error=reason
            )
        self.figures.state = "outage"
        self.figures.last_error = reason
        self._writer = None
        self._retry_at = time.monotonic() + self._backoff

    async def _spool(self, events: list[Event]) -> None:
        payload = orjson.dumps([encode_event(e) for e in events])
        while True:
            try:
                await asyncio.to_thread(self.spool.append, payload)
                break
            except SpoolFull as exc:
                # Nothing is dropped: wait for PostgreSQL (the queue fills, ingest waits).
                self.figures.last_error = exc.message
                self._retry_at = 0.0
                if await self._recover():
                    continue
                await asyncio.sleep(min(self._backoff, 1.0))
        self.figures.spooled_batches += 1

    async def _recover(self) -> bool:
        """Try to reach PostgreSQL again (with backoff) and replay the spool; True if empty."""
        if time.monotonic() < self._retry_at:
            return False
        try:
            if self._writer is None:
                await self._open()
            assert self._writer is not None
            self.figures.state = "replaying"
            for record in list(self.spool.replay()):
                now = time.monotonic()
                events = [(decode_event(doc), now) for doc in orjson.loads(record.payload)]
                # Events of communities another writer took over meanwhile stay deferred
                # here (it cannot read our spool) and are retried until we own them again.
                await self._write(events)
                await asyncio.to_thread(self.spool.acknowledge, record)
                self.figures.replayed_batches += 1
        except Exception as exc:
            if not _is_outage(exc):
                raise
            self._backoff = min(self._backoff * 2, self.settings.reconnect_max_seconds)
            self._enter_outage(exc)
            return False
        self._backoff = 0.5
        self.figures.state = "running"
        self.figures.last_error = None
        log.info("PostgreSQL is back; spool replayed", replayed=self.figures.replayed_batches)
        return True

    async def _open(self) -> None:
        conn = await self._connect()
        self._writer = BatchWriter(
            conn,
            self.rules,
            state_cache=self.settings.state_cache,
            max_future_seconds=self.settings.max_future_seconds,
        )
        forget = getattr(self.rules, "forget", None)
        if forget is not None:
            forget()
        self.figures.state = "running"

    async def _close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            await writer.release()
        except psycopg.Error as exc:  # the server may be gone; closing drops the locks anyway
            log.warning("could not release communities cleanly", error=type(exc).__name__)
        await writer.conn.close()
