"""Inbox workers: hand stored webhook events to the `EventHandler`, durably and in order.

- **Bounded, ordered**: at most ``line.workers`` events in flight and one per ordering key
  (chat) across all processes: ``claim_due`` takes only the oldest open event of a key, so
  a chat's later events wait while an earlier one is retried.
- **Retries from the record**: a failed event is retried after exponential backoff with
  jitter (``retry_initial_seconds`` doubling, capped at ``retry_max_seconds``); after
  ``max_attempts`` failures, or at once on `PermanentFailure`, it is dead and logged as
  ``line_event_dead`` (ids, type, attempts, error class — never the payload).
- **Crash safety**: a claimed event is leased (renewed while its handler runs); if the
  process dies, the lease runs out and any worker takes the event again, counted as a
  failed attempt (an event that kills its worker every time ends dead, not looping).
- **Pick-up**: the webhook in this process wakes the worker when it commits; the worker
  also polls every ``poll_seconds`` for retries come due, expired leases and events other
  processes received. Not LISTEN/NOTIFY: a dedicated connection with its own reconnect and
  breaker that could not replace the poll anyway (backoff timers and expired leases notify
  nobody), while a poll of the partial index costs next to nothing.
- **Personal data**: a payload is cleared when its event is done; a dead one keeps it for
  ``dead_payload_retention`` (to see why it failed). Done rows are deleted after
  ``done_retention`` (far past LINE's redelivery window), dead rows after ``dead_retention``.
- **Clean stop**: no more claims; handlers get the grace period, the rest are cancelled
  and their events given back (due at once, no attempt counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from townsquare.adapters.line.contract import EventHandler, InboxItem, PermanentFailure
from townsquare.config.settings import LineSettings
from townsquare.store import webhook_inbox
from townsquare.store.webhook_inbox import ClaimedEvent, InboxDepth, Outcome

log = structlog.get_logger(__name__)

PLATFORM = "line"
_T = TypeVar("_T")
_P = ParamSpec("_P")
_DEPTH_FIELDS = [f.name for f in fields(InboxDepth)]


@dataclass(frozen=True)
class InboxOptions:
    """Timings of the worker (settings hold what operators tune; these rarely change)."""

    lease_seconds: float = 60.0
    poll_seconds: float = 0.5
    handler_timeout: float = 300.0
    depth_seconds: float = 5.0  # how often /ready's inbox depth is read
    done_retention: timedelta = timedelta(days=7)
    dead_payload_retention: timedelta = timedelta(days=7)
    dead_retention: timedelta = timedelta(days=30)
    sweep_seconds: float = 600.0


@dataclass
class InboxFigures:
    """Counters since start, for ``/ready``."""

    claimed: int = 0
    done: int = 0
    retried: int = 0
    dead_lettered: int = 0
    lost_leases: int = 0
    last_error: str | None = None


@dataclass
class _InFlight:
    event: ClaimedEvent
    lease: datetime
    task: asyncio.Task[None] | None = None
    finishing: bool = False  # its outcome is being written: renewals leave it alone


@dataclass(frozen=True, slots=True)
class _Result:
    """What one attempt came to; ``counted``: it was a real (failed) attempt."""

    outcome: Outcome
    error: str = ""  # ``Class: message`` for ``last_error``
    delay: float = 0.0
    reason: str = ""
    counted: bool = True


def backoff_seconds(failures: int, initial: float, cap: float, rng: random.Random) -> float:
    """Pause before retry number ``failures`` (1-based): ``initial * 2**(failures-1)``
    capped at ``cap``, then "equal jitter" (half fixed, half random) so a burst of events
    that failed together does not come back as one burst."""
    base = min(cap, initial * 2.0 ** min(failures - 1, 60))
    return base / 2 + rng.uniform(0.0, base / 2)


def describe(exc: BaseException) -> str:
    """``Class: first line of the message`` for ``last_error`` (operators read it there)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class InboxWorker:
    """Claims due inbox events and runs the handler on them; owns every task it starts."""

    def __init__(
        self,
        engine: AsyncEngine,
        handler: EventHandler,
        settings: LineSettings,
        options: InboxOptions | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.handler = handler
        self.settings = settings
        self.options = options or InboxOptions()
        self.figures = InboxFigures()
        self.depth: InboxDepth | None = None  # as last read, at ``_depth_at``
        self._depth_at: float | None = None
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: dict[tuple[int, int], _InFlight] = {}
        self._renewing = asyncio.Lock()  # held while a renewal may change leases
        self._claimer: asyncio.Task[None] | None = None
        self._upkeep: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start claiming (and the lease/figures/retention upkeep) in the background."""
        if self._claimer is not None:
            return
        self._claimer = asyncio.create_task(self._claim_loop(), name="townsquare-line-inbox")
        self._upkeep = asyncio.create_task(self._upkeep_loop(), name="townsquare-line-upkeep")
        log.info("line_inbox_started", workers=self.settings.workers)

    def wake(self) -> None:
        """New events are stored: claim now instead of at the next poll."""
        self._wake.set()

    @property
    def failed(self) -> BaseException | None:
        """Why the claim loop ended on its own (a bug: database errors are retried)."""
        task = self._claimer
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    async def wait_stopped(self) -> None:
        if self._claimer is not None:
            await asyncio.wait({self._claimer})

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop claiming; running handlers get most of ``grace_seconds`` to finish, the rest
        are cancelled and their events given back to the inbox, all within the grace."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds

        def left(reserve: float = 0.0) -> float:
            return max(0.01, deadline - grace_seconds * reserve - loop.time())

        self._stopping.set()
        self._wake.set()
        if self._claimer is not None:
            await asyncio.wait({self._claimer}, timeout=left(0.5))
        flights = {i.task: i for i in self._in_flight.values() if i.task is not None}
        if flights:
            await asyncio.wait(set(flights), timeout=left(0.25))
        leftovers = {task: flight for task, flight in flights.items() if not task.done()}
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(set(leftovers), timeout=left(0.125))
        if leftovers:
            await self._give_back(list(leftovers.values()), left())
        loops = [t for t in (self._claimer, self._upkeep) if t is not None]
        for task in loops:
            task.cancel()
        if loops:
            await asyncio.wait(loops, timeout=1.0)
        log.info("line_inbox_stopped")

    async def _give_back(self, flights: list[_InFlight], seconds: float) -> None:
        try:  # under the renewal lock: the leases given back are the current ones
            async with asyncio.timeout(seconds), self._renewing:
                held = [(f.event.community_id, f.event.id, f.lease) for f in flights]
                released = await self._db(webhook_inbox.release, held)
            log.info("line_inbox_released", events=released)
        except Exception as exc:  # noqa: BLE001 - their leases run out anyway
            log.warning("line_inbox_release_failed", events=len(flights), error=describe(exc))

    # -- claiming ----------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            free = self.settings.workers - len(self._in_flight)
            claimed: list[ClaimedEvent] = []
            if free > 0:
                busy = [i.event.ordering_key for i in self._in_flight.values()]
                try:
                    claimed = await self._db(
                        webhook_inbox.claim_due, PLATFORM, free, self.options.lease_seconds, busy
                    )
                    failures = 0
                except Exception as exc:  # noqa: BLE001 - the database comes back; keep going
                    failures += 1
                    self.figures.last_error = describe(exc)
                    pause = min(30.0, self.options.poll_seconds * 2 ** min(failures, 6))
                    log.warning("line_inbox_claim_failed", error=type(exc).__name__,
                                failures=failures, retry_in=round(pause, 2))  # fmt: skip
                    await self._sleep(pause)
                    continue
            for event in claimed:
                self._spawn(event)
            if claimed and len(claimed) == free:
                continue  # there may be more due right now
            await self._sleep(self.options.poll_seconds)

    async def _sleep(self, seconds: float) -> None:
        """Until ``seconds`` pass, or a wake (new events, a free slot, stop)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _spawn(self, event: ClaimedEvent) -> None:
        self.figures.claimed += 1
        flight = _InFlight(event, event.lease)
        self._in_flight[(event.community_id, event.id)] = flight
        flight.task = asyncio.create_task(
            self._run(flight), name=f"townsquare-line-event-{event.id}"
        )

    async def _run(self, flight: _InFlight) -> None:
        event = flight.event
        bound = log.bind(community=event.community_id, platform=PLATFORM, inbox_id=event.id,
                         event_id=event.webhook_event_id, event_type=event.event_type,
                         channel=event.channel_key)  # fmt: skip
        try:
            result = await self._attempt(event)
            if not await self._record(flight, result, bound):
                return
            failed = {"attempts": event.attempts + int(result.counted),
                      "error": result.error.split(":", 1)[0]}  # fmt: skip
            if result.outcome == "done":
                self.figures.done += 1
            elif result.outcome == "retry":
                self.figures.retried += 1
                bound.warning("line_event_retry", **failed, retry_in=round(result.delay, 3))
            else:
                self.figures.dead_lettered += 1
                bound.error("line_event_dead", **failed, reason=result.reason)
        finally:
            self._in_flight.pop((event.community_id, event.id), None)
            self._wake.set()  # a slot is free

    async def _attempt(self, event: ClaimedEvent) -> _Result:
        """Run the handler once (unless the event cannot or must not run again)."""
        failures = event.attempts + 1  # counting this attempt, should it fail
        if event.payload is None:
            error = "PayloadMissing: the stored payload was cleared"
            return _Result("dead", error, reason="no_payload", counted=False)
        if event.lease_expired and event.attempts >= self.settings.max_attempts:
            error = "LeaseExpired: its worker stopped before finishing"
            return _Result("dead", error, reason="attempts_exhausted", counted=False)
        item = InboxItem(event.community_id, event.id, event.channel_key,
                         event.webhook_event_id, event.event_type, event.payload,
                         event.is_redelivery, event.attempts, event.received_at)  # fmt: skip
        try:
            await asyncio.wait_for(self.handler(item), self.options.handler_timeout)
        except PermanentFailure as exc:
            return _Result("dead", describe(exc), reason="permanent_failure")
        except Exception as exc:  # noqa: BLE001 - any handler failure is retried from the record
            if failures >= self.settings.max_attempts:
                return _Result("dead", describe(exc), reason="attempts_exhausted")
            line = self.settings
            delay = backoff_seconds(failures, line.retry_initial_seconds, line.retry_max_seconds,
                                    self._rng)  # fmt: skip
            return _Result("retry", describe(exc), delay=delay)
        return _Result("done")

    async def _record(self, flight: _InFlight, result: _Result, bound: Any) -> bool:
        """Write the outcome (True if written), retrying briefly while the database is away;
        if it stays away the lease runs out and the event runs again (at least once)."""
        flight.finishing = True
        async with self._renewing:  # a renewal under way may still move the lease
            pass
        for attempt in range(3):
            try:
                kept = await self._db(
                    webhook_inbox.finish,
                    flight.event,
                    flight.lease,
                    result.outcome,
                    error=result.error,
                    delay_seconds=result.delay,
                    count_attempt=result.counted,
                )
            except Exception as exc:  # noqa: BLE001 - retried; the lease is the safety net
                self.figures.last_error = describe(exc)
                bound.warning("line_inbox_record_failed", error=type(exc).__name__)
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            if not kept:
                self.figures.lost_leases += 1
                bound.warning("line_inbox_lease_lost", outcome=result.outcome)
            return kept
        return False

    # -- upkeep: leases, figures, retention --------------------------------------------------

    async def _upkeep_loop(self) -> None:
        renew_every = max(self.options.lease_seconds / 3, 0.05)
        next_renew = next_depth = next_sweep = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_renew:
                await self._guarded("renew", self._renew)
                next_renew = now + renew_every
            if now >= next_depth:
                await self._guarded("depth", self.refresh_depth)
                next_depth = now + self.options.depth_seconds
            if now >= next_sweep:
                await self._guarded("sweep", self._sweep)
                next_sweep = now + self.options.sweep_seconds
            await asyncio.sleep(min(renew_every, self.options.depth_seconds))

    async def _guarded(self, what: str, job: Callable[[], Awaitable[None]]) -> None:
        try:
            await job()
        except Exception as exc:  # noqa: BLE001 - upkeep retries on its next round
            self.figures.last_error = describe(exc)
            log.warning("line_inbox_upkeep_failed", job=what, error=type(exc).__name__)

    async def _renew(self) -> None:
        async with self._renewing:
            flights = [f for f in self._in_flight.values() if not f.finishing]
            if not flights:
                return
            held = [(f.event.community_id, f.event.id, f.lease) for f in flights]
            renewed = await self._db(webhook_inbox.renew_leases, held, self.options.lease_seconds)
            for flight in flights:
                lease = renewed.get((flight.event.community_id, flight.event.id))
                if lease is not None:
                    flight.lease = lease

    async def refresh_depth(self) -> None:
        """Read the inbox depth now (``/ready`` shows the last one read)."""
        found = await self._db(webhook_inbox.depth, PLATFORM)
        self.depth, self._depth_at = found, time.monotonic()

    async def _sweep(self) -> None:
        batch = 5_000
        while True:
            counts = await self._db(
                webhook_inbox.expire_finished,
                PLATFORM,
                done_after=self.options.done_retention,
                dead_payload_after=self.options.dead_payload_retention,
                dead_after=self.options.dead_retention,
                batch=batch,
            )
            if any(counts):
                log.info("line_inbox_expired", done=counts[0], dead_payloads=counts[1],
                         dead=counts[2])  # fmt: skip
            if max(counts) < batch:
                return

    async def _db(
        self,
        work: Callable[Concatenate[AsyncConnection, _P], Awaitable[_T]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        """``work`` in one short transaction of its own."""
        async with self.engine.begin() as conn:
            return await work(conn, *args, **kwargs)

    def readiness(self) -> dict[str, Any]:
        """Worker figures and the inbox depth as last read (``depth_age_seconds`` ago)."""
        depth = asdict(self.depth) if self.depth else dict.fromkeys(_DEPTH_FIELDS)
        age = None if self._depth_at is None else round(time.monotonic() - self._depth_at, 3)
        return {
            "workers": self.settings.workers,
            "in_flight": len(self._in_flight),
            **depth,
            "depth_age_seconds": age,
            **asdict(self.figures),
        }
