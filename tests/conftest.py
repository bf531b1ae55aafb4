"""A real PostgreSQL for every test that touches storage.

By default an embedded server is started once per test session in a temporary directory
(no fsync: test data need not survive a power cut). Set TOWNSQUARE_TEST_DATABASE_URL to run
against another server instead (e.g. postgresql://postgres@127.0.0.1:5432/test); each test
session then creates and drops its own database on it, so the given database is untouched.

Migrations run once per session on the ``townsquare`` database; each test gets a session
inside a transaction that is rolled back at the end (services may "commit": it only
releases a savepoint). Tests that need real commits (NOTIFY, migrations, subprocesses)
ask for a ``fresh_database`` of their own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from townsquare.config.settings import DatabaseSettings
from townsquare.store import migrate
from townsquare.store.embedded import EmbeddedPostgres
from townsquare.store.engine import create_db_engine, create_sync_engine, libpq_url
from townsquare.store.notify import TownsquareSession

TEST_DATABASE_URL_ENV = "TOWNSQUARE_TEST_DATABASE_URL"


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a server we may create databases on (its maintenance database)."""
    external = os.environ.get(TEST_DATABASE_URL_ENV)
    if external:
        yield external
        return
    data_dir = tmp_path_factory.mktemp("embedded-postgres")
    with EmbeddedPostgres(data_dir, durable=False) as server:
        yield server.url


@pytest.fixture(scope="session")
def create_database(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Factory of empty databases on the test server, dropped at the end of the session."""
    created: list[str] = []

    def create() -> str:
        name = f"townsquare_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        created.append(name)
        return _with_database(postgres_server, name)

    yield create
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_database(create_database: Callable[[], str]) -> str:
    """An empty database of this test's own (no migrations applied)."""
    return create_database()


@pytest.fixture(scope="session")
def database_url(create_database: Callable[[], str]) -> str:
    """The shared test database, migrated to head once per session."""
    url = create_database()
    engine = create_sync_engine(url, DatabaseSettings())
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def migrated_template(create_database: Callable[[], str]) -> str:
    """Name of a migrated database that per-test copies are made from (never used itself)."""
    url = create_database()
    engine = create_sync_engine(url, DatabaseSettings())
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    name = make_url(url).database
    assert name is not None
    return name


@pytest.fixture
def migrated_database(postgres_server: str, migrated_template: str) -> Iterator[str]:
    """A migrated database of this test's own, for code that commits (the pipeline).

    Copied from a template, which is much faster than migrating; dropped afterwards.
    """
    name = f"townsquare_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield _with_database(postgres_server, name)
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_db_engine(database_url, DatabaseSettings(pool_size=5))
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose every change is rolled back after the test."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        db_session = AsyncSession(
            bind=conn,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            sync_session_class=TownsquareSession,
        )
        try:
            yield db_session
        finally:
            await db_session.close()
            await outer.rollback()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running ``townsquare`` in a subprocess with its own data directory."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TOWNSQUARE_") or key == TEST_DATABASE_URL_ENV
    }
    env.pop(TEST_DATABASE_URL_ENV, None)
    env["TOWNSQUARE_EMBEDDED_DATA_DIR"] = str(tmp_path / "data")
    env["TOWNSQUARE_PIPELINE_SPOOL_DIR"] = str(tmp_path / "spool")
    env["TOWNSQUARE_LOG_FORMAT"] = "json"
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    return env
