"""Users, sign-in sessions, community roles and API tokens.

Secrets never reach the database in the clear: a session cookie and an API token are long
random strings stored as SHA-256 (nothing to brute-force), a password as scrypt. Like every
service these flush and never commit; the caller owns the unit of work. ``now`` is passed
in, so expiry is testable without sleeping.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.errors import NotFound, TownsquareError
from townsquare.services.accounts.schemas import (
    Principal,
    Role,
    SessionOut,
    UserOut,
)
from townsquare.store.models import AuthSession, CommunityRole, User, UserIdentity

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
# Sessions are touched at most this often (a write per request would be a hot row).
TOUCH_EVERY = timedelta(minutes=5)


class AccessInvalid(TownsquareError):
    """A request about access that cannot be honoured as asked (e.g. a token permission)."""

    status = 422
    code = "access_invalid"


def digest(secret: str) -> bytes:
    """SHA-256 of a long random secret (a session id, an API token)."""
    return hashlib.sha256(secret.encode()).digest()


# --- passwords ------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    params = f"{_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}"
    return f"scrypt${params}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@functools.cache
def _dummy_hash() -> str:
    """A hash to check unknown names against, so they cost what a known name costs."""
    return hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check; a malformed or missing hash never matches."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            dklen=len(expected),
            n=int(n),
            r=int(r),
            p=int(p),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


# --- users ----------------------------------------------------------------------------------


async def create_local_user(
    session: AsyncSession,
    name: str,
    password: str,
    *,
    display_name: str | None = None,
    instance_admin: bool = False,
) -> UserOut:
    """A user who signs in with a name and password (the bootstrap admin)."""
    if len(password) < 12:
        raise AccessInvalid("Passwords must be at least 12 characters long.")
    taken = await session.scalar(
        select(UserIdentity.user_id).where(
            UserIdentity.provider == "local", UserIdentity.subject == name
        )
    )
    if taken is not None:
        raise AccessInvalid(f"A user named {name!r} already exists.")
    user_id = await session.scalar(
        insert(User)
        .values(
            display_name=display_name or name,
            is_instance_admin=instance_admin,
            password_hash=hash_password(password),
        )
        .returning(User.id)
    )
    assert user_id is not None
    await session.execute(
        insert(UserIdentity).values(provider="local", subject=name, user_id=user_id)
    )
    await session.flush()
    return await get_user(session, user_id)


async def authenticate_local(session: AsyncSession, name: str, password: str) -> int | None:
    """The user id for a correct local name and password; None otherwise (same cost)."""
    row = (
        await session.execute(
            select(User.id, User.password_hash, User.disabled_at)
            .join(UserIdentity, UserIdentity.user_id == User.id)
            .where(UserIdentity.provider == "local", UserIdentity.subject == name)
        )
    ).one_or_none()
    if row is None:
        verify_password(password, _dummy_hash())  # one scrypt run, like a known name
        return None
    if not verify_password(password, row.password_hash) or row.disabled_at is not None:
        return None
    return int(row.id)


async def user_for_identity(
    session: AsyncSession, provider: str, subject: str, display_name: str
) -> int:
    """The user signed in through ``provider`` as ``subject``, created on first sign-in."""
    user_id = await session.scalar(
        select(UserIdentity.user_id).where(
            UserIdentity.provider == provider, UserIdentity.subject == subject
        )
    )
    if user_id is not None:
        await session.execute(
            update(User).where(User.id == user_id).values(display_name=display_name[:200])
        )
        return int(user_id)
    user_id = await session.scalar(
        insert(User).values(display_name=display_name[:200]).returning(User.id)
    )
    assert user_id is not None
    await session.execute(
        insert(UserIdentity).values(provider=provider, subject=subject, user_id=user_id)
    )
    await session.flush()
    return int(user_id)


async def get_user(session: AsyncSession, user_id: int) -> UserOut:
    row = (
        await session.execute(
            select(User.id, User.display_name, User.is_instance_admin).where(User.id == user_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"User {user_id} does not exist.")
    return UserOut(
        id=row.id,
        display_name=row.display_name,
        is_instance_admin=row.is_instance_admin,
        roles=await _roles(session, user_id),
    )


async def _roles(session: AsyncSession, user_id: int) -> dict[int, Role]:
    rows = await session.execute(
        select(CommunityRole.community_id, CommunityRole.role).where(
            CommunityRole.user_id == user_id
        )
    )
    return {int(community_id): Role(role) for community_id, role in rows.all()}


# --- roles ----------------------------------------------------------------------------------


async def set_role(
    session: AsyncSession, community_id: int, user_id: int, role: Role, *, source: str = "manual"
) -> None:
    """Give ``user_id`` ``role`` in a community (replacing the role they had)."""
    await session.execute(
        insert(CommunityRole)
        .values(community_id=community_id, user_id=user_id, role=role.value, source=source)
        .on_conflict_do_update(
            index_elements=[CommunityRole.community_id, CommunityRole.user_id],
            set_={"role": role.value, "source": source, "granted_at": func.now()},
        )
    )
    await session.flush()


async def remove_role(session: AsyncSession, community_id: int, user_id: int) -> None:
    result = await session.execute(
        delete(CommunityRole).where(
            CommunityRole.community_id == community_id, CommunityRole.user_id == user_id
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"User {user_id} has no role in community {community_id}.")
    await session.flush()


async def sync_provider_roles(
    session: AsyncSession, user_id: int, roles: dict[int, Role | None], *, source: str
) -> None:
    """Make the roles that came from a provider (``source``) match ``roles``.

    Roles granted by hand are left alone; a provider role the person lost is removed (so a
    demoted Discord moderator loses dashboard access on their next session refresh).
    """
    for community_id, role in roles.items():
        current = await session.scalar(
            select(CommunityRole.source).where(
                CommunityRole.community_id == community_id, CommunityRole.user_id == user_id
            )
        )
        if current == "manual":
            continue
        if role is None:
            if current is not None:
                await remove_role(session, community_id, user_id)
        else:
            await set_role(session, community_id, user_id, role, source=source)


# --- sessions -------------------------------------------------------------------------------


async def create_session(
    session: AsyncSession,
    user_id: int,
    *,
    provider: str,
    now: datetime,
    lifetime: timedelta,
    user_agent: str | None = None,
    source_ip: str | None = None,
) -> tuple[str, str]:
    """A new sign-in: returns (the cookie value, the CSRF token). Only hashes are stored."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    await session.execute(
        insert(AuthSession).values(
            id_hash=digest(cookie),
            user_id=user_id,
            provider=provider,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            refreshed_at=now,
            expires_at=now + lifetime,
            user_agent=(user_agent or "")[:300] or None,
            source_ip=source_ip,
        )
    )
    await session.flush()
    return cookie, csrf


