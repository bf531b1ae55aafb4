"""An admin API over a real, migrated database, with callers authenticated for real.

`open_world` builds the app once (per test module), a community with people in every
role (sessions with their CSRF tokens), API tokens with each permission, an owner of
another community and an instance admin — all through the accounts service, never by
overriding the app's dependencies, so the tests exercise the same checks production does.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from tests.services.factories import Plaza, make_plaza
from townsquare.api.app import create_app
from townsquare.api.deps import CSRF_HEADER, SESSION_COOKIE
from townsquare.config.settings import load_settings
from townsquare.services.accounts import (
    Permission,
    Role,
    create_api_token,
    create_session,
    set_role,
    user_for_identity,
)
from townsquare.store.engine import libpq_url
from townsquare.store.models import User

ADMIN_PREFIX = "/api/v1/admin/communities"
_subjects = itertools.count(1)


@dataclass(frozen=True)
class Caller:
    """How one caller authenticates: a session cookie with its CSRF token, or a token."""

    name: str
    headers: dict[str, str] = field(default_factory=dict)
    user_id: int | None = None

    def without_csrf(self) -> Caller:
        return Caller(
            self.name,
            {k: v for k, v in self.headers.items() if k != CSRF_HEADER},
            self.user_id,
        )


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    plaza: Plaza
    other: Plaza
    callers: dict[str, Caller]

    @property
    def community_id(self) -> int:
        return self.plaza.community_id

    def url(self, path: str = "", community_id: int | None = None) -> str:
        return f"{ADMIN_PREFIX}/{community_id or self.community_id}{path}"

    def session(self) -> AsyncSession:
        """A session of the app's own engine (for arranging and checking what is stored)."""
        session: AsyncSession = self.app.state.session_factory()
        return session

    async def request(
        self, caller: str | Caller, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        who = self.callers[caller] if isinstance(caller, str) else caller
        headers = {**who.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, self.url(path), headers=headers, **kwargs)


@contextmanager
def copied_database(postgres_server: str, template: str) -> Iterator[str]:
    """A migrated database of its own (copied from the session's template), dropped after."""
    name = f"townsquare_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def signed_in(
    session: AsyncSession, name: str, *, role: Role | None, community_id: int | None
) -> Caller:
    """A user with ``role`` in the community, signed in (cookie + CSRF header)."""
    user_id = await user_for_identity(session, "discord", f"{name}-{next(_subjects)}", name)
    if role is not None and community_id is not None:
        await set_role(session, community_id, user_id, role)
    cookie, csrf = await create_session(
        session, user_id, provider="discord", now=datetime.now(UTC), lifetime=timedelta(days=1)
    )
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}", CSRF_HEADER: csrf}
    return Caller(name, headers, user_id)


async def token_caller(
    session: AsyncSession, name: str, community_id: int, permissions: list[Permission]
) -> Caller:
    created = await create_api_token(session, community_id, name, permissions, created_by=None)
    return Caller(name, {"Authorization": f"Bearer {created.token}"})


@asynccontextmanager
async def open_world(database_url: str, **api: Any) -> AsyncIterator[World]:
    """The app (lifespan running) and a community with a caller of every kind."""
    settings = load_settings(
        database={"connect_timeout": 5},
        api={"mutation_rate_limit": "10000/minute", **api},
    )
    app = create_app(settings, database_url)
    async with app.router.lifespan_context(app):
        async with app.state.session_factory() as session:
            plaza = await make_plaza(session)
            other = await make_plaza(session)
            cid = plaza.community_id
            callers = {
                "viewer": await signed_in(session, "viewer", role=Role.VIEWER, community_id=cid),
                "moderator": await signed_in(
                    session, "moderator", role=Role.MODERATOR, community_id=cid
                ),
                "admin": await signed_in(session, "admin", role=Role.ADMIN, community_id=cid),
                "owner": await signed_in(session, "owner", role=Role.OWNER, community_id=cid),
                "instance-admin": await _instance_admin(session),
                "other-owner": await signed_in(
                    session, "other-owner", role=Role.OWNER, community_id=other.community_id
                ),
                "token-read": await token_caller(session, "r", cid, [Permission.READ]),
                "token-grant": await token_caller(session, "g", cid, [Permission.GRANT]),
                "token-configure": await token_caller(session, "c", cid, [Permission.CONFIGURE]),
                "other-token": await token_caller(
                    session,
                    "o",
                    other.community_id,
                    [Permission.READ, Permission.GRANT, Permission.CONFIGURE],
                ),
                "anonymous": Caller("anonymous"),
            }
            await session.commit()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield World(app, client, plaza, other, callers)


async def _instance_admin(session: AsyncSession) -> Caller:
    caller = await signed_in(session, "instance-admin", role=None, community_id=None)
    await session.execute(
        update(User).where(User.id == caller.user_id).values(is_instance_admin=True)
    )
    return caller
