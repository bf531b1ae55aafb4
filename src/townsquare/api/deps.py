"""What routes depend on: the unit of work, the caller, permission checks, rate limits.

* `db_session`: one transaction per request — committed when the route returns, rolled
  back when it raises — so a service's change, its audit entry and its NOTIFY land
  together or not at all.
* `current_principal`: the caller from ``Authorization: Bearer tsq_...`` (an API token) or
  the session cookie; None when anonymous. A bearer token that is wrong is a 401, never
  silently anonymous.
* `require(permission)`: the route's ``community_id`` path parameter and a permission;
  401 without a caller, 403 without the permission. A cookie-authenticated unsafe request
  must also echo the session's CSRF token in ``X-CSRF-Token`` (API tokens are not sent by
  browsers on their own, so they need none).
* Rate limits (`RateLimiter`): the `limits` library's moving window, in memory or Redis;
  each check is one atomic operation of the storage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

import limits
import limits.aio.strategies
import limits.storage
from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.api.oauth.flows import Recheck, recheck_discord_roles
from townsquare.errors import TownsquareError
from townsquare.services.accounts import (
    Permission,
    Principal,
    principal_for_session,
    principal_for_token,
)

SESSION_COOKIE = "townsquare_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotAuthenticated(TownsquareError):
    status = 401
    code = "not_authenticated"


class SessionEnded(NotAuthenticated):
    """The sign-in was revoked by a role re-check; the browser's cookie is cleared."""

    code = "session_ended"
    clears_cookie = SESSION_COOKIE


class Forbidden(TownsquareError):
    status = 403
    code = "forbidden"


class RateLimited(TownsquareError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def utc_now(request: Request) -> datetime:
    """The request's clock (``app.state.clock``, so tests can move time without sleeping)."""
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", lambda: datetime.now(UTC))
    return clock()


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commit on success, roll back on any error."""
    async with request.app.state.session_factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


Session = Annotated[AsyncSession, Depends(db_session)]


async def _request_now(request: Request) -> datetime:
    # async: a plain function dependency would cost a thread hop on every request.
    return utc_now(request)


Now = Annotated[datetime, Depends(_request_now)]


async def current_principal(request: Request, session: Session, now: Now) -> Principal | None:
    """The caller, or None for an anonymous request."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise NotAuthenticated("Use 'Authorization: Bearer <API token>'.")
        principal = await principal_for_token(session, credentials.strip(), now=now)
        if principal is None:
            raise NotAuthenticated("The API token is unknown, revoked or expired.")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    principal = await principal_for_session(session, cookie, now=now)
    if principal is None or not _roles_due(request, principal, now):
        return principal
    # A Discord sign-in's roles are re-read when old, so a demoted moderator loses access
    # on their next request, whatever route it is.
    outcome = await recheck_discord_roles(request.app.state.sign_in, session, cookie, now=now)
    if outcome is Recheck.ENDED:
        await session.commit()  # keep the revocation; this request fails
        raise SessionEnded("Your Discord roles could not be checked again. Sign in again.")
    if outcome is Recheck.REFRESHED:
        return await principal_for_session(session, cookie, now=now)
    return principal


def _roles_due(request: Request, principal: Principal, now: datetime) -> bool:
    if principal.session_provider != "discord" or principal.session_refreshed_at is None:
        return False
    minutes = request.app.state.settings.auth.role_refresh_minutes
    return now - principal.session_refreshed_at >= timedelta(minutes=minutes)


Caller = Annotated[Principal | None, Depends(current_principal)]


def check_csrf(request: Request, principal: Principal) -> None:
    """Cookie-authenticated changes must carry the session's CSRF token."""
    if request.method in _SAFE_METHODS or principal.token_id is not None:
        return
    sent = request.headers.get(CSRF_HEADER)
    if principal.csrf_token is None or sent != principal.csrf_token:
        raise Forbidden(f"Missing or wrong {CSRF_HEADER} header for a signed-in change.")


def signed_in(request: Request, principal: Caller) -> Principal:
    """Any authenticated caller (CSRF-checked for unsafe methods)."""
    if principal is None:
        raise NotAuthenticated("Sign in or send an API token.")
    check_csrf(request, principal)
    return principal


def require(
    permission: Permission,
) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must hold ``permission`` in the path's community."""

    async def dependency(
        request: Request,
        principal: Caller,
        community_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="The community's id.")],
    ) -> Principal:
        if principal is None:
            raise NotAuthenticated("Sign in or send an API token.")
        if not principal.can(community_id, permission):
            raise Forbidden(
                f"This needs the {permission.value!r} permission in community {community_id}."
            )
        check_csrf(request, principal)
        return principal

    return dependency


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


class RateLimiter:
    """Moving-window limits keyed by whatever the caller chooses (IP, user, token)."""

    def __init__(self, storage_uri: str) -> None:
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        # Async Redis through redis-py (the `limits[redis]` extra), not coredis.
        options = {"implementation": "redispy"} if "redis" in uri.split("://", 1)[0] else {}
        self.storage = limits.storage.storage_from_string(uri, **options)
        self.strategy = limits.aio.strategies.MovingWindowRateLimiter(self.storage)

    async def close(self) -> None:
        """Close the Redis connections, if any (the app's lifespan calls this)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        aclose = getattr(client, "aclose", None)
        if aclose is not None:
            await aclose()

    async def hit(self, limit: str, *keys: str) -> None:
        """Count one request; `RateLimited` (429 with Retry-After) when over ``limit``."""
        item = limits.parse(limit)
        if await self.strategy.hit(item, *keys):
            return
        stats = await self.strategy.get_window_stats(item, *keys)
        retry_after = max(1, int(stats.reset_time - datetime.now(UTC).timestamp()) + 1)
        raise RateLimited(f"Too many requests; allowed {limit}.", retry_after)


def rate_limited(kind: str) -> Callable[..., Awaitable[None]]:
    """A dependency counting the request against ``api.<kind>_rate_limit``.

    Reads are counted per client IP; mutations per caller (user or token), falling back to
    the IP.
    """

    async def dependency(request: Request, principal: Caller) -> None:
        limiter: RateLimiter = request.app.state.rate_limiter
        limit: str = getattr(request.app.state.settings.api, f"{kind}_rate_limit")
        who = (
            f"token:{principal.token_id}"
            if principal is not None and principal.token_id is not None
            else f"user:{principal.user_id}"
            if principal is not None and kind == "mutation"
            else f"ip:{client_ip(request)}"
        )
        await limiter.hit(limit, kind, who)

    return dependency
