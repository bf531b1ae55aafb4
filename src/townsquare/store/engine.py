"""The async engine and session factory, built once by the entrypoint and passed down.

Async because everything that talks to the database — the API, the Discord gateway, the
LINE webhook workers, the ingest writer — runs on one asyncio loop; a sync engine would
push every query through a thread hop (the predecessor's bot did exactly that and stalled
its gateway). Alembic migrations and a few CLI commands use a short-lived sync engine.

Connection failures are translated here, once, into ``DatabaseUnavailable`` and
``PoolExhausted`` with messages that say what to do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from townsquare.config.settings import DatabaseSettings
from townsquare.errors import DatabaseUnavailable, PoolExhausted
from townsquare.store.notify import TownsquareSession

MIN_SERVER_VERSION = 150000
# SQLSTATE classes that mean "the server is not there for us", not "your query is wrong".
_UNAVAILABLE_SQLSTATES = ("08", "28", "3D", "53", "57P01", "57P02", "57P03")


@dataclass(frozen=True)
class ServerInfo:
    version: str
    version_num: int
    database: str


def driver_url(url: str) -> URL:
    """The same server, spoken to through psycopg 3."""
    return make_url(url).set(drivername="postgresql+psycopg")


def libpq_url(url: str) -> str:
    """The same server as a plain libpq URL, for psycopg connections outside SQLAlchemy."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def display_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def _connect_args(settings: DatabaseSettings) -> dict[str, object]:
    options = f"-c statement_timeout={settings.statement_timeout_ms}"
    return {
        "connect_timeout": settings.connect_timeout,
        "options": options,
        "application_name": "townsquare",
    }


def create_db_engine(url: str, settings: DatabaseSettings) -> AsyncEngine:
    """The process's pooled async engine (pool figures from settings, never unbounded)."""
    return create_async_engine(
        driver_url(url),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle,
        pool_pre_ping=settings.pool_pre_ping,
        connect_args=_connect_args(settings),
    )


def create_sync_engine(url: str, settings: DatabaseSettings) -> Engine:
    """A small sync engine for migrations and one-shot CLI commands."""
    return create_engine(
        driver_url(url),
        pool_size=1,
        max_overflow=0,
        pool_timeout=settings.pool_timeout,
        pool_pre_ping=True,
        connect_args=_connect_args(settings),
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after the unit of work ends, so nothing
    # lazy-loads (or fails) behind a service's back.
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=TownsquareSession
    )


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the server cannot serve us (vs. a bad query)."""
    if isinstance(exc, PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        if isinstance(orig, psycopg.Error):
            state = orig.sqlstate
            if state is None:
                return isinstance(exc, OperationalError | InterfaceError)
            return state.startswith(_UNAVAILABLE_SQLSTATES)
        return isinstance(exc, OperationalError | InterfaceError)
    return isinstance(exc, psycopg.OperationalError)


def unavailable_error(
    exc: BaseException, url: str, settings: DatabaseSettings
) -> DatabaseUnavailable:
    """The typed error (with an actionable message) for a failure ``is_unavailable`` accepts."""
    if isinstance(exc, PoolTimeoutError):
        total = settings.pool_size + settings.max_overflow
        return PoolExhausted(
            f"All {total} database connections stayed busy for {settings.pool_timeout:g} s "
            "(database.pool_timeout). The server is overloaded or a query is stuck; raise "
            "TOWNSQUARE_DATABASE_POOL_SIZE or look for long-running queries."
        )
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return DatabaseUnavailable(f"Cannot use PostgreSQL at {display_url(url)}: {reason}")


@contextmanager
def translate_errors_sync(url: str, settings: DatabaseSettings) -> Iterator[None]:
    """``translate_errors`` for the sync engine of migrations and CLI commands."""
    try:
        yield
    except (DBAPIError, PoolTimeoutError, psycopg.OperationalError) as exc:
        if is_unavailable(exc):
            raise unavailable_error(exc, url, settings) from exc
        raise


@asynccontextmanager
async def translate_errors(url: str, settings: DatabaseSettings) -> AsyncIterator[None]:
    """Turn connection-level failures inside the block into ``DatabaseUnavailable``."""
    try:
        yield
    except (DBAPIError, PoolTimeoutError, psycopg.OperationalError) as exc:
        if is_unavailable(exc):
            raise unavailable_error(exc, url, settings) from exc
        raise


async def check_server(engine: AsyncEngine, url: str, settings: DatabaseSettings) -> ServerInfo:
    """Connect once and make sure the server is one we support (PostgreSQL >= 15)."""
    async with translate_errors(url, settings), engine.connect() as conn:
        info = await server_info(conn)
    if info.version_num < MIN_SERVER_VERSION:
        raise DatabaseUnavailable(
            f"PostgreSQL {info.version} at {display_url(url)} is too old; Townsquare needs 15 "
            "or newer."
        )
    return info


async def server_info(conn: AsyncConnection) -> ServerInfo:
    row = (
        await conn.execute(
            text(
                "SELECT current_setting('server_version'), "
                "current_setting('server_version_num')::int, current_database()"
            )
        )
    ).one()
    return ServerInfo(version=row[0], version_num=row[1], database=row[2])
