"""An admin's edit reaches the running writer: the next batch after the cache has it."""

from __future__ import annotations

import asyncio

from tests.core.builders import T0, message
from tests.pipeline.test_pipeline import balances_by_user, feed, pipeline, query  # noqa: F401
from townsquare.config.document import Section
from townsquare.config.settings import DatabaseSettings
from townsquare.pipeline.ingest import Pipeline
from townsquare.services.audit import Actor, ActorType
from townsquare.services.community_config import get_section, replace_section
from townsquare.store.engine import create_db_engine, create_session_factory


async def test_a_settings_change_applies_to_the_next_batch(
    pipeline: Pipeline,  # noqa: F811 - fixture
    migrated_database: str,
) -> None:
    await feed(pipeline, [message("m1", member="alice", at=T0)])
    assert (await balances_by_user(migrated_database))["alice"][0] == 15  # the default
    [(community_id,)] = await query(
        migrated_database, "SELECT community_id FROM community_links WHERE external_id = 'guild'"
    )
    engine = create_db_engine(migrated_database, DatabaseSettings())
    try:
        async with create_session_factory(engine)() as session:
            section = await get_section(session, community_id, Section.BASE_REWARDS)
            value = {**section.value, "message": {"xp": 40, "stars": 0, "gold": 1}}
            changed = await replace_section(
                session,
                Actor(type=ActorType.USER, id="admin"),
                community_id,
                Section.BASE_REWARDS,
                value,
                expected_version=section.section_version,
            )
            await session.commit()
    finally:
        await engine.dispose()
    cache = pipeline.config_cache
    assert cache is not None
    async with asyncio.timeout(10):
        await cache.wait_for_version(community_id, changed.config_version)

    await feed(pipeline, [message("m2", member="bob", at=T0 + 5)])
    balances = await balances_by_user(migrated_database)
    assert balances["bob"][0] == 40
    assert balances["alice"][0] == 15  # earned before the change, untouched
