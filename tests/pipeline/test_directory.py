"""Platform ids to members: two creators of the same account end with one member."""

from __future__ import annotations

import asyncio

import psycopg

from townsquare.pipeline.directory import Directory
from townsquare.store.engine import libpq_url


async def test_a_concurrent_creator_of_the_same_account_wins_and_no_orphan_is_left(
    migrated_database: str,
) -> None:
    url = libpq_url(migrated_database)
    async with (
        await psycopg.AsyncConnection.connect(url, autocommit=True) as first,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as second,
    ):
        community = await (
            await first.execute(
                "INSERT INTO communities (slug, name) VALUES ('d', 'd') RETURNING id"
            )
        ).fetchone()
        assert community is not None
        key = (int(community[0]), "line", "U123")
        async with first.transaction():
            # The first creator (think: an identity link) has not committed yet...
            theirs = await Directory().resolve_members(first, [key])
            racing = asyncio.create_task(Directory().resolve_members(second, [key]))
            await asyncio.sleep(0.3)  # ...while the writer's insert waits on the unique key
            assert not racing.done()
        ours = await asyncio.wait_for(racing, 10)
        assert ours == theirs
        members = await (
            await first.execute("SELECT count(*) FROM members WHERE community_id = %s", (key[0],))
        ).fetchone()
        assert members == (1,)
