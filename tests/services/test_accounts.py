"""The accounts service: passwords, local users, sessions, roles and API tokens."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.services.factories import make_plaza
from townsquare.errors import NotFound
from townsquare.services.accounts import (
    AccessInvalid,
    Permission,
    Principal,
    Role,
    authenticate_local,
    create_api_token,
    create_local_user,
    create_session,
    get_user,
    hash_password,
    list_api_tokens,
    list_sessions,
    principal_for_session,
    principal_for_token,
    remove_role,
    revoke_api_token,
    revoke_session,
    revoke_session_by_id,
    set_role,
    sync_provider_roles,
    user_for_identity,
    verify_password,
)
from townsquare.store.models import ApiToken, AuthSession, CommunityRole, User

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PASSWORD = "a long enough passphrase"


async def _session_for(session: AsyncSession, user_id: int, **kw: Any) -> tuple[str, str]:
    return await create_session(
        session, user_id, provider="local", now=kw.pop("now", NOW), lifetime=DAY, **kw
    )


# --- passwords ------------------------------------------------------------------------------


def test_a_password_verifies_against_its_own_hash_only() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("scrypt$16384$8$1$")
    assert PASSWORD not in stored
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "!", stored)


def test_the_same_password_hashes_differently_each_time() -> None:
    assert hash_password(PASSWORD) != hash_password(PASSWORD)


@pytest.mark.parametrize(
    "stored", [None, "", "plaintext", "bcrypt$1$2$3$4$5", "scrypt$x$8$1$AAAA$AAAA", "scrypt$$$$$"]
)
def test_a_missing_or_malformed_hash_never_matches(stored: str | None) -> None:
    assert not verify_password(PASSWORD, stored)


# --- local users ----------------------------------------------------------------------------


async def test_a_local_user_signs_in_with_the_right_password_only(session: AsyncSession) -> None:
    user = await create_local_user(session, "root", PASSWORD, instance_admin=True)

    assert user.is_instance_admin
    assert await authenticate_local(session, "root", PASSWORD) == user.id
    assert await authenticate_local(session, "root", "wrong password here") is None
    assert await authenticate_local(session, "nobody", PASSWORD) is None


async def test_a_short_password_or_taken_name_is_refused(session: AsyncSession) -> None:
    with pytest.raises(AccessInvalid, match="12 characters"):
        await create_local_user(session, "root", "short")
    await create_local_user(session, "root", PASSWORD)
    with pytest.raises(AccessInvalid, match="already exists"):
        await create_local_user(session, "root", PASSWORD)


async def test_a_disabled_user_cannot_sign_in(session: AsyncSession) -> None:
    user = await create_local_user(session, "root", PASSWORD)
    await session.execute(update(User).where(User.id == user.id).values(disabled_at=NOW))

    assert await authenticate_local(session, "root", PASSWORD) is None


async def test_an_unknown_name_costs_the_same_as_a_wrong_password(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_local_user(session, "root", PASSWORD)
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)  # the service calls hashlib.scrypt
    await authenticate_local(session, "root", "wrong password here")
    known = len(calls)
    calls.clear()
    await authenticate_local(session, "nobody", "wrong password here")

    assert len(calls) == known


async def test_an_identity_finds_the_same_user_and_refreshes_the_name(
    session: AsyncSession,
) -> None:
    first = await user_for_identity(session, "discord", "1234", "Ada")
    again = await user_for_identity(session, "discord", "1234", "Ada Lovelace")
    other = await user_for_identity(session, "line", "1234", "Ada")

    assert first == again != other
    assert (await get_user(session, first)).display_name == "Ada Lovelace"


async def test_an_unknown_user_is_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFound):
        await get_user(session, 987654321)


# --- sessions -------------------------------------------------------------------------------


async def test_only_the_hash_of_a_session_id_is_stored(session: AsyncSession) -> None:
    user = await create_local_user(session, "root", PASSWORD)
    cookie, csrf = await _session_for(session, user.id)

    stored = (await session.execute(select(AuthSession.id_hash))).scalars().all()
    assert hashlib.sha256(cookie.encode()).digest() in stored
    assert cookie.encode() not in stored
    assert len(cookie) >= 40
    assert csrf != cookie


async def test_a_session_finds_its_user_until_it_expires(session: AsyncSession) -> None:
    user = await create_local_user(session, "root", PASSWORD, instance_admin=True)
    cookie, csrf = await _session_for(session, user.id)

    principal = await principal_for_session(session, cookie, now=NOW + DAY / 2)
    assert principal is not None
    assert (principal.user_id, principal.csrf_token, principal.session_provider) == (
        user.id,
        csrf,
        "local",
    )
    assert principal.is_instance_admin
    assert await principal_for_session(session, cookie, now=NOW + DAY) is None
    assert await principal_for_session(session, "made-up", now=NOW) is None


async def test_a_revoked_session_stops_working(session: AsyncSession) -> None:
    user = await create_local_user(session, "root", PASSWORD)
    cookie, _ = await _session_for(session, user.id)

    await revoke_session(session, cookie, now=NOW)
    assert await principal_for_session(session, cookie, now=NOW) is None


async def test_a_disabled_users_sessions_stop_working(session: AsyncSession) -> None:
    user = await create_local_user(session, "root", PASSWORD)
    cookie, _ = await _session_for(session, user.id)
    await session.execute(update(User).where(User.id == user.id).values(disabled_at=NOW))

    assert await principal_for_session(session, cookie, now=NOW) is None


async def test_last_seen_is_touched_at_most_every_few_minutes(session: AsyncSession) -> None:
    user = await create_local_user(session, "root", PASSWORD)
    cookie, _ = await _session_for(session, user.id)

    await principal_for_session(session, cookie, now=NOW + timedelta(minutes=1))
    (soon,) = await list_sessions(session, user.id, now=NOW)
    await principal_for_session(session, cookie, now=NOW + timedelta(minutes=6))
    (later,) = await list_sessions(session, user.id, now=NOW)

    assert soon.last_seen_at == NOW
    assert later.last_seen_at == NOW + timedelta(minutes=6)


async def test_the_session_list_marks_the_current_one_and_skips_dead_ones(
    session: AsyncSession,
) -> None:
    user = await create_local_user(session, "root", PASSWORD)
    current, _ = await _session_for(session, user.id, user_agent="laptop")
    await _session_for(session, user.id, now=NOW + timedelta(seconds=1), user_agent="phone")
    revoked, _ = await _session_for(session, user.id)
    await revoke_session(session, revoked, now=NOW)
    await _session_for(session, user.id, now=NOW - 2 * DAY)  # long expired

    listed = await list_sessions(session, user.id, now=NOW, current_cookie=current)

    assert [(s.user_agent, s.current) for s in listed] == [("phone", False), ("laptop", True)]
    assert all(len(s.id) == 16 for s in listed)


async def test_a_session_is_revoked_by_its_listed_id_by_its_owner_only(
    session: AsyncSession,
) -> None:
    owner = await create_local_user(session, "owner", PASSWORD)
    stranger = await create_local_user(session, "stranger", PASSWORD)
    cookie, _ = await _session_for(session, owner.id)
    (listed,) = await list_sessions(session, owner.id, now=NOW)

    for user_id, session_id in [(stranger.id, listed.id), (owner.id, "zz"), (owner.id, "abcd")]:
        with pytest.raises(NotFound):
            await revoke_session_by_id(session, user_id, session_id, now=NOW)
    await revoke_session_by_id(session, owner.id, listed.id, now=NOW)

    assert await principal_for_session(session, cookie, now=NOW) is None
    with pytest.raises(NotFound):  # already revoked
        await revoke_session_by_id(session, owner.id, listed.id, now=NOW)


# --- roles ----------------------------------------------------------------------------------


async def test_roles_give_their_permissions_in_their_community_only(
    session: AsyncSession,
) -> None:
    plaza, other = await make_plaza(session), await make_plaza(session)
    user = await create_local_user(session, "mod", PASSWORD)
    await set_role(session, plaza.community_id, user.id, Role.MODERATOR)
    cookie, _ = await _session_for(session, user.id)

    principal = await principal_for_session(session, cookie, now=NOW)
    assert principal is not None
    assert principal.permissions(plaza.community_id) == {Permission.READ, Permission.GRANT}
    assert principal.permissions(other.community_id) == frozenset()
    assert Principal(is_instance_admin=True).can(other.community_id, Permission.MANAGE_ACCESS)


async def test_removing_a_role_nobody_has_is_not_found(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    user = await create_local_user(session, "someone", PASSWORD)
    with pytest.raises(NotFound):
        await remove_role(session, plaza.community_id, user.id)


async def test_provider_roles_sync_but_leave_manual_roles_alone(session: AsyncSession) -> None:
    guild_run, hand_run = await make_plaza(session), await make_plaza(session)
    user = await user_for_identity(session, "discord", "42", "Ada")
    await set_role(session, hand_run.community_id, user, Role.VIEWER)

    await sync_provider_roles(
        session,
        user,
        {guild_run.community_id: Role.ADMIN, hand_run.community_id: Role.OWNER},
        source="discord",
    )
    after_grant = (await get_user(session, user)).roles
    await sync_provider_roles(
        session,
        user,
        {guild_run.community_id: None, hand_run.community_id: None},
        source="discord",
    )
    after_loss = (await get_user(session, user)).roles

    assert after_grant == {guild_run.community_id: Role.ADMIN, hand_run.community_id: Role.VIEWER}
    assert after_loss == {hand_run.community_id: Role.VIEWER}
    sources = (await session.execute(select(CommunityRole.source))).scalars().all()
    assert "discord" not in sources


# --- API tokens -----------------------------------------------------------------------------


async def test_a_token_is_shown_once_and_stored_hashed(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    new = await create_api_token(
        session, plaza.community_id, "ci", [Permission.READ, Permission.GRANT], created_by=None
    )

    assert new.token.startswith("tsq_")
    assert new.details.prefix == new.token[:12]
    stored = (await session.execute(select(ApiToken.token_hash))).scalars().all()
    assert stored == [hashlib.sha256(new.token.encode()).digest()]
    listed = await list_api_tokens(session, plaza.community_id)
    assert new.token not in repr(listed)


async def test_a_token_acts_in_its_community_with_its_permissions_only(
    session: AsyncSession,
) -> None:
    plaza, other = await make_plaza(session), await make_plaza(session)
    new = await create_api_token(
        session, plaza.community_id, "ci", [Permission.READ], created_by=None
    )

    principal = await principal_for_token(session, new.token, now=NOW)
    assert principal is not None
    assert principal.can(plaza.community_id, Permission.READ)
    assert not principal.can(plaza.community_id, Permission.GRANT)
    assert not principal.can(other.community_id, Permission.READ)
    assert await principal_for_token(session, "tsq_made-up", now=NOW) is None
    assert await principal_for_token(session, "not-even-ours", now=NOW) is None


async def test_a_revoked_or_expired_token_stops_working(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    revoked = await create_api_token(
        session, plaza.community_id, "old", [Permission.READ], created_by=None
    )
    expiring = await create_api_token(
        session,
        plaza.community_id,
        "temp",
        [Permission.READ],
        created_by=None,
        expires_at=NOW + DAY,
    )

    first = await revoke_api_token(session, plaza.community_id, revoked.details.id, now=NOW)
    again = await revoke_api_token(session, plaza.community_id, revoked.details.id, now=NOW + DAY)

    assert await principal_for_token(session, revoked.token, now=NOW) is None
    assert first.revoked_at == again.revoked_at == NOW  # revoking twice keeps the first time
    assert await principal_for_token(session, expiring.token, now=NOW) is not None
    assert await principal_for_token(session, expiring.token, now=NOW + DAY) is None
    with pytest.raises(NotFound):
        await revoke_api_token(session, plaza.community_id, 999_999, now=NOW)


@pytest.mark.parametrize(
    ("permissions", "message"),
    [([], "at least one"), ([Permission.READ, Permission.MANAGE_ACCESS], "manage_access")],
)
async def test_a_token_cannot_be_empty_or_manage_access(
    session: AsyncSession, permissions: list[Permission], message: str
) -> None:
    plaza = await make_plaza(session)
    with pytest.raises(AccessInvalid, match=message):
        await create_api_token(session, plaza.community_id, "x", permissions, created_by=None)
