"""Sign-in, sign-out and the signed-in person's sessions.

Browser flows never put a secret where a script or a log can see it: the session id
travels only in an HttpOnly, SameSite=Lax cookie (Secure unless ``auth.cookie_secure`` is
off for plain-http development) and is stored hashed; the CSRF token the dashboard must
echo in ``X-CSRF-Token`` comes from ``GET /auth/me``. Provider sign-ins use ``state`` bound
to the browser, PKCE and (LINE) a nonce — see ``townsquare.api.oauth``.

Discord roles are re-checked when a session is refreshed: ``GET /auth/me`` and ``POST
/auth/refresh`` (see ``townsquare.api.oauth.flows``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from townsquare.api.deps import (
    SESSION_COOKIE,
    Caller,
    Forbidden,
    NotAuthenticated,
    Now,
    Session,
    check_csrf,
    client_ip,
    signed_in,
)
from townsquare.api.oauth import routes as provider_routes
from townsquare.api.oauth.cookies import (
    clear_session_cookie,
    set_session_cookie,
    start_session,
)
from townsquare.api.oauth.flows import Recheck, SignInContext, recheck_discord_roles
from townsquare.api.oauth.grants import DatabaseGrantStore, GrantStore, MemoryGrantStore
from townsquare.api.oauth.routes import Context
from townsquare.api.oauth.session_rows import session_hash
from townsquare.api.problems import problem
from townsquare.config.settings import Settings
from townsquare.errors import TownsquareError
from townsquare.services.accounts import (
    Principal,
    Role,
    SessionOut,
    authenticate_local,
    get_user,
    list_sessions,
    revoke_session,
    revoke_session_by_id,
)

# Password guessing is slow by design (scrypt) and capped per client IP.
LOGIN_RATE_LIMIT = "10/minute"
_PROVIDER_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One HTTP client for the providers, owned by the app and closed on shutdown."""
    settings: Settings = app.state.settings
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=5)
    async with httpx.AsyncClient(timeout=_PROVIDER_TIMEOUT, limits=limits) as http:
        key = settings.auth.secret_key
        grants: GrantStore = (
            DatabaseGrantStore(key.get_secret_value()) if key is not None else MemoryGrantStore()
        )
        app.state.sign_in = SignInContext(settings.auth, http, grants)
        yield


router = APIRouter(tags=["auth"], lifespan=_lifespan)
router.include_router(provider_routes.router)


class LoginRequest(BaseModel):
    """A local sign-in (the CLI-created bootstrap admin)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "admin", "password": "a long passphrase"}]}
    )

    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class RoleOut(BaseModel):
    community_id: int
    role: Role


class MeOut(BaseModel):
    """The signed-in person, their roles, and the CSRF token to echo on changes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": 1,
                    "display_name": "Ada",
                    "is_instance_admin": False,
                    "provider": "discord",
                    "roles": [{"community_id": 3, "role": "admin"}],
                    "csrf_token": "kq3...",
                }
            ]
        }
    )

    user_id: int
    display_name: str
    is_instance_admin: bool
    provider: str | None
    roles: list[RoleOut]
    csrf_token: str = Field(description="Send back in the X-CSRF-Token header on changes.")


# --- local sign-in, sign-out, me --------------------------------------------------------


@router.post(
    "/auth/login",
    response_model=MeOut,
    summary="Sign in with a local name and password",
    responses={
        401: {"description": "Wrong name or password."},
        422: {"description": "The body is not a JSON object with name and password."},
        429: {"description": "Too many attempts from this address (see Retry-After)."},
    },
)
async def login(
    request: Request, body: LoginRequest, response: Response, session: Session, now: Now
) -> MeOut:
    """Sets the session cookie. The body must be ``application/json`` (FastAPI refuses any
    other type with 422), which a cross-site page cannot send without a CORS preflight — so
    no other site can sign a browser in to an attacker's account (login CSRF)."""
    await request.app.state.rate_limiter.hit(LOGIN_RATE_LIMIT, "login", f"ip:{client_ip(request)}")
    user_id = await authenticate_local(session, body.name, body.password)
    if user_id is None:
        raise InvalidCredentials("Wrong name or password.")
    cookie, csrf = await start_session(request, session, user_id, "local", now)
    set_session_cookie(response, cookie, request.app.state.settings.auth)
    return await _me(session, user_id, "local", csrf)


