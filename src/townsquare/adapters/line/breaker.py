"""A circuit breaker for calls to one outside API: closed → open → half-open → closed.

Why: when LINE's API is down, retrying every event's reply on its own would keep dozens
of requests waiting on timeouts and hammer an API that is already failing. After
``threshold`` consecutive failures the breaker opens and calls fail at once (the inbox
retries those events later, with its own backoff); after ``cooldown`` seconds one trial
call is let through (half-open): success closes the breaker, failure opens it again.
One small class rather than a dependency: the state is three fields and a clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

import structlog

log = structlog.get_logger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The breaker refuses calls for now (``retry_in`` seconds)."""

    def __init__(self, name: str, retry_in: float) -> None:
        super().__init__(f"circuit {name!r} is open for another {retry_in:.1f}s")
        self.name = name
        self.retry_in = retry_in


class CircuitBreaker:
    """Counts consecutive failures of one dependency; not thread-safe (one event loop)."""

    def __init__(
        self,
        threshold: int = 5,
        cooldown: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        name: str = "api",
    ) -> None:
        if threshold < 1 or cooldown <= 0:
            raise ValueError("threshold must be >= 1 and cooldown > 0")
        self.threshold = threshold
        self.cooldown = cooldown
        self.name = name
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def is_open(self) -> bool:
        return self.state is BreakerState.OPEN

    def before_call(self) -> None:
        """Raise `CircuitOpen` unless a call may go out now (one trial when half-open)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        assert self._opened_at is not None
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return
        retry_in = max(self.cooldown - (self._clock() - self._opened_at), 0.0)
        raise CircuitOpen(self.name, retry_in)

    def record_success(self) -> None:
        if self._opened_at is not None:
            log.info("circuit_closed", circuit=self.name)
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._trial_running or (self._opened_at is None and self._failures >= self.threshold):
            self._opened_at = self._clock()
            self._trial_running = False
            self.times_opened += 1
            log.warning(
                "circuit_opened",
                circuit=self.name,
                failures=self._failures,
                cooldown=self.cooldown,
            )
