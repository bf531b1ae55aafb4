"""The record of calls a fake received, shared by every fake, and how tests find them.

A bug in a fake (an exception in a handler) is kept in ``errors`` so a test can insist on
none, rather than it hiding behind a 500 that the code under test retried. Touched from
the test's thread and the fake's loop, hence the lock.
"""

from __future__ import annotations

import re
import threading
from typing import Generic, Protocol, TypeVar

PathPattern = str | re.Pattern[str]


class _Call(Protocol):
    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...


CallT = TypeVar("CallT", bound=_Call)


def matches(method: str, pattern: PathPattern, call_method: str, path: str) -> bool:
    """``method`` ("*" for any) and a path prefix (str) or a regex searched in the path."""
    if method != "*" and method.upper() != call_method:
        return False
    if isinstance(pattern, str):
        return path.startswith(pattern)
    return pattern.search(path) is not None


class CallLog(Generic[CallT]):
    """Every call, in arrival order, and the fake's own failures; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[CallT] = []
        self._errors: list[str] = []

    def error(self, where: str, error: BaseException) -> None:
        with self._lock:
            self._errors.append(f"{where}: {type(error).__name__}: {error}")

    @property
    def errors(self) -> list[str]:
        with self._lock:
            return list(self._errors)

    def append(self, call: CallT) -> None:
        with self._lock:
            self._calls.append(call)

    def snapshot(self) -> list[CallT]:
        with self._lock:
            return list(self._calls)

    def matching(self, method: str, pattern: PathPattern) -> list[CallT]:
        return [c for c in self.snapshot() if matches(method, pattern, c.method, c.path)]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