async def principal_for_session(
    session: AsyncSession, cookie: str, *, now: datetime
) -> Principal | None:
    """The signed-in user behind a session cookie; None if unknown, expired or revoked."""
    row = (
        await session.execute(
            select(
                AuthSession.user_id,
                AuthSession.provider,
                AuthSession.csrf_token,
                AuthSession.last_seen_at,
                AuthSession.expires_at,
                AuthSession.revoked_at,
                AuthSession.refreshed_at,
                User.display_name,
                User.is_instance_admin,
                User.disabled_at,
            )
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.id_hash == digest(cookie))
        )
    ).one_or_none()
    if row is None or row.revoked_at is not None or row.disabled_at is not None:
        return None
    if row.expires_at <= now:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id_hash == digest(cookie))
            .values(last_seen_at=now)
        )
    return Principal(
        user_id=int(row.user_id),
        display_name=row.display_name,
        is_instance_admin=row.is_instance_admin,
        roles=await _roles(session, int(row.user_id)),
        session_provider=row.provider,
        session_refreshed_at=row.refreshed_at,
        csrf_token=row.csrf_token,
    )


async def revoke_session(session: AsyncSession, cookie: str, *, now: datetime) -> None:
    """Sign out: the cookie stops working at once, wherever it is."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id_hash == digest(cookie), AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def list_sessions(
    session: AsyncSession, user_id: int, *, now: datetime, current_cookie: str | None = None
) -> list[SessionOut]:
    """The user's live sessions, newest first."""
    current = digest(current_cookie) if current_cookie else None
    rows = await session.execute(
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        .order_by(AuthSession.created_at.desc())
    )
    return [
        SessionOut(
            id=row.id_hash[:8].hex(),
            provider=row.provider,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            user_agent=row.user_agent,
            current=row.id_hash == current,
        )
        for row in rows.scalars()
    ]


async def revoke_session_by_id(
    session: AsyncSession, user_id: int, session_id: str, *, now: datetime
) -> None:
    """Sign out one of the user's own sessions by the id `list_sessions` shows."""
    try:
        prefix = bytes.fromhex(session_id)
    except ValueError:
        raise NotFound(f"No session {session_id!r}.") from None
    if len(prefix) != 8:
        raise NotFound(f"No session {session_id!r}.")
    result = await session.execute(
        update(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            func.substring(AuthSession.id_hash, 1, 8) == prefix,
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"No session {session_id!r}.")
