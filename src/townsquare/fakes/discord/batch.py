"""Many dispatches at once, as fast as the sockets take them or at a set rate.

Why: the benchmark pushes ~100k events. Queuing them one call at a time would cost a
thread hop each; a batch runs on the fake's loop in chunks, stops queuing while the
sockets are behind (so memory stays flat however slow the client is), and reports its
progress through counters any thread may read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence

from townsquare.fakes.discord.gateway import Gateway
from townsquare.fakes.discord.payloads import JSON

_CHUNK = 256
_MAX_BACKLOG = 4096  # frames queued but unwritten, over all connections


class DispatchBatch:
    """Progress of one ``FakeDiscord.dispatch_many``."""

    def __init__(self, total: int, backlog: Callable[[], int]) -> None:
        self.total = total
        self.dispatched = 0  # events given a sequence number by the session that owns them
        self.dropped = 0  # events no session owns, or whose intent the session lacks
        self.started_at = time.monotonic()
        self.finished_at: float | None = None
        self._finished = threading.Event()
        self._backlog = backlog

    @property
    def done(self) -> bool:
        """Every event was dispatched or dropped (not necessarily written yet)."""
        return self._finished.is_set()

    def finish(self) -> None:
        self.finished_at = time.monotonic()
        self._finished.set()

    async def wait(self, timeout: float = 120.0, *, written: bool = True) -> None:  # noqa: ASYNC109
        """Until every event was dispatched and, if ``written``, every queued frame was
        written to its socket. Polls, so it may be awaited on any event loop."""
        deadline = time.monotonic() + timeout
        while not self.done or (written and self._backlog() > 0):
            if time.monotonic() > deadline:
                handled = self.dispatched + self.dropped
                raise TimeoutError(f"dispatch batch: {handled}/{self.total} after {timeout}s")
            await asyncio.sleep(0.005)


async def run_batch(
    batch: DispatchBatch,
    events: Sequence[tuple[str, JSON]],
    gateway: Gateway,
    per_second: float | None,
) -> None:
    """Dispatch ``events`` in order on the fake's loop; paced when ``per_second`` is set."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    index = 0
    try:
        while index < len(events):
            if per_second is None:
                due = min(len(events), index + _CHUNK)
            else:
                on_time = int((loop.time() - started) * per_second) + 1
                due = min(len(events), index + _CHUNK, on_time)
                if due <= index:
                    wait = (index + 1) / per_second - (loop.time() - started)
                    await asyncio.sleep(max(0.001, wait))
                    continue
            for event_type, data in events[index:due]:
                if gateway.dispatch(event_type, data) is None:
                    batch.dropped += 1
                else:
                    batch.dispatched += 1
            index = due
            while gateway.backlog() > _MAX_BACKLOG:  # noqa: ASYNC110 - sockets drain by themselves
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)
    finally:
        batch.finish()
