"""Sign-in orchestration: from a redeemed code to a user with the right community roles,
and the later re-check of Discord roles.

Role re-check (the issue's "re-check of Discord roles on session refresh"): a Discord
session whose roles were last read more than ``auth.role_refresh_minutes`` ago is re-read
when the session is *refreshed* — ``GET /auth/me`` (what the dashboard loads first) and
``POST /auth/refresh`` — and by any code that calls `recheck_discord_roles` while loading a
session. The outcome decides:

* ``REFRESHED``: roles now match the guilds (a lost admin permission removes the role);
* ``ENDED``: the grant is gone (restart), revoked at Discord, or the provider was
  unconfigured — the session is revoked: the roles cannot be vouched for any more;
* ``UNAVAILABLE``: Discord is down or rate-limits us — the session keeps its roles and the
  check runs again on the next refresh (we do not sign everyone out because Discord blinked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.api.oauth.discord import DiscordGrant, DiscordOAuth, community_roles
from townsquare.api.oauth.errors import (
    ProviderNotConfigured,
    ProviderRejected,
    ProviderUnavailable,
)
from townsquare.api.oauth.grants import GrantStore
from townsquare.api.oauth.line import LineLogin
from townsquare.api.oauth.session_rows import (
    discord_links,
    lock_session_for_refresh,
    mark_session_refreshed,
    provider_role_communities,
    session_hash,
)
from townsquare.config.settings import AuthSettings
from townsquare.services.accounts import revoke_session, sync_provider_roles, user_for_identity

log = structlog.get_logger(__name__)
# A grant this close to expiry is refreshed before use rather than failing mid-check.
_EXPIRY_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class SignInContext:
    """What the sign-in routes share for the app's lifetime (built by the router lifespan)."""

    settings: AuthSettings
    http: httpx.AsyncClient
    grants: GrantStore

    def discord(self) -> DiscordOAuth:
        return DiscordOAuth(self.settings, self.http)

    def line(self) -> LineLogin:
        return LineLogin(self.settings, self.http)


class Recheck(StrEnum):
    NOT_DUE = "not_due"
    REFRESHED = "refreshed"
    ENDED = "ended"
    UNAVAILABLE = "unavailable"


async def apply_discord_roles(
    discord: DiscordOAuth, session: AsyncSession, user_id: int, access_token: str
) -> None:
    """Make the user's Discord-derived roles match their guilds right now."""
    guilds = await discord.guilds(access_token)
    links = await discord_links(session, (guild.id for guild in guilds))
    held = await provider_role_communities(session, user_id, "discord")
    roles = community_roles(guilds, links, held)
    await sync_provider_roles(session, user_id, roles, source="discord")


async def discord_sign_in(
    discord: DiscordOAuth, session: AsyncSession, code: str, code_verifier: str, now: datetime
) -> tuple[int, DiscordGrant]:
    """Redeem a code: the signed-in user (created on first sign-in) and their grant."""
    grant = await discord.exchange_code(code, code_verifier, now=now)
    person = await discord.current_user(grant.access_token)
    user_id = await user_for_identity(session, "discord", person.id, person.display_name)
    await apply_discord_roles(discord, session, user_id, grant.access_token)
    return user_id, grant


async def line_sign_in(
    line: LineLogin, session: AsyncSession, code: str, code_verifier: str, nonce: str
) -> int:
    person = await line.sign_in(code, code_verifier, nonce)
    return await user_for_identity(session, "line", person.id, person.display_name)


async def recheck_discord_roles(
    context: SignInContext, session: AsyncSession, cookie: str, *, now: datetime
) -> Recheck:
    """Re-read a Discord session's roles if they are due (see the module docstring)."""
    id_hash = session_hash(cookie)
    row = await lock_session_for_refresh(session, id_hash)
    if row is None or row.provider != "discord" or row.revoked_at is not None:
        return Recheck.NOT_DUE
    if row.expires_at <= now:
        return Recheck.NOT_DUE
    if now - row.refreshed_at < timedelta(minutes=context.settings.role_refresh_minutes):
        return Recheck.NOT_DUE
    grant = await context.grants.get(session, id_hash, now=now)
    try:
        discord = context.discord()
        if grant is None:
            return await _end(context, session, cookie, now, row.user_id, "no_grant")
        if grant.expires_at <= now + _EXPIRY_MARGIN:
            if grant.refresh_token is None:
                return await _end(context, session, cookie, now, row.user_id, "grant_expired")
            grant = await discord.refresh(grant.refresh_token, now=now)
            await context.grants.put(session, id_hash, grant, until=row.expires_at)
        await apply_discord_roles(discord, session, row.user_id, grant.access_token)
    except ProviderNotConfigured:
        return await _end(context, session, cookie, now, row.user_id, "provider_removed")
    except ProviderRejected:
        return await _end(context, session, cookie, now, row.user_id, "grant_rejected")
    except ProviderUnavailable:
        log.warning("role_recheck_postponed", user_id=row.user_id)
        return Recheck.UNAVAILABLE
    await mark_session_refreshed(session, id_hash, now)
    log.info("roles_rechecked", user_id=row.user_id, provider="discord")
    return Recheck.REFRESHED


async def _end(
    context: SignInContext,
    session: AsyncSession,
    cookie: str,
    now: datetime,
    user_id: int,
    reason: str,
) -> Recheck:
    await revoke_session(session, cookie, now=now)
    await context.grants.drop(session, session_hash(cookie))
    log.info("session_ended_by_role_recheck", user_id=user_id, reason=reason)
    return Recheck.ENDED
