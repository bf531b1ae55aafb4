"""LINE Login end to end against a fake LINE on 127.0.0.1: state, nonce, PKCE, ID token."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes.auth_api import (
    AuthApi,
    FakeProviders,
    auth_api,
    module_database,
    provider_sign_in,
)
from tests.fakes.line_login import LinePerson
from townsquare.api.deps import SESSION_COOKIE


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
def mei(providers: FakeProviders) -> LinePerson:
    providers.line.person = LinePerson(f"U{secrets.token_hex(16)}", "Mei")
    return providers.line.person


async def test_line_sign_in_lands_on_next_with_a_session(
    api: AuthApi, mei: LinePerson, providers: FakeProviders
) -> None:
    browser = api.browser()
    callback = await provider_sign_in(browser, "line", "/me")

    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/me"
    assert SESSION_COOKIE in browser.cookies
    me = (await browser.get("/api/v1/auth/me")).json()
    assert (me["display_name"], me["provider"], me["roles"]) == ("Mei", "line", [])
    assert providers.line.calls == ["authorize", "token", "verify"]


async def test_signing_in_again_finds_the_same_user(api: AuthApi, mei: LinePerson) -> None:
    first, second = api.browser(), api.browser()
    await provider_sign_in(first, "line")
    await provider_sign_in(second, "line")

    ids = [(await b.get("/api/v1/auth/me")).json()["user_id"] for b in (first, second)]
    assert ids[0] == ids[1]


async def test_the_consent_request_carries_state_nonce_and_challenge(
    api: AuthApi, mei: LinePerson
) -> None:
    login = await api.browser().get("/api/v1/auth/line/login")

    query = parse_qs(urlsplit(login.headers["location"]).query)
    assert query["scope"] == ["openid profile"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["nonce"][0]
    assert query["state"][0]
    assert query["nonce"] != query["state"]


async def test_an_id_token_with_another_nonce_is_rejected(
    api: AuthApi, mei: LinePerson, providers: FakeProviders
) -> None:
    providers.line.tamper_nonce = True
    browser = api.browser()
    rejected = await provider_sign_in(browser, "line")

    assert rejected.status_code == 400
    assert rejected.json()["code"] == "provider_rejected"
    assert "invalid_request" in rejected.json()["detail"]
    assert SESSION_COOKIE not in browser.cookies


async def test_a_replayed_line_callback_is_rejected(api: AuthApi, mei: LinePerson) -> None:
    browser = api.browser()
    callback = await provider_sign_in(browser, "line")
    assert callback.status_code == 303

    replay = await browser.get(str(callback.request.url))
    assert replay.status_code == 400
    assert replay.json()["code"] == "oauth_state_invalid"


async def test_declining_line_consent_is_a_clear_problem(
    api: AuthApi, mei: LinePerson, providers: FakeProviders
) -> None:
    providers.line.deny = True
    declined = await provider_sign_in(api.browser(), "line")

    assert declined.status_code == 403
    assert declined.json()["code"] == "sign_in_denied"


async def test_a_failing_line_token_endpoint_is_a_502_problem(
    api: AuthApi, mei: LinePerson, providers: FakeProviders
) -> None:
    providers.line.token_status = 503
    failed = await provider_sign_in(api.browser(), "line")

    assert failed.status_code == 502
    assert failed.json()["code"] == "provider_unavailable"


async def test_an_unconfigured_line_is_a_404_problem(database: str) -> None:
    async with auth_api(database) as api:
        login = await api.browser().get("/api/v1/auth/line/login")
    assert login.status_code == 404
    assert login.json()["code"] == "provider_not_configured"
