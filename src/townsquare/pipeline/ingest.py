"""The ingest pipeline: a bounded queue in front of the micro-batch writer and the spool.

``await pipeline.ingest(event)`` returns as soon as the event is queued and waits (never
drops) when the queue is full; ``ingest_many(events)`` does the same for a batch, in order.
One drain task — owned by the pipeline, stopped by ``stop()`` — takes up to ``batch_size``
events or whatever arrived within ``linger_ms`` and hands them to the `BatchWriter`. When
PostgreSQL cannot be reached the batch goes to the outage spool instead (fsync'd), and so
does every later batch, in order, until a probe reconnects; then the spool is replayed
oldest first and acknowledged record by record.
When the spool is full, the drain task waits, the queue fills and ``ingest`` waits: the
back-pressure reaches the adapters instead of the disk filling up or events vanishing.

Outcomes (level-ups, unlocks, role changes) reach subscribers only after their commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
import structlog

from townsquare.config.settings import ConfigCacheSettings, DatabaseSettings, PipelineSettings
from townsquare.core import Event
from townsquare.errors import TownsquareError
from townsquare.pipeline.directory import Connection
from townsquare.pipeline.event_codec import decode_event, encode_event
from townsquare.pipeline.spool import Spool, SpoolFull
from townsquare.pipeline.writer import (
    BatchResult,
    BatchWriter,
    Prepared,
    Published,
    Redo,
    RulesSource,
)
from townsquare.store.config_cache import ConfigCache
from townsquare.store.engine import display_url, libpq_url

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
    spool_full: bool = False
    owned_communities: int = 0
    last_error: str | None = None
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))

    def percentile(self, fraction: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def connect_writer(url: str, settings: DatabaseSettings) -> Connection:
    """The writer's own connection (outside the pool: it holds session advisory locks)."""
    return await psycopg.AsyncConnection.connect(
        libpq_url(url),
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


#: An event in the pipeline's hands: when it was queued, and whether the queue is still
#: owed its ``task_done`` (events replayed from the spool were settled when spooled).
#: The queue holds these very tuples, so taking a batch allocates nothing per event.
_Queued = tuple[Event, float, bool]


@dataclass(slots=True)
class _InFlight:
    """A batch whose commit runs while the next one is prepared."""

    task: asyncio.Task[BatchResult]
    batch: list[_Queued]
    prepared: Prepared


class Pipeline:
    """Owns the queue, the drain task, the writer's connection and the spool."""

    def __init__(
        self,
        url: str,
        settings: PipelineSettings,
        database: DatabaseSettings,
        *,
        rules: RulesSource | None = None,
        cache_settings: ConfigCacheSettings | None = None,
        spool: Spool | None = None,
        connect: Callable[[], Awaitable[Connection]] | None = None,
    ) -> None:
        self.url = url
        self.settings = settings
        self.database = database
        # Without a rules source of its own choosing, the pipeline owns a live config cache.
        self.config_cache = (
            ConfigCache(url, cache_settings or ConfigCacheSettings(), database)
            if rules is None
            else None
        )
        self.rules: RulesSource = rules or self.config_cache  # type: ignore[assignment]
        self.spool = spool or Spool(settings.spool_dir, max_bytes=settings.spool_max_mb << 20)
        self._connect = connect or (lambda: connect_writer(url, database))
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue(settings.queue_size)
        self._writer: BatchWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._deferred: list[_Queued] = []
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
        if self.config_cache is not None:
            await self.config_cache.start()
        try:
            await self._open()
        except Exception as exc:
            if not _is_outage(exc):
                raise
            await self._enter_outage(exc)
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
            if self.config_cache is not None:
                await self.config_cache.stop()
            self.figures.state = "stopped"

    async def __aenter__(self) -> Pipeline:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # --- the public interface --------------------------------------------------------------

    async def ingest(self, event: Event) -> None:
        """Queue one event; waits while the queue is full (back-pressure), never drops."""
        self._check_running()
        await self._queue.put((event, time.monotonic(), True))

    async def ingest_many(self, events: Iterable[Event]) -> None:
        """Queue events in order, exactly as ``ingest`` would one by one, never drops.

        For sources that receive events in batches (a LINE webhook delivery, an import):
        one call and one clock reading per batch rather than an await per event. While the
        queue is full it waits, as ``ingest`` does; an event is queued with the time it was
        handed over (when the call began or when the previous event found room). If the
        pipeline stops meanwhile, `PipelineStopped` is raised and the events before it stay
        queued.
        """
        self._check_running()
        queue = self._queue
        now = time.monotonic()
        for event in events:
            try:
                queue.put_nowait((event, now, True))
            except asyncio.QueueFull:
                self._check_running()
                await queue.put((event, now, True))
                now = time.monotonic()

    def _check_running(self) -> None:
        if self._task is None or self._stopping.is_set():
            raise PipelineStopped("The ingest pipeline is not running; the event was not taken.")

    async def flush(self) -> None:
        """Wait until everything queued so far is committed, spooled or dead-lettered.

        Events waiting for a community another writer owns are waited for too (wrap the
        call in ``asyncio.timeout`` if that other writer may never let go).
        """
        await self._queue.join()

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
            "spool_full": figures.spool_full,
            "dead_lettered": figures.dead_lettered,
            # How far behind the writer is: ingest -> commit over the recent window.
            "commit_latency_p50_ms": _rounded(figures.percentile(0.5)),
            "commit_latency_p99_ms": _rounded(figures.percentile(0.99)),
            "last_error": figures.last_error,
        }

    # --- the drain loop --------------------------------------------------------------------

    async def _drain(self) -> None:
        # While batch N commits (a task on the writer's connection), batch N+1 is resolved
        # and computed on the reader connection: PostgreSQL and the rules run side by side.
        inflight: _InFlight | None = None
        try:
            while True:
                if inflight is not None and self._queue.empty() and not self._deferred:
                    # Nothing to prepare meanwhile: settle the commit (flush() waits on it).
                    await self._finish(inflight)
                    inflight = None
                batch = await self._next_batch()
                if not batch:
                    return
                inflight = await self._handle(batch, inflight)
        finally:
            if inflight is not None:
                await self._finish(inflight)
            if self._deferred:
                # Stopping with events of communities another writer owns: keep them on
                # disk, so the next start offers them again.
                held, self._deferred = self._deferred, []
                await self._spool([event for event, _, _ in held])
                self._settle(held)

    async def _next_batch(self) -> list[_Queued]:
        """Up to batch_size events, waiting at most linger_ms after the first one.

        Events deferred by an earlier batch (another writer owned their community) come
        first, in order.
        """
        limit = self.settings.batch_size
        batch = self._deferred[:limit]
        del self._deferred[:limit]
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
                break
            getter.cancel()
            if stopper in done and self._queue.empty():
                return []
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
        return batch

    async def _handle(self, batch: list[_Queued], inflight: _InFlight | None) -> _InFlight | None:
        """Prepare this batch, settle the one in flight, start this one's commit."""
        writer = self._writer
        if writer is None or len(self.spool):
            if inflight is not None:
                await self._finish(inflight)
            await self._spool_items(batch)
            await self._recover()
            return None
        try:
            prepared = await writer.prepare([event for event, _, _ in batch])
        except Exception as exc:
            if not _is_outage(exc):
                raise
            if inflight is not None:
                await self._finish(inflight)
            await self._enter_outage(exc)
            await self._spool_items(batch)
            return None
        mine = self._hold_deferred(batch, prepared.result.deferred)
        if inflight is not None and not await self._finish(inflight):
            # The batch before failed to commit; this one was computed on its states.
            if self._writer is None:
                await self._spool_items(mine)
                return None
            try:
                await writer.recompute(prepared, set())
            except Exception as exc:
                if not _is_outage(exc):
                    raise
                await self._enter_outage(exc)
                await self._spool_items(mine)
                return None
        task = asyncio.create_task(writer.commit(prepared), name="townsquare-pipeline-commit")
        return _InFlight(task, mine, prepared)

    async def _finish(self, inflight: _InFlight) -> bool:
        """Wait for a commit and settle its events. False: later batches must recompute."""
        writer = self._writer
        batch = inflight.batch
        try:
            try:
                result = await inflight.task
            except Redo as redo:
                # Redeliveries the lake refused: recompute without them (rare).
                assert writer is not None
                writer.discard_pending()
                await writer.recompute(inflight.prepared, redo.duplicates)
                result = await writer.commit(inflight.prepared)
                self._account(result, batch)
                self._settle(batch)
                return False
            except Exception as exc:
                if _is_outage(exc):
                    raise
                log.warning("batch refused; writing it in parts", error=type(exc).__name__)
                assert writer is not None
                writer.discard_pending()
                await self._write(batch)
                return False
        except Exception as exc:
            if not _is_outage(exc):
                raise
            await self._enter_outage(exc)
            await self._spool_items(batch)
            return False
        self._account(result, batch)
        self._settle(batch)
        if self._deferred:
            # Another writer owns some communities; give it a moment before asking again.
            await asyncio.sleep(min(0.5, self.settings.linger_ms / 1000 + 0.05))
        return True

    def _hold_deferred(self, batch: list[_Queued], deferred: list[Event]) -> list[_Queued]:
        """Keep events of communities owned elsewhere for later; return the others."""
        if not deferred:
            return batch
        ids = {id(event) for event in deferred}
        self._deferred += [item for item in batch if id(item[0]) in ids]
        return [item for item in batch if id(item[0]) not in ids]

    def _settle(self, items: list[_Queued]) -> None:
        """These events left our hands (committed, spooled or dead-lettered)."""
        for _event, _queued_at, owed in items:
            if owed:
                self._queue.task_done()

    async def _spool_items(self, items: list[_Queued]) -> None:
        await self._spool([event for event, _, _ in items])
        self._settle(items)

    async def _write(self, batch: list[_Queued]) -> None:
        """Write a batch now; a batch the database refuses is split until the culprit is alone.

        Outages propagate (the caller spools). Any other failure of a single event — a bug
        or data the schema refuses — sends that event to the dead-letter file with the
        error, so it is kept for a human and does not block everything behind it.
        """
        assert self._writer is not None
        try:
            result = await self._writer.write([event for event, _, _ in batch])
        except Exception as exc:
            if _is_outage(exc):
                raise
            if len(batch) == 1:
                await self._dead_letter(batch[0][0], exc)
                self._settle(batch)
                return
            middle = len(batch) // 2
            await self._write(batch[:middle])
            await self._write(batch[middle:])
            return
        mine = self._hold_deferred(batch, result.deferred)
        self._account(result, mine)
        self._settle(mine)

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

    def _account(self, result: BatchResult, items: list[_Queued]) -> None:
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
        figures.latencies_ms.extend((now - queued_at) * 1000 for _, queued_at, _ in items)
        for published in result.published:
            for queue in self._subscribers:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(published)

    # --- outage and recovery ---------------------------------------------------------------

    async def _enter_outage(self, exc: BaseException) -> None:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self.figures.state != "outage":
            log.error(
                "PostgreSQL unreachable; spooling batches", url=display_url(self.url), error=reason
            )
        self.figures.state = "outage"
        self.figures.last_error = reason
        writer, self._writer = self._writer, None
        self._retry_at = time.monotonic() + self._backoff
        if writer is not None:
            # The connections are broken (or the server is going); drop them, and with them
            # our locks, so whoever reconnects first owns the communities.
            for conn in (writer.conn, writer.reader):
                with contextlib.suppress(psycopg.Error, OSError):
                    await conn.close()

    async def _spool(self, events: list[Event]) -> None:
        payload = orjson.dumps([encode_event(e) for e in events])
        while True:
            try:
                await asyncio.to_thread(self.spool.append, payload)
                break
            except SpoolFull as exc:
                # Nothing is dropped: wait for PostgreSQL (the queue fills, ingest waits).
                self.figures.spool_full = True
                self.figures.last_error = exc.message
                self._retry_at = 0.0
                if await self._recover():
                    # PostgreSQL is back and the spool is empty: write the batch itself
                    # (it may be larger than the whole spool, so retrying could never end).
                    try:
                        now = time.monotonic()
                        await self._write([(event, now, False) for event in events])
                    except Exception as retry_exc:
                        if not _is_outage(retry_exc):
                            raise
                        await self._enter_outage(retry_exc)
                        continue
                    self.figures.spool_full = False
                    return
                await asyncio.sleep(min(self._backoff, 1.0))
        self.figures.spool_full = False
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
                # No task_done is owed for these: they were settled when they were spooled.
                events = [(decode_event(doc), now, False) for doc in orjson.loads(record.payload)]
                # Events of communities another writer took over meanwhile stay deferred
                # here (it cannot read our spool) and are retried until we own them again.
                await self._write(events)
                await asyncio.to_thread(self.spool.acknowledge, record)
                self.figures.replayed_batches += 1
        except Exception as exc:
            if not _is_outage(exc):
                raise
            self._backoff = min(self._backoff * 2, self.settings.reconnect_max_seconds)
            await self._enter_outage(exc)
            return False
        self._backoff = 0.5
        self.figures.state = "running"
        self.figures.last_error = None
        log.info("PostgreSQL is back; spool replayed", replayed=self.figures.replayed_batches)
        return True

    async def _open(self) -> None:
        conn = await self._connect()
        try:
            reader = await self._connect()
        except BaseException:
            await conn.close()
            raise
        self._writer = BatchWriter(
            conn,
            self.rules,
            reader=reader,
            state_cache=self.settings.state_cache,
            max_future_seconds=self.settings.max_future_seconds,
        )
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
        await writer.reader.close()
