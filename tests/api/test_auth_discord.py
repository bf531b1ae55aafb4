"""Discord sign-in end to end against a fake Discord on 127.0.0.1: state, PKCE, cookies,
redirects, roles from guild permissions and their re-check."""

from __future__ import annotations

import dataclasses
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fakes.auth_api import (
    AuthApi,
    FakeProviders,
    auth_api,
    csrf,
    module_database,
    provider_sign_in,
)
from tests.fakes.discord_oauth import ADMINISTRATOR, MANAGE_GUILD, DiscordPerson
from townsquare.api.deps import SESSION_COOKIE
from townsquare.api.oauth.grants import DatabaseGrantStore, MemoryGrantStore
from townsquare.services.accounts import Role, set_role, user_for_identity

ME = "/api/v1/auth/me"


@pytest.fixture(scope="module")
def providers() -> Iterator[FakeProviders]:
    with FakeProviders.running() as fakes:
        yield fakes


@pytest.fixture(scope="module")
def database(postgres_server: str, migrated_template: str) -> Iterator[str]:
    with module_database(postgres_server, migrated_template) as url:
        yield url


@pytest.fixture
async def api(database: str, providers: FakeProviders) -> AsyncIterator[AuthApi]:
    providers.reset()
    async with auth_api(database, providers) as started:
        yield started


@pytest.fixture
def ada(providers: FakeProviders) -> DiscordPerson:
    snowflake = str(secrets.randbelow(10**18) + 10**17)
    return providers.discord.sign_in_as(DiscordPerson(snowflake, "ada", "Ada L."))


def _cookie_header(response_headers: list[str], name: str) -> str:
    (header,) = [h for h in response_headers if h.startswith(f"{name}=")]
    return header


async def test_sign_in_sets_a_hardened_session_cookie_and_lands_on_next(
    api: AuthApi, ada: DiscordPerson
) -> None:
    browser = api.browser()
    callback = await provider_sign_in(browser, "discord", "/dashboard?tab=rules")

    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/dashboard?tab=rules"
    cookie = _cookie_header(callback.headers.get_list("set-cookie"), SESSION_COOKIE)
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags
    assert f"max-age={14 * 86400}" in flags
    assert browser.cookies[SESSION_COOKIE] not in callback.headers["location"]
    assert browser.cookies[SESSION_COOKIE] not in callback.text
    me = (await browser.get(ME)).json()
    assert (me["display_name"], me["provider"], me["roles"]) == ("Ada L.", "discord", [])
    assert me["csrf_token"]


