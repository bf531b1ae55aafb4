from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.config.settings import DatabaseSettings
from townsquare.errors import DatabaseUnavailable, PoolExhausted
from townsquare.store.engine import (
    check_server,
    create_db_engine,
    create_session_factory,
    translate_errors,
)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_server_is_checked_for_a_supported_version(
    engine: AsyncEngine, database_url: str
) -> None:
    info = await check_server(engine, database_url, DatabaseSettings())
    assert info.version_num >= 150000
    assert info.database == make_url(database_url).database


async def test_refused_connection_is_a_clear_error_without_the_password() -> None:
    url = f"postgresql://app:hunter2@127.0.0.1:{_closed_port()}/townsquare"
    settings = DatabaseSettings(connect_timeout=2)
    engine = create_db_engine(url, settings)
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await check_server(engine, url, settings)
    finally:
        await engine.dispose()
    assert "Cannot use PostgreSQL at postgresql://app:***@127.0.0.1" in caught.value.message
    assert "hunter2" not in caught.value.message


async def test_server_that_never_answers_fails_after_connect_timeout(silent_server: int) -> None:
    url = f"postgresql://app@127.0.0.1:{silent_server}/townsquare"
    settings = DatabaseSettings(connect_timeout=1)
    engine = create_db_engine(url, settings)
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await check_server(engine, url, settings)
    finally:
        await engine.dispose()
    assert "timeout" in caught.value.message.lower()


async def test_missing_database_is_named(database_url: str) -> None:
    url = make_url(database_url).set(database="no_such_db").render_as_string(hide_password=False)
    engine = create_db_engine(url, DatabaseSettings())
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await check_server(engine, url, DatabaseSettings())
    finally:
        await engine.dispose()
    assert "no_such_db" in caught.value.message
    assert "does not exist" in caught.value.message


async def test_exhausted_pool_fails_after_pool_timeout_with_advice(database_url: str) -> None:
    settings = DatabaseSettings(pool_size=1, max_overflow=0, pool_timeout=0.2)
    engine = create_db_engine(database_url, settings)
    try:
        async with engine.connect():
            with pytest.raises(PoolExhausted) as caught:
                async with translate_errors(database_url, settings), engine.connect():
                    pass
        # Once the connection is back, the pool works again.
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()
    assert "All 1 database connections stayed busy for 0.2 s" in caught.value.message
    assert caught.value.status == 503


async def test_a_bad_query_is_not_mistaken_for_an_outage(
    engine: AsyncEngine, database_url: str
) -> None:
    with pytest.raises(ProgrammingError):
        async with translate_errors(database_url, DatabaseSettings()), engine.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))


async def test_statement_timeout_from_settings_applies(database_url: str) -> None:
    engine = create_db_engine(database_url, DatabaseSettings(statement_timeout_ms=1234))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SHOW statement_timeout"))).scalar() == "1234ms"
    finally:
        await engine.dispose()


async def test_objects_stay_readable_after_commit(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    async with factory() as db_session:
        value = (await db_session.execute(text("SELECT 41 + 1"))).scalar()
        await db_session.commit()
    assert value == 42
    assert factory.kw["expire_on_commit"] is False
