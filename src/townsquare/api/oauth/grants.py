"""Where Discord grants wait until the next role re-check.

A grant is the only way to ask Discord about someone later, so it is a secret: never in a
cookie, a URL or a log line, keyed by the SHA-256 of the session id, gone with its session
(logout, revocation, expiry).

* `DatabaseGrantStore` (when ``auth.secret_key`` is set): on the session's row, encrypted
  with AES-GCM under a key derived from the secret, with the row's id hash as associated
  data (a ciphertext copied to another row does not decrypt). Sign-ins survive restarts and
  every API process behind a load balancer can re-check anyone's roles.
* `MemoryGrantStore` (no key): this process's memory, bounded. After a restart, or on
  another API process, the grant is missing and that Discord session ends at its next
  re-check (the person signs in again) — safe, but unfit for several API processes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import OrderedDict
from datetime import datetime
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.api.oauth.discord import DiscordGrant
from townsquare.store.models import AuthSession

_NONCE = 12


class GrantStore(Protocol):
    async def get(
        self, db: AsyncSession, session_hash: bytes, *, now: datetime
    ) -> DiscordGrant | None: ...

    async def put(
        self, db: AsyncSession, session_hash: bytes, grant: DiscordGrant, *, until: datetime
    ) -> None: ...

    async def drop(self, db: AsyncSession, session_hash: bytes) -> None: ...

    async def drop_prefix(self, db: AsyncSession, prefix: bytes) -> None: ...


class MemoryGrantStore:
    """At most ``capacity`` grants; each forgotten when its session would have expired."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._grants: OrderedDict[bytes, tuple[DiscordGrant, datetime]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._grants)

    async def get(
        self, _db: AsyncSession, session_hash: bytes, *, now: datetime
    ) -> DiscordGrant | None:
        entry = self._grants.get(session_hash)
        if entry is None:
            return None
        grant, until = entry
        if until <= now:
            del self._grants[session_hash]
            return None
        return grant

    async def put(
        self, _db: AsyncSession, session_hash: bytes, grant: DiscordGrant, *, until: datetime
    ) -> None:
        self._grants[session_hash] = (grant, until)
        self._grants.move_to_end(session_hash)
        while len(self._grants) > self.capacity:
            self._grants.popitem(last=False)

    async def drop(self, _db: AsyncSession, session_hash: bytes) -> None:
        self._grants.pop(session_hash, None)

    async def drop_prefix(self, _db: AsyncSession, prefix: bytes) -> None:
        """Forget the grant of the session a session list names (by its hash prefix)."""
        for session_hash in [key for key in self._grants if key.startswith(prefix)]:
            del self._grants[session_hash]


class DatabaseGrantStore:
    """Grants on their session rows, encrypted; in the caller's transaction."""

    def __init__(self, secret_key: str) -> None:
        # A key of its own for this purpose, derived from the configured secret.
        key = hashlib.sha256(b"townsquare/session-grant/v1\0" + secret_key.encode()).digest()
        self._aead = AESGCM(key)

    def seal(self, session_hash: bytes, grant: DiscordGrant) -> bytes:
        plain = json.dumps(
            {
                "a": grant.access_token,
                "r": grant.refresh_token,
                "e": grant.expires_at.isoformat(),
            }
        ).encode()
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, plain, session_hash)

    def open(self, session_hash: bytes, sealed: bytes) -> DiscordGrant | None:
        """The grant, or None if it was sealed under another key or for another row."""
        try:
            plain = self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], session_hash)
            doc = json.loads(plain)
            return DiscordGrant(doc["a"], doc["r"], datetime.fromisoformat(doc["e"]))
        except (InvalidTag, ValueError, KeyError, TypeError):
            return None

    async def get(
        self, db: AsyncSession, session_hash: bytes, *, now: datetime
    ) -> DiscordGrant | None:
        sealed = await db.scalar(
            select(AuthSession.provider_grant).where(
                AuthSession.id_hash == session_hash,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
            )
        )
        return None if sealed is None else self.open(session_hash, sealed)

    async def put(
        self, db: AsyncSession, session_hash: bytes, grant: DiscordGrant, *, until: datetime
    ) -> None:
        # ``until`` is the session's own expiry, which the row already carries.
        await db.execute(
            update(AuthSession)
            .where(AuthSession.id_hash == session_hash)
            .values(provider_grant=self.seal(session_hash, grant))
        )

    async def drop(self, db: AsyncSession, session_hash: bytes) -> None:
        await db.execute(
            update(AuthSession)
            .where(AuthSession.id_hash == session_hash)
            .values(provider_grant=None)
        )

    async def drop_prefix(self, db: AsyncSession, prefix: bytes) -> None:
        await db.execute(
            update(AuthSession)
            .where(func.substring(AuthSession.id_hash, 1, len(prefix)) == prefix)
            .values(provider_grant=None)
        )
