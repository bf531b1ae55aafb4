"""One way to call a provider: bounded by the client's timeouts, errors made explicit.

Provider failures become `ProviderUnavailable` (unreachable, 5xx, 429, not JSON) or
`ProviderRejected` (4xx, with the OAuth ``error`` code when there is one) — so a route
can answer a clear problem, and the role re-check can tell "Discord is down" (keep the
session, try later) from "the grant was revoked" (end the session). Log lines name the
provider, endpoint and status only: bodies carry tokens.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import structlog

from townsquare.api.oauth.errors import ProviderRejected, ProviderUnavailable

log = structlog.get_logger(__name__)
TITLES = {"discord": "Discord", "line": "LINE"}
_OAUTH_ERROR = re.compile(r"^[a-z_]{1,40}$")


async def call_json(
    http: httpx.AsyncClient,
    provider: str,
    method: str,
    url: str,
    *,
    endpoint: str,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> Any:
    """The provider's JSON answer to one request."""
    title = TITLES.get(provider, provider)
    try:
        response = await http.request(method, url, data=data, headers=headers, auth=auth)
    except httpx.HTTPError as exc:
        log.warning(
            "provider_call_failed", provider=provider, endpoint=endpoint, error=type(exc).__name__
        )
        raise ProviderUnavailable(
            f"{title} could not be reached ({type(exc).__name__}). Try again in a moment."
        ) from None
    status = response.status_code
    if status >= 500 or status == 429:
        log.warning("provider_call_failed", provider=provider, endpoint=endpoint, status=status)
        raise ProviderUnavailable(f"{title} answered {status}. Try again in a moment.")
    if status >= 400:
        oauth_error = _oauth_error(response)
        log.info(
            "provider_call_rejected",
            provider=provider,
            endpoint=endpoint,
            status=status,
            oauth_error=oauth_error,
        )
        raise ProviderRejected(
            f"{title} refused the sign-in ({oauth_error or status}). Start again.", oauth_error
        )
    try:
        return response.json()
    except ValueError:
        log.warning("provider_call_failed", provider=provider, endpoint=endpoint, error="not_json")
        raise ProviderUnavailable(f"{title} answered something that is not JSON.") from None


def _oauth_error(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and _OAUTH_ERROR.match(error) else None


def expect_str(body: Any, key: str, provider: str) -> str:
    """``body[key]`` as a non-empty string, else `ProviderUnavailable` (a malformed answer)."""
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise ProviderUnavailable(f"{TITLES.get(provider, provider)}'s answer lacks {key!r}.")
    return value