@router.post(
    "/auth/logout",
    status_code=204,
    summary="Sign out (this browser's session stops working everywhere at once)",
    responses={403: {"description": "Missing or wrong X-CSRF-Token."}},
)
async def logout(
    request: Request, principal: Caller, session: Session, context: Context, now: Now
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if principal is not None:
        check_csrf(request, principal)
    if cookie:
        await revoke_session(session, cookie, now=now)
        await context.grants.drop(session, session_hash(cookie))
    response = Response(status_code=204)
    clear_session_cookie(response, context.settings)
    return response


@router.get(
    "/auth/me",
    response_model=MeOut,
    summary="Who is signed in (re-checks Discord roles when they are due)",
    responses={401: {"description": "Not signed in, or the session ended."}},
)
async def me(
    request: Request, principal: Caller, session: Session, context: Context, now: Now
) -> MeOut | Response:
    return await _refreshed_me(request, principal, session, context, now)


@router.post(
    "/auth/refresh",
    response_model=MeOut,
    summary="Refresh the session: re-check Discord roles if they are due",
    responses={
        401: {"description": "Not signed in, or the session ended."},
        403: {"description": "Missing or wrong X-CSRF-Token."},
    },
)
async def refresh(
    request: Request,
    principal: Annotated[Principal, Depends(signed_in)],
    session: Session,
    context: Context,
    now: Now,
) -> MeOut | Response:
    return await _refreshed_me(request, principal, session, context, now)


async def _refreshed_me(
    request: Request,
    principal: Principal | None,
    session: Session,
    context: SignInContext,
    now: datetime,
) -> MeOut | Response:
    user_id, csrf, provider = _browser_session(principal)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if await recheck_discord_roles(context, session, cookie, now=now) is Recheck.ENDED:
        # Returned, not raised: the revocation must be committed with this request.
        response = problem(
            401,
            "session_ended",
            "Session ended",
            "Your Discord roles could not be checked again. Sign in again.",
        )
        clear_session_cookie(response, context.settings)
        return response
    return await _me(session, user_id, provider, csrf)


# --- the person's sessions --------------------------------------------------------------


@router.get(
    "/auth/sessions",
    response_model=list[SessionOut],
    summary="My signed-in browsers",
    responses={401: {"description": "Not signed in."}},
)
async def sessions(
    request: Request, principal: Caller, session: Session, now: Now
) -> list[SessionOut]:
    user_id, _, _ = _browser_session(principal)
    return await list_sessions(
        session, user_id, now=now, current_cookie=request.cookies.get(SESSION_COOKIE)
    )


@router.delete(
    "/auth/sessions/{session_id}",
    status_code=204,
    summary="Sign out one of my sessions (by the id the session list shows)",
    responses={
        401: {"description": "Not signed in."},
        403: {"description": "Missing or wrong X-CSRF-Token."},
        404: {"description": "No such session of mine."},
    },
)
async def revoke(
    request: Request,
    session_id: str,
    principal: Annotated[Principal, Depends(signed_in)],
    session: Session,
    context: Context,
    now: Now,
) -> Response:
    user_id, _, _ = _browser_session(principal)
    await revoke_session_by_id(session, user_id, session_id, now=now)
    response = Response(status_code=204)
    await context.grants.drop_prefix(session, bytes.fromhex(session_id))  # valid: revoked
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and session_hash(cookie)[:8].hex() == session_id:
        clear_session_cookie(response, context.settings)
    return response


# --- helpers ----------------------------------------------------------------------------


class InvalidCredentials(TownsquareError):
    status = 401
    code = "invalid_credentials"


def _browser_session(principal: Principal | None) -> tuple[int, str, str | None]:
    """User id, CSRF token and provider of a cookie-signed-in caller (tokens have none)."""
    if principal is None:
        raise NotAuthenticated("Sign in first.")
    if principal.user_id is None or principal.csrf_token is None:
        raise Forbidden("This is about browser sessions; API tokens have none.")
    return principal.user_id, principal.csrf_token, principal.session_provider


async def _me(session: Session, user_id: int, provider: str | None, csrf: str) -> MeOut:
    user = await get_user(session, user_id)
    return MeOut(
        user_id=user.id,
        display_name=user.display_name,
        is_instance_admin=user.is_instance_admin,
        provider=provider,
        roles=[RoleOut(community_id=c, role=r) for c, r in sorted(user.roles.items())],
        csrf_token=csrf,
    )
