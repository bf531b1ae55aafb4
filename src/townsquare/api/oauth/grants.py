"""Where Discord grants wait until the next role re-check: process memory, bounded.

A grant is the only way to ask Discord about someone later, so it is a secret: it lives
in this process only (never in a cookie, a URL, a log line or the database in the clear),
keyed by the SHA-256 of the session id, and leaves with its session (logout, revocation,
expiry, or eviction when the map is full — the oldest first).

The cost of memory: after a restart, or on another API process, the grant is gone and the
next re-check cannot happen, so that Discord session ends (the person signs in again, one
click with ``prompt=none``). An encrypted ``provider_refresh_token`` column on
``auth_sessions`` would lift that; the `GrantStore` protocol is the seam for it.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Protocol

from townsquare.api.oauth.discord import DiscordGrant


class GrantStore(Protocol):
    def get(self, session_hash: bytes, *, now: datetime) -> DiscordGrant | None: ...
    def put(self, session_hash: bytes, grant: DiscordGrant, *, until: datetime) -> None: ...
    def drop(self, session_hash: bytes) -> None: ...
    def drop_prefix(self, prefix: bytes) -> None: ...


class MemoryGrantStore:
    """At most ``capacity`` grants; each forgotten when its session would have expired."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._grants: OrderedDict[bytes, tuple[DiscordGrant, datetime]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._grants)

    def get(self, session_hash: bytes, *, now: datetime) -> DiscordGrant | None:
        entry = self._grants.get(session_hash)
        if entry is None:
            return None
        grant, until = entry
        if until <= now:
            del self._grants[session_hash]
            return None
        return grant

    def put(self, session_hash: bytes, grant: DiscordGrant, *, until: datetime) -> None:
        self._grants[session_hash] = (grant, until)
        self._grants.move_to_end(session_hash)
        while len(self._grants) > self.capacity:
            self._grants.popitem(last=False)

    def drop(self, session_hash: bytes) -> None:
        self._grants.pop(session_hash, None)

    def drop_prefix(self, prefix: bytes) -> None:
        """Forget the grant of the session a session list names (by its hash prefix)."""
        for session_hash in [key for key in self._grants if key.startswith(prefix)]:
            del self._grants[session_hash]
