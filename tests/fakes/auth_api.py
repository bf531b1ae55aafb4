"""The API wired to fake Discord and LINE providers, with browsers and a movable clock.

``FakeProviders.running()`` serves both fakes on one real HTTP server on 127.0.0.1;
``auth_api(...)`` builds the real app whose settings point at it (so the production httpx
code runs unchanged) and hands out "browsers": httpx clients with their own cookie jars
that reach the app in-process at ``https://townsquare.test`` and the fakes over TCP.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fakes import discord_oauth, line_login
from tests.fakes.discord_oauth import FakeDiscord
from tests.fakes.line_login import FakeLine
from tests.fakes.server import ThreadedServer
from townsquare.api.app import create_app
from townsquare.api.deps import SESSION_COOKIE
from townsquare.config.settings import Settings, load_settings
from townsquare.store.engine import libpq_url
from townsquare.store.models import Community, CommunityLink

PUBLIC_URL = "https://townsquare.test"


@dataclass
class FakeProviders:
    discord: FakeDiscord
    line: FakeLine
    url: str

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[FakeProviders]:
        discord, line = FakeDiscord(), FakeLine()
        app = FastAPI()
        app.include_router(discord.router(), prefix="/discord")
        app.include_router(line.router(), prefix="/line")
        with ThreadedServer(app) as server:
            yield cls(discord, line, server.url)

    def reset(self) -> None:
        self.discord.reset()
        self.line.reset()

    def auth_settings(self) -> dict[str, Any]:
        return {
            "public_url": PUBLIC_URL,
            "discord_client_id": discord_oauth.CLIENT_ID,
            "discord_client_secret": discord_oauth.CLIENT_SECRET,
            "discord_authorize_url": f"{self.url}/discord/oauth2/authorize",
            "discord_api_url": f"{self.url}/discord/api",
            "line_channel_id": line_login.CHANNEL_ID,
            "line_channel_secret": line_login.CHANNEL_SECRET,
            "line_authorize_url": f"{self.url}/line/oauth2/v2.1/authorize",
            "line_api_url": f"{self.url}/line",
        }


@dataclass
class Clock:
    """``app.state.clock``: time moves when a test says so."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class AuthApi:
    app: FastAPI
    settings: Settings
    clock: Clock
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    _browsers: list[httpx.AsyncClient] = field(default_factory=list)

    def unique(self, name: str) -> str:
        """``name`` made unique to this test (tests of a module share one database)."""
        return f"{name}-{self.tag}"

    def browser(self) -> httpx.AsyncClient:
        """A new browser: its own cookie jar, redirects followed by hand."""
        client = httpx.AsyncClient(
            base_url=PUBLIC_URL,
            mounts={PUBLIC_URL: httpx.ASGITransport(app=self.app, client=("198.51.100.7", 5000))},
            timeout=10,
        )
        self._browsers.append(client)
        return client

    def browser_with_session(self, cookie: str) -> httpx.AsyncClient:
        """A new browser holding a (perhaps stolen, perhaps revoked) session cookie."""
        client = self.browser()
        client.cookies.set(SESSION_COOKIE, cookie, domain="townsquare.test", path="/")
        return client

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        factory: async_sessionmaker[AsyncSession] = self.app.state.session_factory
        return factory

    async def community(self, slug: str, *, guild: str | None = None) -> int:
        """A community, linked to Discord guild ``guild`` when given."""
        slug = self.unique(slug)
        async with self.sessions() as session:
            community_id = (
                await session.execute(
                    insert(Community).values(slug=slug, name=slug.title()).returning(Community.id)
                )
            ).scalar_one()
            if guild is not None:
                await session.execute(
                    insert(CommunityLink).values(
                        community_id=community_id, platform="discord", external_id=guild
                    )
                )
            await session.commit()
        return int(community_id)


@contextmanager
def module_database(postgres_server: str, migrated_template: str) -> Iterator[str]:
    """A migrated database for one test module (a copy per test costs ~0.7 s)."""
    name = f"townsquare_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    try:
        yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def auth_api(
    database_url: str, providers: FakeProviders | None = None, **auth: Any
) -> AsyncIterator[AuthApi]:
    """The app, started (lifespan) with the fakes' URLs unless ``auth`` overrides them."""
    settings = load_settings(
        auth={**(providers.auth_settings() if providers else {}), **auth},
        database={"connect_timeout": 5},
    )
    if providers is not None:
        providers.discord.redirect_uris = {f"{PUBLIC_URL}/api/v1/auth/discord/callback"}
        providers.line.redirect_uris = {f"{PUBLIC_URL}/api/v1/auth/line/callback"}
    app = create_app(settings, database_url)
    api = AuthApi(app, settings, Clock())
    app.state.clock = api.clock
    async with app.router.lifespan_context(app):
        try:
            yield api
        finally:
            for browser in api._browsers:
                await browser.aclose()


async def provider_sign_in(
    browser: httpx.AsyncClient, provider: str, next_path: str = "/"
) -> httpx.Response:
    """Walk a browser through login -> consent -> callback; the callback's response."""
    login = await browser.get(f"/api/v1/auth/{provider}/login", params={"next": next_path})
    assert login.status_code == 302, login.text
    consent = await browser.get(login.headers["location"])
    assert consent.status_code == 302, consent.text
    return await browser.get(consent.headers["location"])


async def csrf(browser: httpx.AsyncClient) -> dict[str, str]:
    """The header a signed-in dashboard sends with changes."""
    me = await browser.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    return {"X-CSRF-Token": me.json()["csrf_token"]}
