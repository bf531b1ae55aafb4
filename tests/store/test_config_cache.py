"""The live config cache against real PostgreSQL: notifications, reconnects, the breaker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.pipeline.test_outage import own_server, wait_for  # noqa: F401 - fixture
from townsquare.config.document import CommunityConfigDocument, Section
from townsquare.config.settings import ConfigCacheSettings, DatabaseSettings
from townsquare.store.config_cache import ConfigCache
from townsquare.store.config_documents import read_config, save_document
from townsquare.store.embedded import EmbeddedPostgres
from townsquare.store.engine import create_db_engine, create_session_factory, libpq_url

FAST = ConfigCacheSettings(
    reconnect_attempts=3,
    backoff_initial_seconds=0.05,
    backoff_max_seconds=0.2,
    poll_seconds=0.2,
    breaker_reset_seconds=0.6,
    keepalive_seconds=0.5,
    stop_timeout_seconds=5,
)
FAST_FAIL = DatabaseSettings(connect_timeout=2)


@pytest.fixture
async def engine(migrated_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_db_engine(migrated_database, DatabaseSettings(pool_size=2))
    yield engine
    await engine.dispose()


async def new_community(url: str, slug: str = "guild") -> int:
    async with await psycopg.AsyncConnection.connect(libpq_url(url)) as conn:
        cursor = await conn.execute(
            "INSERT INTO communities (slug, name) VALUES (%s, %s) RETURNING id", (slug, slug)
        )
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


async def set_message_xp(engine: AsyncEngine, community_id: int, xp: int, *, commit: bool) -> int:
    """Edit the base message XP the way the admin services do; the new config version."""
    async with create_session_factory(engine)() as session:
        stored = await read_config(session, community_id, for_update=True)
        raw = stored.document().with_section(
            Section.BASE_REWARDS, {"message": {"xp": xp, "gold": 1}}
        )
        saved = await save_document(
            session, stored, CommunityConfigDocument.model_validate(raw), [Section.BASE_REWARDS]
        )
        if commit:
            await session.commit()
        else:
            await session.rollback()
        return saved.version


def message_xp(cache: ConfigCache, community_id: int) -> int:
    cached = cache.get(community_id)
    assert cached is not None
    return cached.document.rules.base_rewards.message.xp


async def listener_backends(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


async def test_a_committed_change_reaches_the_cache_and_its_rules(
    migrated_database: str, engine: AsyncEngine
) -> None:
    community_id = await new_community(migrated_database)
    async with ConfigCache(migrated_database, FAST, DatabaseSettings()) as cache:
        assert cache.readiness()["state"] == "listening"
        assert message_xp(cache, community_id) == 15  # the documented default
        version = await set_message_xp(engine, community_id, 40, commit=True)
        async with asyncio.timeout(10):
            cached = await cache.wait_for_version(community_id, version)
        assert cached.rules.config.base_rewards.message.xp == 40
        rules = await cache.rules_for(None, community_id)
        assert rules is cached.rules


async def test_a_rolled_back_change_is_never_announced(
    migrated_database: str, engine: AsyncEngine
) -> None:
    community_id = await new_community(migrated_database)
    async with ConfigCache(migrated_database, FAST, DatabaseSettings()) as cache:
        await set_message_xp(engine, community_id, 99, commit=False)
        # A committed change afterwards is the barrier: notifications arrive in commit order.
        version = await set_message_xp(engine, community_id, 20, commit=True)
        async with asyncio.timeout(10):
            await cache.wait_for_version(community_id, version)
        assert cache.notifications == 1
        assert message_xp(cache, community_id) == 20


async def test_a_killed_listener_reconnects_and_reloads_what_it_missed(
    migrated_database: str, engine: AsyncEngine
) -> None:
    community_id = await new_community(migrated_database)
    async with ConfigCache(migrated_database, FAST, DatabaseSettings()) as cache:
        async with await psycopg.AsyncConnection.connect(
            libpq_url(migrated_database), autocommit=True
        ) as admin:
            # A change whose notification nobody hears (made without one, as if it had been
            # sent while the listener was away) ...
            await admin.execute(
                "INSERT INTO community_settings (community_id, settings) VALUES (%s, %s)",
                (
                    community_id,
                    psycopg.types.json.Jsonb(
                        CommunityConfigDocument.model_validate(
                            {"rules": {"base_rewards": {"message": {"xp": 33}}}}
                        ).model_dump(mode="json")
                    ),
                ),
            )
            await admin.execute(
                "UPDATE communities SET config_version = config_version + 1 WHERE id = %s",
                (community_id,),
            )
            assert message_xp(cache, community_id) == 15
            # ... then the listener's connection is terminated.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'townsquare-config-listener'"
            )
        await wait_for(lambda: message_xp(cache, community_id) == 33, seconds=10)
        await wait_for(lambda: cache.readiness()["state"] == "listening", seconds=10)
        assert cache.readiness()["attempts"] == 0


async def test_stop_leaves_no_connection_behind(migrated_database: str) -> None:
    await new_community(migrated_database)
    cache = ConfigCache(migrated_database, FAST, DatabaseSettings())
    await cache.start()
    assert await listener_backends(migrated_database) >= 1
    await cache.stop()
    assert await listener_backends(migrated_database) == 0
    assert cache.readiness()["state"] == "stopped"


async def test_an_invalid_stored_document_keeps_the_last_good_rules(
    migrated_database: str, engine: AsyncEngine
) -> None:
    community_id = await new_community(migrated_database)
    async with ConfigCache(migrated_database, FAST, DatabaseSettings()) as cache:
        version = await set_message_xp(engine, community_id, 25, commit=True)
        async with asyncio.timeout(10):
            await cache.wait_for_version(community_id, version)
        async with await psycopg.AsyncConnection.connect(
            libpq_url(migrated_database), autocommit=True
        ) as admin:
            await admin.execute(
                'UPDATE community_settings SET settings = \'{"format": 1, "rules": '
                '{"quality": {"floor": -5}}}\' WHERE community_id = %s',
                (community_id,),
            )
            await admin.execute(
                "UPDATE communities SET config_version = config_version + 1 WHERE id = %s "
                "RETURNING config_version",
                (community_id,),
            )
            await admin.execute(
                "SELECT pg_notify('townsquare_config', json_build_object("
                "'community', id, 'version', config_version)::text) FROM communities WHERE id = %s",
                (community_id,),
            )
        await wait_for(lambda: cache.version(community_id) == version + 1, seconds=10)
        assert message_xp(cache, community_id) == 25


async def test_with_postgresql_down_the_breaker_opens_and_polling_keeps_config_fresh(
    own_server: EmbeddedPostgres,  # noqa: F811 - fixture
) -> None:
    url = own_server.url
    community_id = await new_community(url)
    # The listener is not retried during the test, so what arrives later came by polling.
    cache = ConfigCache(url, FAST.model_copy(update={"breaker_reset_seconds": 300}), FAST_FAIL)
    await cache.start()
    try:
        assert cache.readiness()["state"] == "listening"
        await asyncio.to_thread(own_server.stop)
        await wait_for(lambda: cache.readiness()["breaker_open"], seconds=30)
        down = cache.readiness()
        assert down["state"] == "polling"
        assert down["attempts"] >= FAST.reconnect_attempts
        assert down["last_error"]
        assert down["staleness_s"] > 0

        await asyncio.to_thread(own_server.start)
        engine = create_db_engine(url, DatabaseSettings())
        try:
            await set_message_xp(engine, community_id, 51, commit=True)
        finally:
            await engine.dispose()
        await wait_for(lambda: message_xp(cache, community_id) == 51, seconds=30)
        back = cache.readiness()
        assert back["state"] == "polling"
        assert back["staleness_s"] <= 3 * FAST.poll_seconds
        assert cache.is_fresh_enough()
    finally:
        await cache.stop()
