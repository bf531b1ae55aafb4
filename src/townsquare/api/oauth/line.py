"""LINE Login v2.1 (OpenID Connect, authorization code + PKCE + nonce).

The ID token is checked by LINE's own ``/oauth2/v2.1/verify`` endpoint with our channel id
and the nonce we sent, rather than by decoding the JWT here: LINE checks signature, issuer,
audience, expiry and nonce in one call, and we carry no JWT library for it. LINE gives no
community roles; a LINE user's roles are granted by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from townsquare.api.oauth.errors import ProviderNotConfigured, ProviderRejected
from townsquare.api.oauth.http import call_json, expect_str
from townsquare.config.settings import AuthSettings

SCOPES = "openid profile"


@dataclass(frozen=True)
class LineUser:
    id: str  # the ID token's ``sub``: the user id for this channel
    display_name: str


class LineLogin:
    """LINE Login's endpoints, at the URLs the settings name."""

    provider = "line"

    def __init__(self, settings: AuthSettings, http: httpx.AsyncClient) -> None:
        if not settings.line_channel_id or settings.line_channel_secret is None:
            raise ProviderNotConfigured(
                "LINE sign-in is not configured on this instance "
                "(auth.line_channel_id and auth.line_channel_secret)."
            )
        self.client_id = settings.line_channel_id
        self.client_secret = settings.line_channel_secret.get_secret_value()
        self.authorize_url = settings.line_authorize_url
        self.api_url = settings.line_api_url.rstrip("/")
        self.redirect_uri = f"{settings.public_url.rstrip('/')}/api/v1/auth/line/callback"
        self.http = http

    def consent_url(self, state: str, code_challenge: str, nonce: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPES,
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.authorize_url}?{urlencode(query)}"

    async def sign_in(self, code: str, code_verifier: str, nonce: str) -> LineUser:
        """Redeem the code and verify its ID token; the person it names."""
        tokens = await call_json(
            self.http,
            self.provider,
            "POST",
            f"{self.api_url}/oauth2/v2.1/token",
            endpoint="oauth2/v2.1/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "code_verifier": code_verifier,
            },
        )
        claims = await call_json(
            self.http,
            self.provider,
            "POST",
            f"{self.api_url}/oauth2/v2.1/verify",
            endpoint="oauth2/v2.1/verify",
            data={
                "id_token": expect_str(tokens, "id_token", self.provider),
                "client_id": self.client_id,
                "nonce": nonce,
            },
        )
        # LINE checked these; checking again costs nothing and survives a proxy mix-up.
        subject = expect_str(claims, "sub", self.provider)
        if claims.get("aud") != self.client_id or claims.get("nonce") != nonce:
            raise ProviderRejected("LINE's ID token is for another sign-in. Start again.")
        name = claims.get("name")
        return LineUser(id=subject, display_name=name if isinstance(name, str) else "LINE user")
