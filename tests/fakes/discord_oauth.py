"""A fake Discord OAuth2 provider speaking Discord's wire protocol.

* ``GET  {base}/oauth2/authorize`` — the consent page: checks the client, the registered
  redirect URI, the scopes and the S256 PKCE challenge, then "the person agrees" (or
  declines, when ``deny`` is set) and redirects back with ``code`` + ``state``.
* ``POST {base}/api/oauth2/token`` — form-encoded, client credentials by HTTP Basic or in
  the form; ``authorization_code`` (single-use code, same redirect URI, PKCE verifier
  checked against the challenge) and ``refresh_token`` (rotated on every use).
* ``GET  {base}/api/users/@me`` and ``/api/users/@me/guilds`` with ``Bearer`` tokens.

Tests arrange who signs in (``person``), their guilds and failures, and read ``calls``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

CLIENT_ID = "712345678901234567"
CLIENT_SECRET = "fake-discord-secret"
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
SEND_MESSAGES = 1 << 11


@dataclass
class DiscordPerson:
    id: str
    username: str
    global_name: str | None = None
    guilds: list[dict[str, Any]] = field(default_factory=list)

    def join(self, guild_id: str, *, owner: bool = False, permissions: int = SEND_MESSAGES) -> None:
        self.guilds = [g for g in self.guilds if g["id"] != guild_id]
        self.guilds.append(
            {
                "id": guild_id,
                "name": f"Guild {guild_id}",
                "icon": None,
                "owner": owner,
                "permissions": str(permissions),
                "features": [],
            }
        )


@dataclass
class _Code:
    person: str
    redirect_uri: str
    challenge: str


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


class FakeDiscord:
    def __init__(self) -> None:
        self.redirect_uris: set[str] = set()
        self.reset()

    def reset(self) -> None:
        self.person: DiscordPerson | None = None  # who is signed in at the consent page
        self.people: dict[str, DiscordPerson] = {}
        self.deny = False
        self.token_status: int | None = None  # answer the token endpoint with this, e.g. 500
        self.guilds_status: int | None = None
        self.calls: list[str] = []
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, str] = {}
        self._refresh: dict[str, str] = {}

    def sign_in_as(self, person: DiscordPerson) -> DiscordPerson:
        self.person = person
        self.people[person.id] = person
        return person

    def revoke_authorization(self, person_id: str) -> None:
        """The person removed the app in Discord's settings: every token stops working."""
        self._access = {t: p for t, p in self._access.items() if p != person_id}
        self._refresh = {t: p for t, p in self._refresh.items() if p != person_id}

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/oauth2/authorize", self.authorize, methods=["GET"])
        router.add_api_route("/api/oauth2/token", self.token, methods=["POST"])
        router.add_api_route("/api/users/@me", self.me, methods=["GET"])
        router.add_api_route("/api/users/@me/guilds", self.guilds, methods=["GET"])
        return router

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        self.calls.append("authorize")
        problems = [
            q.get("response_type") != "code" and "response_type",
            q.get("client_id") != CLIENT_ID and "client_id",
            q.get("redirect_uri") not in self.redirect_uris and "redirect_uri",
            not {"identify", "guilds"} <= set(q.get("scope", "").split()) and "scope",
            q.get("code_challenge_method") != "S256" and "code_challenge_method",
            not q.get("code_challenge") and "code_challenge",
        ]
        if any(problems):
            return JSONResponse({"error": "invalid_request", "fields": problems}, 400)
        back = q["redirect_uri"]
        if self.deny or self.person is None:
            return RedirectResponse(
                f"{back}?"
                + urlencode(
                    {
                        "error": "access_denied",
                        "error_description": "The resource owner or authorization server "
                        "denied the request",
                        "state": q.get("state", ""),
                    }
                ),
                302,
            )
        code = secrets.token_urlsafe(20)
        self._codes[code] = _Code(self.person.id, back, q["code_challenge"])
        return RedirectResponse(f"{back}?{urlencode({'code': code, 'state': q['state']})}", 302)

    async def token(self, request: Request) -> Response:
        self.calls.append("token")
        if self.token_status is not None:
            return JSONResponse({"message": "Internal Server Error"}, self.token_status)
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return JSONResponse({"error": "invalid_request"}, 400)
        form = await read_form(request)
        client = _basic(request) or (form.get("client_id"), form.get("client_secret"))
        if client != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            issued = self._codes.pop(str(form.get("code")), None)
            if issued is None or issued.redirect_uri != form.get("redirect_uri"):
                return _invalid_grant('Invalid "code" in request.')
            if s256(str(form.get("code_verifier", ""))) != issued.challenge:
                return _invalid_grant('Invalid "code_verifier" in request.')
            person = issued.person
        elif grant_type == "refresh_token":
            person_or_none = self._refresh.pop(str(form.get("refresh_token")), None)
            if person_or_none is None:
                return _invalid_grant("Invalid refresh token")
            person = person_or_none
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._access[access] = person
        self._refresh[refresh] = person
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 604800,
                "refresh_token": refresh,
                "scope": "identify guilds",
            }
        )

    def _bearer(self, request: Request) -> DiscordPerson | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        person_id = self._access.get(token) if scheme == "Bearer" else None
        return self.people.get(person_id) if person_id is not None else None

    async def me(self, request: Request) -> Response:
        self.calls.append("me")
        person = self._bearer(request)
        if person is None:
            return JSONResponse({"message": "401: Unauthorized", "code": 0}, 401)
        return JSONResponse(
            {
                "id": person.id,
                "username": person.username,
                "discriminator": "0",
                "global_name": person.global_name,
                "avatar": None,
            }
        )

    async def guilds(self, request: Request) -> Response:
        self.calls.append("guilds")
        if self.guilds_status is not None:
            return JSONResponse({"message": "unavailable"}, self.guilds_status)
        person = self._bearer(request)
        if person is None:
            return JSONResponse({"message": "401: Unauthorized", "code": 0}, 401)
        return JSONResponse(person.guilds)


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (no multipart library needed)."""
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))


def _invalid_grant(description: str) -> Response:
    return JSONResponse({"error": "invalid_grant", "error_description": description}, 400)


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme != "Basic":
        return None
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    return user, password