async def test_the_consent_request_carries_state_and_an_s256_challenge(
    api: AuthApi, ada: DiscordPerson
) -> None:
    login = await api.browser().get("/api/v1/auth/discord/login")

    query = parse_qs(urlsplit(login.headers["location"]).query)
    assert query["scope"] == ["identify guilds"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 32
    assert "code_verifier" not in query
    assert query["redirect_uri"] == ["https://townsquare.test/api/v1/auth/discord/callback"]
    state_cookie = _cookie_header(login.headers.get_list("set-cookie"), "townsquare_signin_discord")
    flags = {part.strip().lower() for part in state_cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "max-age=600"} <= flags
    assert "path=/api/v1/auth/discord" in flags


async def test_a_replayed_callback_is_rejected(
    api: AuthApi, ada: DiscordPerson, providers: FakeProviders
) -> None:
    browser = api.browser()
    login = await browser.get("/api/v1/auth/discord/login")
    state_cookie = browser.cookies["townsquare_signin_discord"]
    consent = await browser.get(login.headers["location"])
    assert (await browser.get(consent.headers["location"])).status_code == 303

    # Even with the original state cookie put back, the state is spent.
    browser.cookies.set("townsquare_signin_discord", state_cookie, path="/api/v1/auth/discord")
    replay = await browser.get(consent.headers["location"])

    assert replay.status_code == 400
    assert replay.headers["content-type"] == "application/problem+json"
    assert replay.json()["code"] == "oauth_state_invalid"
    assert "already used" in replay.json()["detail"]
    assert providers.discord.calls.count("token") == 1


async def test_a_state_started_in_another_browser_is_rejected(
    api: AuthApi, ada: DiscordPerson
) -> None:
    victim, attacker = api.browser(), api.browser()
    login = await attacker.get("/api/v1/auth/discord/login")
    consent = await attacker.get(login.headers["location"])

    without_cookie = await victim.get(consent.headers["location"])
    await victim.get("/api/v1/auth/discord/login")  # the victim's own, different state
    with_own_cookie = await victim.get(consent.headers["location"])

    assert without_cookie.status_code == with_own_cookie.status_code == 400
    assert with_own_cookie.json()["code"] == "oauth_state_invalid"
    assert "does not match" in with_own_cookie.json()["detail"]
    assert SESSION_COOKIE not in victim.cookies


async def test_a_wrong_state_is_rejected(api: AuthApi, ada: DiscordPerson) -> None:
    browser = api.browser()
    login = await browser.get("/api/v1/auth/discord/login")
    consent = await browser.get(login.headers["location"])
    callback = urlsplit(consent.headers["location"])
    code = parse_qs(callback.query)["code"][0]

    wrong = await browser.get(callback.path, params={"code": code, "state": "guessed"})
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "oauth_state_invalid"


async def test_a_forged_state_cookie_is_rejected(api: AuthApi, ada: DiscordPerson) -> None:
    browser = api.browser()
    login = await browser.get("/api/v1/auth/discord/login")
    consent = await browser.get(login.headers["location"])
    payload, _, _mac = browser.cookies["townsquare_signin_discord"].partition(".")
    browser.cookies.set("townsquare_signin_discord", f"{payload}.AAAA", path="/api/v1/auth/discord")

    forged = await browser.get(consent.headers["location"])
    assert forged.status_code == 400
    assert "not one we issued" in forged.json()["detail"]


async def test_an_expired_state_is_rejected(api: AuthApi, ada: DiscordPerson) -> None:
    browser = api.browser()
    login = await browser.get("/api/v1/auth/discord/login")
    consent = await browser.get(login.headers["location"])
    api.clock.advance(minutes=11)

    late = await browser.get(consent.headers["location"])
    assert late.status_code == 400
    assert "expired" in late.json()["detail"]


async def test_declining_consent_is_a_clear_problem(
    api: AuthApi, ada: DiscordPerson, providers: FakeProviders
) -> None:
    providers.discord.deny = True
    declined = await provider_sign_in(api.browser(), "discord")

    assert declined.status_code == 403
    assert declined.json()["code"] == "sign_in_denied"
    assert "cancelled" in declined.json()["detail"]
    assert "token" not in providers.discord.calls


async def test_a_failing_token_endpoint_is_a_502_problem_not_a_500(
    api: AuthApi, ada: DiscordPerson, providers: FakeProviders
) -> None:
    providers.discord.token_status = 500
    failed = await provider_sign_in(api.browser(), "discord")

    assert failed.status_code == 502
    assert failed.json()["code"] == "provider_unavailable"
    assert "Discord answered 500" in failed.json()["detail"]


async def test_an_unreachable_discord_is_a_502_problem(
    database: str, providers: FakeProviders, ada: DiscordPerson
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    async with auth_api(database, providers, discord_api_url=closed) as api:
        failed = await provider_sign_in(api.browser(), "discord")
    assert failed.status_code == 502
    assert failed.json()["code"] == "provider_unavailable"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "javascript:alert(1)",
        "dashboard",
        "/ok\r\nSet-Cookie: x=1",
    ],
)
async def test_an_off_site_next_is_rejected(api: AuthApi, target: str) -> None:
    browser = api.browser()
    login = await browser.get("/api/v1/auth/discord/login", params={"next": target})

    assert login.status_code == 400
    assert login.json()["code"] == "unsafe_redirect"
    assert "townsquare_signin_discord" not in browser.cookies


async def test_an_unconfigured_provider_is_a_404_problem(database: str) -> None:
    async with auth_api(database) as api:
        browser = api.browser()
        login = await browser.get("/api/v1/auth/discord/login")
        callback = await browser.get("/api/v1/auth/discord/callback?code=x&state=y")
    for response in (login, callback):
        assert response.status_code == 404
        assert response.json()["code"] == "provider_not_configured"


