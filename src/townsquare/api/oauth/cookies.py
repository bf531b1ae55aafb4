"""The cookies of signing in: the session cookie, and the short-lived sign-in state cookie.

Both are HttpOnly (no script reads them), SameSite=Lax (sent on the top-level navigation
back from a provider, not on cross-site subrequests) and Secure unless
``auth.cookie_secure`` is off for plain-http development. A new sign-in always gets a
new session id; the browser's previous session is revoked, never upgraded (no fixation).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.api.deps import SESSION_COOKIE, client_ip
from townsquare.api.oauth.flows import SignInContext
from townsquare.api.oauth.session_rows import session_hash
from townsquare.config.settings import AuthSettings
from townsquare.services.accounts import create_session, revoke_session

STATE_MAX_AGE = 600


def state_cookie_name(provider: str) -> str:
    return f"townsquare_signin_{provider}"


def state_cookie_path(provider: str) -> str:
    """Only the provider's own login and callback routes ever receive it."""
    return f"/api/v1/auth/{provider}"


async def start_session(
    request: Request, session: AsyncSession, user_id: int, provider: str, now: datetime
) -> tuple[str, str]:
    """A fresh session (cookie value, CSRF token); the browser's previous one is revoked."""
    context: SignInContext = request.app.state.sign_in
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        await revoke_session(session, previous, now=now)
        await context.grants.drop(session, session_hash(previous))
    return await create_session(
        session,
        user_id,
        provider=provider,
        now=now,
        lifetime=timedelta(days=context.settings.session_days),
        user_agent=request.headers.get("user-agent"),
        source_ip=client_ip(request),
    )


def set_session_cookie(response: Response, cookie: str, settings: AuthSettings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=settings.session_days * 86_400,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: AuthSettings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.cookie_secure, httponly=True, samesite="lax"
    )


def set_state_cookie(response: Response, provider: str, value: str, settings: AuthSettings) -> None:
    response.set_cookie(
        state_cookie_name(provider),
        value,
        max_age=STATE_MAX_AGE,
        path=state_cookie_path(provider),
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def clear_state_cookie(response: Response, provider: str, settings: AuthSettings) -> None:
    response.delete_cookie(
        state_cookie_name(provider),
        path=state_cookie_path(provider),
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )
