"""A fake LINE Login v2.1 provider speaking LINE's wire protocol.

* ``GET  {base}/oauth2/v2.1/authorize`` — consent: checks channel id, registered redirect
  URI, ``openid`` scope, S256 challenge; redirects back with ``code`` + ``state`` (or
  ``error=access_denied``).
* ``POST {base}/oauth2/v2.1/token`` — form with client_id/client_secret, single-use code,
  same redirect URI, PKCE verifier; answers an HS256 ID token signed with the channel
  secret and carrying the nonce, as LINE does.
* ``POST {base}/oauth2/v2.1/verify`` — checks the ID token's signature, expiry, audience
  (``client_id``) and ``nonce``, and answers its claims or LINE's error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tests.fakes.discord_oauth import read_form, s256

CHANNEL_ID = "1650000042"
CHANNEL_SECRET = "fake-line-channel-secret"


@dataclass
class LinePerson:
    id: str  # "U" + 32 hex, as LINE user ids look
    name: str


@dataclass
class _Code:
    person: LinePerson
    redirect_uri: str
    challenge: str
    nonce: str | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FakeLine:
    def __init__(self) -> None:
        self.redirect_uris: set[str] = set()
        self.reset()

    def reset(self) -> None:
        self.person: LinePerson | None = None
        self.deny = False
        self.token_status: int | None = None
        self.tamper_nonce = False  # issue ID tokens with another nonce (a mix-up)
        self.calls: list[str] = []
        self._codes: dict[str, _Code] = {}

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/oauth2/v2.1/authorize", self.authorize, methods=["GET"])
        router.add_api_route("/oauth2/v2.1/token", self.token, methods=["POST"])
        router.add_api_route("/oauth2/v2.1/verify", self.verify, methods=["POST"])
        return router

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        self.calls.append("authorize")
        if (
            q.get("response_type") != "code"
            or q.get("client_id") != CHANNEL_ID
            or q.get("redirect_uri") not in self.redirect_uris
            or "openid" not in q.get("scope", "").split()
            or q.get("code_challenge_method") != "S256"
            or not q.get("code_challenge")
            or not q.get("state")
        ):
            return JSONResponse({"error": "invalid_request"}, 400)
        back = q["redirect_uri"]
        if self.deny or self.person is None:
            query = {
                "error": "access_denied",
                "error_description": "The resource owner denied the request.",
                "state": q["state"],
            }
            return RedirectResponse(f"{back}?{urlencode(query)}", 302)
        code = secrets.token_urlsafe(16)
        self._codes[code] = _Code(self.person, back, q["code_challenge"], q.get("nonce"))
        return RedirectResponse(f"{back}?{urlencode({'code': code, 'state': q['state']})}", 302)

    async def token(self, request: Request) -> Response:
        self.calls.append("token")
        if self.token_status is not None:
            return JSONResponse({"message": "Service Unavailable"}, self.token_status)
        form = await read_form(request)
        if form.get("client_id") != CHANNEL_ID or form.get("client_secret") != CHANNEL_SECRET:
            return _error("invalid_client", "invalid client")
        if form.get("grant_type") != "authorization_code":
            return _error("unsupported_grant_type", "unsupported grant type")
        issued = self._codes.pop(str(form.get("code")), None)
        if issued is None or issued.redirect_uri != form.get("redirect_uri"):
            return _error("invalid_grant", "invalid authorization code")
        if s256(str(form.get("code_verifier", ""))) != issued.challenge:
            return _error("invalid_grant", "invalid code_verifier")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "https://access.line.me",
            "sub": issued.person.id,
            "aud": CHANNEL_ID,
            "exp": now + 3600,
            "iat": now,
            "amr": ["linesso"],
            "name": issued.person.name,
        }
        if issued.nonce is not None:
            claims["nonce"] = "another-nonce" if self.tamper_nonce else issued.nonce
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "expires_in": 2592000,
                "id_token": _jwt(claims),
                "refresh_token": secrets.token_urlsafe(16),
                "scope": "openid profile",
                "token_type": "Bearer",
            }
        )

    async def verify(self, request: Request) -> Response:
        self.calls.append("verify")
        form = await read_form(request)
        try:
            header, payload, signature = str(form.get("id_token", "")).split(".")
            expected = hmac.new(
                CHANNEL_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256
            ).digest()
            if not hmac.compare_digest(_unb64(signature), expected):
                raise ValueError
            claims = json.loads(_unb64(payload))
        except ValueError:
            return _error("invalid_request", "Invalid IdToken.")
        if claims["exp"] < time.time():
            return _error("invalid_request", "IdToken expired.")
        if claims["aud"] != form.get("client_id"):
            return _error("invalid_request", "Invalid IdToken Audience.")
        if form.get("nonce") is not None and claims.get("nonce") != form.get("nonce"):
            return _error("invalid_request", "Invalid IdToken Nonce.")
        return JSONResponse(claims)


def _jwt(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(
        CHANNEL_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256
    ).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, 400)