async def test_roles_follow_guild_ownership_and_permissions(
    api: AuthApi, ada: DiscordPerson
) -> None:
    owned = await api.community("owned", guild=api.unique("g-owned"))
    administered = await api.community("administered", guild=api.unique("g-admin"))
    managed = await api.community("managed", guild=api.unique("g-manage"))
    member_only = await api.community("member-only", guild=api.unique("g-member"))
    await api.community("unlinked")
    ada.join(api.unique("g-owned"), owner=True)
    ada.join(api.unique("g-admin"), permissions=ADMINISTRATOR)
    ada.join(api.unique("g-manage"), permissions=MANAGE_GUILD)
    ada.join(api.unique("g-member"))
    ada.join(
        api.unique("g-elsewhere"), permissions=ADMINISTRATOR
    )  # a guild no community is linked to

    browser = api.browser()
    await provider_sign_in(browser, "discord")

    roles = {r["community_id"]: r["role"] for r in (await browser.get(ME)).json()["roles"]}
    assert roles == {owned: "owner", administered: "admin", managed: "admin"}
    assert member_only not in roles


async def test_the_recheck_removes_a_role_the_person_lost_and_keeps_manual_ones(
    api: AuthApi, ada: DiscordPerson, providers: FakeProviders
) -> None:
    guild_community = await api.community("guild-run", guild=api.unique("g-1"))
    by_hand = await api.community("by-hand")
    ada.join(api.unique("g-1"), permissions=ADMINISTRATOR)
    browser = api.browser()
    await provider_sign_in(browser, "discord")
    async with api.sessions() as session:
        await _grant_by_hand(session, ada.id, by_hand)
    ada.join(api.unique("g-1"))  # demoted in Discord

    api.clock.advance(minutes=10)  # not due yet (role_refresh_minutes = 15)
    early = (await browser.get(ME)).json()["roles"]
    api.clock.advance(minutes=6)
    late = (await browser.get(ME)).json()["roles"]

    assert {r["community_id"] for r in early} == {guild_community, by_hand}
    assert late == [{"community_id": by_hand, "role": "viewer"}]
    assert providers.discord.calls.count("guilds") == 2


async def _grant_by_hand(session: AsyncSession, discord_id: str, community_id: int) -> None:
    user_id = await user_for_identity(session, "discord", discord_id, "Ada L.")
    await set_role(session, community_id, user_id, Role.VIEWER)
    await session.commit()


async def test_a_promotion_shows_after_a_refresh(api: AuthApi, ada: DiscordPerson) -> None:
    community = await api.community("promoted", guild=api.unique("g-2"))
    ada.join(api.unique("g-2"))
    browser = api.browser()
    await provider_sign_in(browser, "discord")
    ada.join(api.unique("g-2"), owner=True)
    headers = await csrf(browser)

    api.clock.advance(minutes=16)
    refreshed = await browser.post("/api/v1/auth/refresh", headers=headers)

    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["roles"] == [{"community_id": community, "role": "owner"}]


async def test_refresh_needs_the_csrf_token(api: AuthApi, ada: DiscordPerson) -> None:
    browser = api.browser()
    await provider_sign_in(browser, "discord")

    refused = await browser.post("/api/v1/auth/refresh")
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"


async def test_a_revoked_authorization_ends_the_session_at_the_recheck(
    api: AuthApi, ada: DiscordPerson, providers: FakeProviders
) -> None:
    browser = api.browser()
    await provider_sign_in(browser, "discord")
    providers.discord.revoke_authorization(ada.id)

    api.clock.advance(minutes=16)
    ended = await browser.get(ME)
    old_cookie = ended.request.headers["cookie"].removeprefix(f"{SESSION_COOKIE}=")
    after = await api.browser_with_session(old_cookie).get(ME)

    assert ended.status_code == 401
    assert ended.json()["code"] == "session_ended"
    assert SESSION_COOKIE not in browser.cookies  # cleared
    assert after.status_code == 401  # revoked in the database, not just forgotten
    assert after.json()["code"] == "not_authenticated"


async def test_an_expired_access_token_is_refreshed_for_the_recheck(
    api: AuthApi, ada: DiscordPerson, providers: FakeProviders
) -> None:
    community = await api.community("weekly", guild=api.unique("g-3"))
    ada.join(api.unique("g-3"), permissions=MANAGE_GUILD)
    browser = api.browser()
    await provider_sign_in(browser, "discord")

    api.clock.advance(days=8)  # Discord access tokens last 7 days
    me = await browser.get(ME)

    assert me.status_code == 200, me.text
    assert me.json()["roles"] == [{"community_id": community, "role": "admin"}]
    assert providers.discord.calls.count("token") == 2  # the code, then the refresh


