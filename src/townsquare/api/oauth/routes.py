"""``/auth/{discord,line}/login`` and ``/callback``: the browser's trip to a provider and back.

``login`` checks ``next``, issues a state (cookie + consent URL with PKCE challenge and,
for LINE, a nonce) and redirects. ``callback`` checks the state before anything else, then
the provider's ``error``, redeems the code, signs the person in and redirects to ``next``
with the session cookie — never a token in the URL or the body. Every failure is a
problem+json with a stable code (see ``townsquare.api.oauth.errors``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from townsquare.api.deps import Now, Session
from townsquare.api.oauth.cookies import (
    clear_state_cookie,
    set_session_cookie,
    set_state_cookie,
    start_session,
    state_cookie_name,
)
from townsquare.api.oauth.errors import SignInDenied, SignInStateInvalid
from townsquare.api.oauth.flows import SignInContext, discord_sign_in, line_sign_in
from townsquare.api.oauth.session_rows import session_hash
from townsquare.api.oauth.state import PendingSignIn, SignInStates, safe_next
from townsquare.config.settings import AuthSettings

router = APIRouter()


def sign_in_context(request: Request) -> SignInContext:
    context: SignInContext = request.app.state.sign_in
    return context


Context = Annotated[SignInContext, Depends(sign_in_context)]
NextPath = Annotated[
    str | None,
    Query(alias="next", description="Where to land after signing in: a path on this site."),
]

_CALLBACK_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "Bad, expired, reused or foreign state; provider refused the code."},
    403: {"description": "The person declined the consent (code sign_in_denied)."},
    404: {"description": "The provider is not configured (code provider_not_configured)."},
    502: {"description": "The provider could not be reached or answered nonsense."},
}
_LOGIN_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "'next' is not a path on this site (code unsafe_redirect)."},
    404: _CALLBACK_ERRORS[404],
}


@router.get(
    "/auth/discord/login",
    status_code=302,
    response_class=RedirectResponse,
    summary="Start a Discord sign-in (redirects to Discord's consent page)",
    responses=_LOGIN_ERRORS,
)
async def discord_login(context: Context, now: Now, next_path: NextPath = None) -> Response:
    discord = context.discord()
    states = SignInStates("discord", discord.client_secret)
    pending, cookie = states.start(safe_next(next_path), now=now)
    response = RedirectResponse(discord.consent_url(pending.state, pending.code_challenge), 302)
    set_state_cookie(response, "discord", cookie, context.settings)
    return response


@router.get(
    "/auth/discord/callback",
    status_code=303,
    response_class=RedirectResponse,
    summary="Where Discord sends the browser back: signs in, then redirects to next",
    responses=_CALLBACK_ERRORS,
)
async def discord_callback(
    request: Request,
    session: Session,
    context: Context,
    now: Now,
    state: str | None = None,
    code: str | None = None,
    error: str | None = None,
) -> Response:
    discord = context.discord()
    pending = await _finish(request, "discord", discord.client_secret, state, now)
    code = _granted(code, error, "Discord")
    user_id, grant = await discord_sign_in(discord, session, code, pending.code_verifier, now)
    cookie, _ = await start_session(request, session, user_id, "discord", now)
    lifetime = timedelta(days=context.settings.session_days)
    await context.grants.put(session, session_hash(cookie), grant, until=now + lifetime)
    return _landing(pending, "discord", cookie, context.settings)


@router.get(
    "/auth/line/login",
    status_code=302,
    response_class=RedirectResponse,
    summary="Start a LINE Login (redirects to LINE's consent page)",
    responses=_LOGIN_ERRORS,
)
async def line_login(context: Context, now: Now, next_path: NextPath = None) -> Response:
    line = context.line()
    pending, cookie = SignInStates("line", line.client_secret).start(safe_next(next_path), now=now)
    response = RedirectResponse(
        line.consent_url(pending.state, pending.code_challenge, pending.nonce), 302
    )
    set_state_cookie(response, "line", cookie, context.settings)
    return response


@router.get(
    "/auth/line/callback",
    status_code=303,
    response_class=RedirectResponse,
    summary="Where LINE sends the browser back: signs in, then redirects to next",
    responses=_CALLBACK_ERRORS,
)
async def line_callback(
    request: Request,
    session: Session,
    context: Context,
    now: Now,
    state: str | None = None,
    code: str | None = None,
    error: str | None = None,
) -> Response:
    line = context.line()
    pending = await _finish(request, "line", line.client_secret, state, now)
    code = _granted(code, error, "LINE")
    user_id = await line_sign_in(line, session, code, pending.code_verifier, pending.nonce)
    cookie, _ = await start_session(request, session, user_id, "line", now)
    return _landing(pending, "line", cookie, context.settings)


async def _finish(
    request: Request, provider: str, client_secret: str, state: str | None, now: datetime
) -> PendingSignIn:
    """The pending sign-in this browser started, consumed (single use)."""
    cookie = request.cookies.get(state_cookie_name(provider))
    used = request.app.state.rate_limiter.storage
    return await SignInStates(provider, client_secret).finish(cookie, state, now=now, used=used)


def _granted(code: str | None, error: str | None, title: str) -> str:
    """The authorization code, or why the provider sent the browser back without one."""
    if error == "access_denied":
        raise SignInDenied(f"The sign-in was cancelled at {title}.")
    if error:
        shown = error[:40] if error.isascii() and error.replace("_", "").isalnum() else "error"
        raise SignInDenied(f"{title} did not sign you in ({shown}).")
    if not code:
        raise SignInStateInvalid(f"{title} sent the browser back without a code. Start again.")
    return code


def _landing(
    pending: PendingSignIn, provider: str, cookie: str, settings: AuthSettings
) -> Response:
    response = RedirectResponse(pending.next_path, 303)
    set_session_cookie(response, cookie, settings)
    clear_state_cookie(response, provider, settings)
    return response
