"""The pending sign-in between ``/login`` and ``/callback``: state, PKCE, nonce, next.

Nothing is kept in process memory, so any API process can finish a sign-in another one
started. The browser holds a short-lived HttpOnly cookie with the ``state``, the ``next``
path and the issue time, signed with a key derived from the provider's client secret (a
server-only value every process shares). The PKCE ``code_verifier`` and the OIDC ``nonce``
are *derived* from the state with that key, so the verifier never leaves the server at
all — someone who intercepts the code cannot redeem it.

The callback accepts a state only if it equals the cookie's (bound to the browser that
started the sign-in: login CSRF is rejected), the cookie is genuine and younger than
`STATE_TTL`, and the state was never consumed before. "Consumed" is one atomic increment
in the rate limiter's storage (memory, or Redis shared by every process), so a replayed
callback fails even with the original cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from townsquare.api.oauth.errors import SignInStateInvalid, UnsafeRedirect

STATE_TTL = timedelta(minutes=10)
_MAX_NEXT = 512


class CounterStorage(Protocol):
    """The slice of a `limits` async storage used to mark states as consumed."""

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int: ...


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in in flight: what the consent URL carries and what the callback needs."""

    state: str
    code_verifier: str
    code_challenge: str
    nonce: str
    next_path: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SignInStates:
    """Issues and checks sign-in states for one provider."""

    def __init__(self, provider: str, client_secret: str) -> None:
        self.provider = provider
        self._key = hmac.new(
            client_secret.encode(), f"townsquare/sign-in/{provider}/v1".encode(), hashlib.sha256
        ).digest()

    def _mac(self, purpose: str, value: str) -> bytes:
        return hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()

    def pending(self, state: str, next_path: str) -> PendingSignIn:
        verifier = _b64(self._mac("pkce", state))  # 43 characters, as RFC 7636 allows
        challenge = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
        return PendingSignIn(
            state=state,
            code_verifier=verifier,
            code_challenge=challenge,
            nonce=_b64(self._mac("nonce", state)[:18]),
            next_path=next_path,
        )

    def start(self, next_path: str, *, now: datetime) -> tuple[PendingSignIn, str]:
        """A new pending sign-in and the cookie value that binds it to this browser."""
        pending = self.pending(secrets.token_urlsafe(32), next_path)
        payload = _b64(
            json.dumps(
                {"s": pending.state, "n": next_path, "t": int(now.timestamp())},
                separators=(",", ":"),
            ).encode()
        )
        return pending, f"{payload}.{_b64(self._mac('cookie', payload))}"

    async def finish(
        self, cookie: str | None, state: str | None, *, now: datetime, used: CounterStorage
    ) -> PendingSignIn:
        """The pending sign-in for a callback, consumed (`SignInStateInvalid` otherwise)."""
        if not cookie or not state:
            raise SignInStateInvalid(
                "This sign-in was not started in this browser (or its cookie is gone). "
                "Start again from the sign-in page."
            )
        payload, _, mac = cookie.partition(".")
        try:
            if not hmac.compare_digest(_unb64(mac), self._mac("cookie", payload)):
                raise ValueError("bad signature")
            fields = json.loads(_unb64(payload))
            expected, next_path, issued = str(fields["s"]), str(fields["n"]), int(fields["t"])
        except (ValueError, KeyError, TypeError):
            raise SignInStateInvalid(
                "The sign-in cookie is not one we issued. Start again."
            ) from None
        if not hmac.compare_digest(expected.encode(), state.encode()):
            raise SignInStateInvalid(
                "The sign-in state does not match the one this browser started. Start again."
            )
        age = now.timestamp() - issued
        if age > STATE_TTL.total_seconds() or age < -60:
            raise SignInStateInvalid("The sign-in took too long and expired. Start again.")
        digest = hashlib.sha256(f"{self.provider}:{state}".encode()).hexdigest()[:40]
        seconds = STATE_TTL.total_seconds() + 120
        if await used.incr(f"townsquare/sign-in-state/{digest}", seconds) != 1:
            raise SignInStateInvalid("This sign-in was already used. Start again.")
        return self.pending(state, safe_next(next_path))


def safe_next(next_path: str | None) -> str:
    """``next`` if it is a path on this site, else `UnsafeRedirect`.

    Only ``/path?query#fragment`` is allowed: no scheme, no host, no ``//host`` or
    ``/\\host`` (browsers treat both as another site), no control characters.
    """
    if next_path is None or next_path == "":
        return "/"
    parts = urlsplit(next_path)
    if (
        len(next_path) > _MAX_NEXT
        or not next_path.startswith("/")
        or next_path.startswith(("//", "/\\"))
        or "\\" in next_path
        or parts.scheme
        or parts.netloc
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in next_path)
    ):
        raise UnsafeRedirect("'next' must be a path on this site, such as /dashboard.")
    return next_path
