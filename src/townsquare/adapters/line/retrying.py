"""One Messaging API call, guarded: a concurrency limit, the breaker, tenacity's retries.

Why apart from the reply logic: what counts as transient (5xx, 429 rate limiting,
timeouts — not the monthly quota, which is also a 429), how long to wait (``Retry-After``
when LINE says, else a jittered exponential backoff) and when to give up (after
``attempts``, or at once when LINE asks for a longer wait than an event should be held)
are one policy, used by every call that may be retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import aiohttp
import orjson
import structlog
from linebot.v3.messaging import ApiException
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from townsquare.adapters.line.breaker import CircuitBreaker, CircuitOpen
from townsquare.errors import TownsquareError

log = structlog.get_logger(__name__)
T = TypeVar("T")
MONTHLY_LIMIT: Final = "monthly limit"


class MessagingApiUnavailable(TownsquareError):
    """LINE's Messaging API failed (or the breaker is open): retry the event later."""

    status = 503
    code = "line_api_unavailable"


def error_message(exc: ApiException) -> str:
    """LINE's ``message`` from an error body ("" when there is none)."""
    try:
        body = orjson.loads(exc.body or b"{}")
    except orjson.JSONDecodeError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else ""


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds LINE asked us to wait (``Retry-After``), if it did."""
    if not isinstance(exc, ApiException) or not exc.headers:
        return None
    value = exc.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the API or the network failed, not our request."""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        if status == 429:
            return MONTHLY_LIMIT not in error_message(exc)
        return status >= 500
    return isinstance(exc, aiohttp.ClientError | TimeoutError)


class GuardedCalls:
    """Runs calls under one concurrency limit, each channel's breaker and the retry policy."""

    def __init__(
        self,
        *,
        max_in_flight: int = 32,
        attempts: int = 4,
        max_wait: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = asyncio.Semaphore(max_in_flight)
        self.attempts = attempts
        self.max_wait = max_wait
        self._sleep = sleep
        self._backoff = wait_exponential_jitter(multiplier=0.5, max=8.0)
        self.retries = 0
        self.failures = 0

    async def call(
        self, breaker: CircuitBreaker, operation: str, send: Callable[[], Awaitable[T]]
    ) -> T:
        """``send()``'s result. Transient failures are retried, then raised as
        `MessagingApiUnavailable` (as is an open breaker); LINE's other refusals
        (`ApiException` with a 4xx) are raised as they are, for the caller to judge."""
        retrying = AsyncRetrying(
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception(is_transient),
            sleep=self._sleep,
            reraise=True,
            before_sleep=self._count_retry,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    breaker.before_call()
                    try:
                        async with self.limit:
                            result = await send()
                    except Exception as exc:
                        if is_transient(exc):
                            breaker.record_failure()
                        else:
                            breaker.record_success()  # LINE answered: it is up
                        raise
                    breaker.record_success()
                    return result
        except CircuitOpen as exc:
            self.failures += 1
            log.warning(
                "line_api_circuit_open",
                operation=operation,
                channel=exc.name,
                retry_in=round(exc.retry_in, 1),
            )
            raise MessagingApiUnavailable(
                f"LINE's Messaging API is failing; the circuit is open for {exc.retry_in:.0f}s."
            ) from None
        except Exception as exc:
            if not is_transient(exc):
                raise
            self.failures += 1
            status = exc.status if isinstance(exc, ApiException) else None
            log.error(
                "line_api_failed",
                operation=operation,
                status=status,
                error=type(exc).__name__,
                attempts=self.attempts,
            )
            raise MessagingApiUnavailable(
                f"LINE's Messaging API kept failing ({operation}: "
                f"{status or type(exc).__name__}); the event will be retried."
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True always raises

    def _wait(self, state: RetryCallState) -> float:
        asked = retry_after(state.outcome.exception() if state.outcome else None)
        if asked is not None:
            return asked
        return float(self._backoff(state))

    def _stop(self, state: RetryCallState) -> bool:
        """Give up after ``attempts``, or at once when LINE asks us to wait longer than an
        event should be held for (the inbox's backoff then takes over)."""
        if state.attempt_number >= self.attempts:
            return True
        asked = retry_after(state.outcome.exception() if state.outcome else None)
        return asked is not None and asked > self.max_wait

    def _count_retry(self, state: RetryCallState) -> None:
        self.retries += 1
        failure = state.outcome.exception() if state.outcome else None
        status = failure.status if isinstance(failure, ApiException) else None
        log.info(
            "line_api_retry",
            attempt=state.attempt_number,
            status=status,
            error=type(failure).__name__,
        )
