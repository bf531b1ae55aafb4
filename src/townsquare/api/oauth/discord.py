"""Discord OAuth2 (authorization code + PKCE) and what a sign-in learns from Discord.

Scopes are ``identify guilds``: who the person is, and the guilds they are in with their
effective permissions there (``/users/@me/guilds`` gives ``owner`` and the permission
bitfield), which is all the role mapping needs — no bot token, no member lists.

Role mapping (`guild_role`): guild owner -> owner; ADMINISTRATOR or MANAGE_GUILD -> admin;
anything else -> no role from Discord (roles granted by hand are never touched).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from townsquare.api.oauth.errors import ProviderNotConfigured, ProviderUnavailable
from townsquare.api.oauth.http import call_json, expect_str
from townsquare.config.settings import AuthSettings
from townsquare.services.accounts import Role

SCOPES = "identify guilds"
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5


@dataclass(frozen=True)
class DiscordGrant:
    """What Discord gave us at sign-in: kept server-side to re-check roles later."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime

    def __repr__(self) -> str:  # tokens must never reach a log line or a traceback
        return f"DiscordGrant(expires_at={self.expires_at.isoformat()})"


@dataclass(frozen=True)
class DiscordUser:
    id: str
    display_name: str


@dataclass(frozen=True)
class DiscordGuild:
    id: str
    owner: bool
    permissions: int


def guild_role(guild: DiscordGuild) -> Role | None:
    """The community role the person's standing in a guild earns them."""
    if guild.owner:
        return Role.OWNER
    if guild.permissions & (ADMINISTRATOR | MANAGE_GUILD):
        return Role.ADMIN
    return None


_RANK = {None: 0, Role.VIEWER: 1, Role.MODERATOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


def community_roles(
    guilds: list[DiscordGuild], links: dict[str, int], held: set[int]
) -> dict[int, Role | None]:
    """Discord-derived role per community: the best over the community's linked guilds.

    ``links`` maps guild id -> community; ``held`` are the communities where the person has
    a Discord-derived role now — each gets an entry (None when lost), so it is removed.
    """
    roles: dict[int, Role | None] = dict.fromkeys(held)
    for guild in guilds:
        community_id = links.get(guild.id)
        if community_id is None:
            continue
        role = guild_role(guild)
        if _RANK[role] >= _RANK[roles.get(community_id)]:
            roles[community_id] = role
    return roles


class DiscordOAuth:
    """Discord's OAuth2 endpoints, at the URLs the settings name."""

    provider = "discord"

    def __init__(self, settings: AuthSettings, http: httpx.AsyncClient) -> None:
        if not settings.discord_client_id or settings.discord_client_secret is None:
            raise ProviderNotConfigured(
                "Discord sign-in is not configured on this instance "
                "(auth.discord_client_id and auth.discord_client_secret)."
            )
        self.client_id = settings.discord_client_id
        self.client_secret = settings.discord_client_secret.get_secret_value()
        self.authorize_url = settings.discord_authorize_url
        self.api_url = settings.discord_api_url.rstrip("/")
        self.redirect_uri = f"{settings.public_url.rstrip('/')}/api/v1/auth/discord/callback"
        self.http = http

    def consent_url(self, state: str, code_challenge: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPES,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "prompt": "none",  # no second consent screen for someone who already agreed
        }
        return f"{self.authorize_url}?{urlencode(query)}"

    async def exchange_code(self, code: str, code_verifier: str, *, now: datetime) -> DiscordGrant:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": code_verifier,
            },
            now=now,
        )

    async def refresh(self, refresh_token: str, *, now: datetime) -> DiscordGrant:
        return await self._token(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}, now=now
        )

    async def _token(self, form: dict[str, str], *, now: datetime) -> DiscordGrant:
        body = await call_json(
            self.http,
            self.provider,
            "POST",
            f"{self.api_url}/oauth2/token",
            endpoint="oauth2/token",
            data=form,
            auth=(self.client_id, self.client_secret),
        )
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        refresh_token = body.get("refresh_token") if isinstance(body, dict) else None
        return DiscordGrant(
            access_token=expect_str(body, "access_token", self.provider),
            refresh_token=refresh_token if isinstance(refresh_token, str) else None,
            expires_at=now + timedelta(seconds=expires_in if isinstance(expires_in, int) else 0),
        )

    async def _get(self, path: str, access_token: str) -> Any:
        return await call_json(
            self.http,
            self.provider,
            "GET",
            f"{self.api_url}{path}",
            endpoint=path,
            headers={"Authorization": f"Bearer {access_token}"},
        )

    async def current_user(self, access_token: str) -> DiscordUser:
        body = await self._get("/users/@me", access_token)
        user_id = expect_str(body, "id", self.provider)
        name = body.get("global_name") or body.get("username") or f"Discord user {user_id}"
        return DiscordUser(id=user_id, display_name=str(name))

    async def guilds(self, access_token: str) -> list[DiscordGuild]:
        body = await self._get("/users/@me/guilds", access_token)
        if not isinstance(body, list):
            raise ProviderUnavailable("Discord's guild list is not a list.")
        try:
            return [
                DiscordGuild(
                    id=str(guild["id"]),
                    owner=bool(guild.get("owner", False)),
                    permissions=int(guild.get("permissions", 0)),
                )
                for guild in body
            ]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ProviderUnavailable("Discord's guild list is malformed.") from None