async def test_a_discord_outage_keeps_the_session_and_retries_later(
    api: AuthApi, ada: DiscordPerson, providers: FakeProviders
) -> None:
    community = await api.community("steady", guild=api.unique("g-4"))
    ada.join(api.unique("g-4"), permissions=ADMINISTRATOR)
    browser = api.browser()
    await provider_sign_in(browser, "discord")
    providers.discord.guilds_status = 503
    ada.join(api.unique("g-4"))

    api.clock.advance(minutes=16)
    during = await browser.get(ME)
    providers.discord.guilds_status = None
    after = await browser.get(ME)

    assert during.status_code == 200
    assert during.json()["roles"] == [{"community_id": community, "role": "admin"}]
    assert after.json()["roles"] == []


async def test_a_lost_grant_ends_the_session_at_the_recheck(
    api: AuthApi, ada: DiscordPerson
) -> None:
    browser = api.browser()
    await provider_sign_in(browser, "discord")
    # What a restart (or another API process) does to grants held in process memory:
    api.app.state.sign_in = dataclasses.replace(api.app.state.sign_in, grants=MemoryGrantStore())

    api.clock.advance(minutes=16)
    ended = await browser.get(ME)
    assert ended.status_code == 401
    assert ended.json()["code"] == "session_ended"


async def test_an_admin_route_sees_a_demotion_once_the_roles_are_due(
    api: AuthApi, ada: DiscordPerson
) -> None:
    community = await api.community("demoted", guild=api.unique("g-9"))
    ada.join(api.unique("g-9"), permissions=ADMINISTRATOR)
    browser = api.browser()
    await provider_sign_in(browser, "discord")
    audit = f"/api/v1/admin/communities/{community}/audit"
    assert (await browser.get(audit)).status_code == 200
    ada.join(api.unique("g-9"))  # demoted in Discord

    api.clock.advance(minutes=16)  # role_refresh_minutes = 15
    assert (await browser.get(audit)).status_code == 403


def _with_store(api: AuthApi, store: DatabaseGrantStore | MemoryGrantStore) -> None:
    """What a (re)started API process with this store would hold."""
    api.app.state.sign_in = dataclasses.replace(api.app.state.sign_in, grants=store)


async def test_with_a_secret_key_a_discord_sign_in_survives_a_restart(
    api: AuthApi, ada: DiscordPerson, providers: FakeProviders
) -> None:
    community = await api.community("kept", guild=api.unique("g-k"))
    ada.join(api.unique("g-k"), permissions=MANAGE_GUILD)
    _with_store(api, DatabaseGrantStore("a secret key"))
    browser = api.browser()
    await provider_sign_in(browser, "discord")
    async with api.sessions() as session:
        sealed = (await session.execute(text("SELECT provider_grant FROM auth_sessions"))).all()
    tokens = list(providers.discord._access) + list(providers.discord._refresh)
    assert tokens
    assert any(row[0] for row in sealed)  # this sign-in's grant is on its row
    assert not any(token.encode() in bytes(row[0] or b"") for row in sealed for token in tokens)

    _with_store(api, DatabaseGrantStore("a secret key"))  # a restart: nothing in memory
    api.clock.advance(minutes=16)
    me = await browser.get(ME)
    assert me.status_code == 200, me.text
    assert me.json()["roles"] == [{"community_id": community, "role": "admin"}]
    assert providers.discord.calls.count("guilds") == 2  # the re-check really happened


async def test_a_grant_sealed_under_another_key_ends_the_session(
    api: AuthApi, ada: DiscordPerson
) -> None:
    _with_store(api, DatabaseGrantStore("the old key"))
    browser = api.browser()
    await provider_sign_in(browser, "discord")
    _with_store(api, DatabaseGrantStore("a new key"))
    api.clock.advance(minutes=16)
    ended = await browser.get(ME)
    assert ended.status_code == 401
    assert ended.json()["code"] == "session_ended"
