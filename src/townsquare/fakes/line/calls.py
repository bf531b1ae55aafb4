"""The record of API calls, and the faults and delays a test asked the fake to inject.

Why together: a test states "the next push gets a 500" and then checks what the adapter did
about it (retried with the same ``X-Line-Retry-Key``, once), so the rule and the record must
use the same method-and-path matching. Both are touched from the test's thread and the
fake's loop, hence the locks.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from townsquare.fakes.call_log import CallLog as SharedCallLog
from townsquare.fakes.call_log import PathPattern, matches

# LINE's own wording for the faults a test injects most.
DEFAULT_FAULT_MESSAGES = {
    429: "The API rate limit has been exceeded. Try again later.",
    500: "An internal server error occurred.",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class ApiCall:
    """One request as the fake received it, and how it answered."""

    method: str
    path: str  # e.g. "/v2/bot/message/push"
    query: Mapping[str, str]
    json: Any  # the parsed JSON body; None when empty or not JSON (an image upload)
    content_type: str
    body_size: int
    headers: Mapping[str, str]  # Content-Type, User-Agent, X-Line-Retry-Key (never the token)
    channel_id: str | None  # whose access token authenticated it; None when none did
    status: int
    request_id: str  # the x-line-request-id it was answered with
    at: float  # time.monotonic() when the request arrived


#: Every call this fake received, and its own failures.
CallLog = SharedCallLog[ApiCall]


@dataclass(frozen=True)
class Fault:
    """The answer a faulty call gets instead of the real one."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]


@dataclass
class _FaultRule:
    method: str
    pattern: PathPattern
    remaining: int
    fault: Fault


@dataclass
class _DelayRule:
    method: str
    pattern: PathPattern
    remaining: int | None  # None: every matching call until cleared
    seconds: float


class FaultPlan:
    """Faults and delays to inject, each for its next ``times`` matching calls; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_FaultRule] = []
        self._delays: list[_DelayRule] = []

    def fail(
        self,
        method: str,
        pattern: PathPattern,
        *,
        status: int,
        times: int,
        retry_after: float | None,
        message: str | None,
    ) -> None:
        text = message or DEFAULT_FAULT_MESSAGES.get(status, f"HTTP {status}")
        headers = {} if retry_after is None else {"Retry-After": str(math.ceil(retry_after))}
        rule = _FaultRule(method, pattern, times, Fault(status, {"message": text}, headers))
        with self._lock:
            self._faults.append(rule)

    def delay(
        self, method: str, pattern: PathPattern, *, seconds: float, times: int | None
    ) -> None:
        with self._lock:
            self._delays.append(_DelayRule(method, pattern, times, seconds))

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The fault for this call, if a rule matches; that rule is used up by one."""
        with self._lock:
            for rule in self._faults:
                if rule.remaining > 0 and matches(rule.method, rule.pattern, method, path):
                    rule.remaining -= 1
                    return rule.fault
        return None

    def take_delay(self, method: str, path: str) -> float:
        """Seconds to hold this call before answering (0 when no rule matches)."""
        with self._lock:
            for rule in self._delays:
                if rule.remaining != 0 and matches(rule.method, rule.pattern, method, path):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.seconds
        return 0.0

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()
