"""The record of REST calls, and the faults a test asked the fake to inject.

Why both live here: a test states "the next POST to this channel gets a 429" and then
checks what discord.py did about it (waited ``retry_after``, retried once), so the rule and
the record must use the same method-and-path matching. Both are read and written from the
test's thread and the fake's loop, hence the locks.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from townsquare.fakes.call_log import CallLog as SharedCallLog
from townsquare.fakes.call_log import PathPattern, matches


@dataclass(frozen=True)
class UploadedFile:
    field: str
    filename: str | None
    content_type: str
    size: int


# Where the REST middleware leaves the parsed body for the route handlers.
BODY: web.RequestKey[Any] = web.RequestKey("body")
FILES: web.RequestKey[tuple[UploadedFile, ...]] = web.RequestKey("files")


@dataclass(frozen=True)
class RestCall:
    """One REST request as the fake received it, and the status it answered."""

    method: str
    path: str  # relative to /api/v10, e.g. "/channels/1/messages"
    query: Mapping[str, str]
    json: Any  # the JSON body, or the ``payload_json`` of a multipart body; None if empty
    files: tuple[UploadedFile, ...]
    headers: Mapping[str, str]  # Content-Type, User-Agent, X-Audit-Log-Reason (no token)
    reason: str | None  # X-Audit-Log-Reason, decoded
    status: int
    at: float  # time.monotonic() when the request arrived


#: Every call this fake received, and its own failures.
CallLog = SharedCallLog[RestCall]


@dataclass(frozen=True)
class Fault:
    """The answer a faulty call gets: a status, a JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]


@dataclass
class _Rule:
    method: str
    pattern: PathPattern
    remaining: int
    build: Callable[[], Fault]


class FaultPlan:
    """Faults to inject, each for its next ``times`` matching calls; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []

    def rate_limit(
        self,
        method: str,
        pattern: PathPattern,
        *,
        times: int,
        retry_after: float,
        global_: bool,
        scope: str | None,
    ) -> None:
        scope = scope or ("global" if global_ else "user")

        def build() -> Fault:
            body = rate_limited_body(retry_after, global_)
            return Fault(429, body, _429_headers(retry_after, scope))

        self._add(_Rule(method, pattern, times, build))

    def fail(
        self, method: str, pattern: PathPattern, *, times: int, status: int, code: int, message: str
    ) -> None:
        def build() -> Fault:
            return Fault(status, {"message": message, "code": code}, {})

        self._add(_Rule(method, pattern, times, build))

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this call, if a rule matches; that rule is used up by one."""
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and matches(rule.method, rule.pattern, method, path):
                    rule.remaining -= 1
                    return rule.build()
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


def rate_limited_body(retry_after: float, global_: bool) -> dict[str, Any]:
    """Discord's exact 429 body."""
    return {"message": "You are being rate limited.", "retry_after": retry_after, "global": global_}


def _429_headers(retry_after: float, scope: str) -> dict[str, str]:
    headers = {
        "Retry-After": str(math.ceil(retry_after)),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": "fake-rate-limited",
        "X-RateLimit-Scope": scope,
        # discord.py treats a 429 without "Via" as a Cloudflare ban and gives up; Discord's
        # own 429s come through Google's front end and carry it.
        "Via": "1.1 google",
    }
    if scope == "global":
        headers["X-RateLimit-Global"] = "true"
    return headers


def success_headers(bucket: str) -> dict[str, str]:
    """Rate-limit headers of a call that went through: plenty of room left in the bucket,
    so discord.py never waits pre-emptively."""
    return {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": bucket,
    }
