"""Local sign-in, sign-out, session expiry and the session list, through the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.fakes.auth_api import AuthApi, auth_api, csrf, module_database
from townsquare.api.deps import SESSION_COOKIE
from townsquare.api.routes.auth import LOGIN_RATE_LIMIT
from townsquare.services.accounts import Permission, create_api_token, create_local_user

PASSWORD = "correct horse battery staple"
ME = "/api/v1/auth/me"


@pytest.fixture(scope="module")
def database(postgres_server: str, migrated_template: str) -> Iterator[str]:
    with module_database(postgres_server, migrated_template) as url:
        yield url


@pytest.fixture
async def api(database: str) -> AsyncIterator[AuthApi]:
    async with auth_api(database) as started:
        yield started


@pytest.fixture
async def admin(api: AuthApi) -> str:
    name = api.unique("admin")
    async with api.sessions() as session:
        await create_local_user(session, name, PASSWORD, instance_admin=True)
        await session.commit()
    return name


async def _login(browser: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    return await browser.post("/api/v1/auth/login", json={"name": name, "password": password})


async def test_the_right_password_signs_in_with_a_hardened_cookie(api: AuthApi, admin: str) -> None:
    browser = api.browser()
    response = await _login(browser, admin)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["display_name"], body["is_instance_admin"], body["provider"]) == (
        admin,
        True,
        "local",
    )
    assert browser.cookies[SESSION_COOKIE] not in response.text
    flags = {p.strip().lower() for p in response.headers["set-cookie"].split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags
    assert (await browser.get(ME)).json()["csrf_token"] == body["csrf_token"]


@pytest.mark.parametrize("who", ["wrong-password", "unknown-user"])
async def test_a_wrong_password_or_unknown_name_is_401(api: AuthApi, admin: str, who: str) -> None:
    browser = api.browser()
    name, password = (
        (admin, "not the password") if who == "wrong-password" else ("nobody", PASSWORD)
    )
    response = await _login(browser, name, password)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert SESSION_COOKIE not in browser.cookies


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_only_a_json_body_can_sign_in(
    api: AuthApi, admin: str, content_type: str | None
) -> None:
    # A cross-site page can POST text/plain, or a Blob with no type at all, without a
    # CORS preflight; neither may sign a browser in (login CSRF).
    browser = api.browser()
    body = f'{{"name": "{admin}", "password": "{PASSWORD}"}}'.encode()
    request = browser.build_request("POST", "/api/v1/auth/login", content=body)
    request.headers.pop("content-type", None)
    if content_type is not None:
        request.headers["content-type"] = content_type
    response = await browser.send(request)

    assert response.status_code == 422
    assert SESSION_COOKIE not in browser.cookies


async def test_password_guessing_is_rate_limited_per_address(api: AuthApi, admin: str) -> None:
    browser = api.browser()
    allowed = int(LOGIN_RATE_LIMIT.split("/")[0])
    for _ in range(allowed):
        assert (await _login(browser, admin, "guess guess guess")).status_code == 401

    limited = await _login(browser, admin)  # even the right password, until the window passes
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 61


async def test_logout_revokes_the_session_server_side(api: AuthApi, admin: str) -> None:
    browser = api.browser()
    await _login(browser, admin)
    old_cookie = browser.cookies[SESSION_COOKIE]
    headers = await csrf(browser)

    out = await browser.post("/api/v1/auth/logout", headers=headers)
    replayed = await api.browser_with_session(old_cookie).get(ME)

    assert out.status_code == 204
    assert SESSION_COOKIE not in browser.cookies
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "not_authenticated"


async def test_logout_needs_the_csrf_token(api: AuthApi, admin: str) -> None:
    browser = api.browser()
    await _login(browser, admin)

    refused = await browser.post("/api/v1/auth/logout")
    assert refused.status_code == 403
    assert (await browser.get(ME)).status_code == 200


async def test_a_session_expires_after_session_days(api: AuthApi, admin: str) -> None:
    browser = api.browser()
    await _login(browser, admin)

    api.clock.advance(days=13, hours=23)
    assert (await browser.get(ME)).status_code == 200
    api.clock.advance(hours=2)
    assert (await browser.get(ME)).status_code == 401


async def test_signing_in_again_replaces_the_browsers_session(api: AuthApi, admin: str) -> None:
    browser = api.browser()
    await _login(browser, admin)
    first = browser.cookies[SESSION_COOKIE]
    await _login(browser, admin)

    assert browser.cookies[SESSION_COOKIE] != first
    assert (await api.browser_with_session(first).get(ME)).status_code == 401


async def test_sessions_are_listed_and_one_can_be_revoked(api: AuthApi, admin: str) -> None:
    laptop, phone = api.browser(), api.browser()
    await _login(laptop, admin)
    await _login(phone, admin)

    listed = (await laptop.get("/api/v1/auth/sessions")).json()
    assert len(listed) == 2
    (current,) = [s for s in listed if s["current"]]
    (other,) = [s for s in listed if not s["current"]]
    revoked = await laptop.delete(
        f"/api/v1/auth/sessions/{other['id']}", headers=await csrf(laptop)
    )

    assert revoked.status_code == 204
    assert (await phone.get(ME)).status_code == 401
    assert [s["id"] for s in (await laptop.get("/api/v1/auth/sessions")).json()] == [current["id"]]


async def test_revoking_the_current_session_clears_its_cookie(api: AuthApi, admin: str) -> None:
    browser = api.browser()
    await _login(browser, admin)
    (mine,) = (await browser.get("/api/v1/auth/sessions")).json()

    revoked = await browser.delete(
        f"/api/v1/auth/sessions/{mine['id']}", headers=await csrf(browser)
    )
    assert revoked.status_code == 204
    assert SESSION_COOKIE not in browser.cookies


async def test_nobody_can_revoke_someone_elses_session(api: AuthApi, admin: str) -> None:
    other = api.unique("other")
    async with api.sessions() as session:
        await create_local_user(session, other, PASSWORD)
        await session.commit()
    mine, theirs = api.browser(), api.browser()
    await _login(mine, admin)
    await _login(theirs, other)
    (their_session,) = (await theirs.get("/api/v1/auth/sessions")).json()

    attempt = await mine.delete(
        f"/api/v1/auth/sessions/{their_session['id']}", headers=await csrf(mine)
    )
    garbage = await mine.delete("/api/v1/auth/sessions/zz", headers=await csrf(mine))

    assert attempt.status_code == garbage.status_code == 404
    assert (await theirs.get(ME)).status_code == 200


async def test_anonymous_callers_get_401(api: AuthApi) -> None:
    browser = api.browser()
    for response in (await browser.get(ME), await browser.get("/api/v1/auth/sessions")):
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


async def test_an_api_token_has_no_browser_session(api: AuthApi) -> None:
    community_id = await api.community("tokened")
    async with api.sessions() as session:
        token = await create_api_token(
            session, community_id, "ci", [Permission.READ], created_by=None
        )
        await session.commit()

    response = await api.browser().get(ME, headers={"Authorization": f"Bearer {token.token}"})
    assert response.status_code == 403
