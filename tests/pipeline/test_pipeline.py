"""The ingest pipeline against a real PostgreSQL: what lands, exactly once, in order."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.core.builders import T0, World, manual, message, reaction, voice
from tests.core.test_engine_properties import Step, to_events
from townsquare.config.document import CommunityConfigDocument
from townsquare.config.settings import DatabaseSettings, PipelineSettings
from townsquare.core import CommunityConfig, Event, EventKind, MemberState, compile_rules
from townsquare.pipeline.demo import install_communities
from townsquare.pipeline.ingest import Pipeline, PipelineStopped
from townsquare.pipeline.reconcile import reconcile
from townsquare.pipeline.simulator import SimulationSpec, Simulator
from townsquare.pipeline.state_codec import decode_state
from townsquare.store.engine import create_db_engine


def settings(tmp_path: Path, **overrides: Any) -> PipelineSettings:
    values: dict[str, Any] = {"spool_dir": tmp_path / "spool", "linger_ms": 5, "batch_size": 500}
    return PipelineSettings(**{**values, **overrides})


@pytest.fixture
async def pipeline(migrated_database: str, tmp_path: Path) -> AsyncIterator[Pipeline]:
    async with Pipeline(migrated_database, settings(tmp_path), DatabaseSettings()) as running:
        yield running


async def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url.replace("+psycopg", "")) as conn:
        cursor = await conn.execute(sql, params)
        return await cursor.fetchall()


async def feed(pipeline: Pipeline, events: list[Event]) -> None:
    for event in events:
        await pipeline.ingest(event)
    await pipeline.flush()


async def balances_by_user(url: str) -> dict[str, tuple[int, int, int, int]]:
    """Lifetime (xp, stars, gold, level) per platform user id."""
    rows = await query(
        url,
        "SELECT i.external_user_id, b.xp, b.stars, b.gold, b.level FROM balances b "
        "JOIN member_identities i ON i.community_id = b.community_id AND i.member_id = b.member_id "
        "WHERE b.season = ''",
    )
    return {user: (xp, stars, gold, level) for user, xp, stars, gold, level in rows}


async def ledger_by_user(url: str) -> dict[str, tuple[int, int, int]]:
    rows = await query(
        url,
        "SELECT i.external_user_id, sum(l.xp), sum(l.stars), sum(l.gold) FROM ledger_entries l "
        "JOIN member_identities i ON i.community_id = l.community_id AND i.member_id = l.member_id "
        "GROUP BY 1",
    )
    return {user: (int(x), int(s), int(g)) for user, x, s, g in rows}


def expected(events: list[Event], config: CommunityConfig | None = None) -> dict[str, MemberState]:
    world = World(compile_rules(config or CommunityConfig()))
    for event in events:
        world.apply(event)
    return world.states


def random_events(seed: int, count: int) -> list[Event]:
    rng = random.Random(seed)
    kinds = ["message"] * 5 + ["react", "unreact", "voice", "award"]
    steps = [
        Step(
            rng.choice(kinds),
            rng.randrange(3),
            rng.randrange(3),
            rng.randrange(4),
            rng.choice([0, 1, 30, 90, 3600]),
            rng.randrange(60),
            rng.choice([0, 0xF0F0F0F0, 0x12345678ABCD]),
        )
        for _ in range(count)
    ]
    return to_events(steps)


def assert_matches(
    states: dict[str, MemberState],
    balances: dict[str, tuple[int, int, int, int]],
    ledger: dict[str, tuple[int, int, int]],
) -> None:
    for user, state in states.items():
        life = state.lifetime
        assert balances.get(user, (0, 0, 0, 0)) == (life.xp, life.stars, life.gold, state.level)
        assert ledger.get(user, (0, 0, 0)) == (life.xp, life.stars, life.gold)


async def assert_rules_applied(url: str, events: list[Event]) -> None:
    """Balances and ledger equal the rules applied to ``events`` one at a time, in order."""
    assert_matches(expected(events), await balances_by_user(url), await ledger_by_user(url))


async def test_a_batch_lands_with_ledger_balances_counters_and_state(
    pipeline: Pipeline, migrated_database: str
) -> None:
    events = [message(f"m{i}", member="alice", at=T0 + 120 * i, length=80) for i in range(5)]
    events.append(reaction("r1", giver="bob", receiver="alice", message_id="m0", at=T0 + 700))
    await feed(pipeline, events)

    rows = await query(
        migrated_database, "SELECT platform_event_id, status, outcome FROM events ORDER BY 1"
    )
    assert [(r[0], r[1]) for r in rows] == [(f"m{i}", "rewarded") for i in range(5)] + [
        ("r1", "rewarded")
    ]
    assert all("counters" in r[2] and r[2]["why"] for r in rows)
    states = expected(events)
    assert_matches(
        states, await balances_by_user(migrated_database), await ledger_by_user(migrated_database)
    )
    counters = await query(
        migrated_database,
        "SELECT i.external_user_id, c.name, c.value FROM counters c JOIN member_identities i "
        "ON i.community_id = c.community_id AND i.member_id = c.member_id "
        "WHERE c.period = 'lifetime' ORDER BY 1, 2",
    )
    assert ("alice", "messages", 5) in counters
    assert ("alice", "reactions_received", 1) in counters
    assert ("bob", "reactions_given", 1) in counters
    stored = await query(
        migrated_database,
        "SELECT s.member_id, s.state, s.format FROM member_states s JOIN member_identities i "
        "ON i.community_id = s.community_id AND i.member_id = s.member_id "
        "WHERE i.external_user_id = 'alice'",
    )
    member_id, doc, fmt = stored[0]
    alice = decode_state(str(member_id), doc, fmt)
    assert alice.lifetime == states["alice"].lifetime
    assert alice.counters == states["alice"].counters
    assert pipeline.figures.committed_events == 6
    assert pipeline.figures.statements / 6 < 5


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_results_equal_the_rules_applied_one_at_a_time(
    pipeline: Pipeline, migrated_database: str, seed: int
) -> None:
    events = random_events(seed, 300)
    await feed(pipeline, events)
    await assert_rules_applied(migrated_database, events)


async def test_redeliveries_are_counted_once(pipeline: Pipeline, migrated_database: str) -> None:
    events = random_events(7, 120)
    await feed(pipeline, events)
    # Redelivered in a later batch, and twice within one batch.
    await feed(pipeline, events[:50] + events[:50])
    (count,) = (await query(migrated_database, "SELECT count(*) FROM events"))[0]
    assert count == len(events)
    assert pipeline.figures.duplicates == 100
    await assert_rules_applied(migrated_database, events)


async def test_out_of_order_events_are_each_recorded_once(
    pipeline: Pipeline, migrated_database: str
) -> None:
    events = random_events(11, 200)
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)
    await feed(pipeline, shuffled)
    (count,) = (await query(migrated_database, "SELECT count(*) FROM events"))[0]
    assert count == len(events)
    # Whatever order they came in, the ledger and the balances agree, and match the rules
    # applied in the order of arrival.
    await assert_rules_applied(migrated_database, shuffled)


async def test_future_events_are_recorded_but_not_rewarded(
    pipeline: Pipeline, migrated_database: str
) -> None:
    far = int(time.time()) + 3 * 86_400
    await feed(pipeline, [message("soon", at=far), message("now", at=int(time.time()))])
    rows = {
        r[0]: (r[1], r[2].get("blocked_by"))
        for r in await query(
            migrated_database, "SELECT platform_event_id, status, outcome FROM events"
        )
    }
    assert rows["soon"] == ("blocked", "future_timestamp")
    assert rows["now"][0] == "rewarded"
    assert pipeline.figures.committed_events == 2


async def test_a_poison_event_is_isolated_and_recorded(
    pipeline: Pipeline, migrated_database: str
) -> None:
    good = [message(f"g{i}", member="carol", at=T0 + 100 * i) for i in range(3)]
    # A voice event without its voice metadata makes the rules raise.
    poison = dataclasses.replace(voice("v", 10, member="carol", at=T0 + 50), voice=None)
    await feed(pipeline, [good[0], poison, good[1], good[2]])
    rows = {
        r[0]: (r[1], r[2])
        for r in await query(
            migrated_database, "SELECT platform_event_id, status, outcome FROM events"
        )
    }
    assert rows["v"][0] == "failed"
    assert "EngineInputError" in rows["v"][1]["error"]
    assert [rows[f"g{i}"][0] for i in range(3)] == ["rewarded"] * 3
    assert pipeline.figures.failed_events == 1


async def test_data_the_database_refuses_goes_to_the_dead_letter_file(
    pipeline: Pipeline, migrated_database: str, tmp_path: Path
) -> None:
    fine = message("ok", member="dave", at=T0)
    too_long = message("x" * 300, member="dave", at=T0 + 100)  # platform_event_id is 128 max
    await feed(pipeline, [fine, too_long])
    ids = [r[0] for r in await query(migrated_database, "SELECT platform_event_id FROM events")]
    assert ids == ["ok"]
    dead = (tmp_path / "spool" / "dead-letter.jsonl").read_text().splitlines()
    assert len(dead) == 1
    assert "x" * 300 in dead[0]
    assert pipeline.figures.dead_lettered == 1


async def test_level_ups_and_unlocks_are_recorded_and_published_after_commit(
    migrated_database: str, tmp_path: Path
) -> None:
    config = CommunityConfig.model_validate(
        {
            "achievements": [
                {
                    "id": "first",
                    "name": "First words",
                    "trigger": {"type": "counter", "counter": "messages", "threshold": 1},
                }
            ]
        }
    )
    async with await psycopg.AsyncConnection.connect(migrated_database) as conn:
        await conn.execute(
            "INSERT INTO communities (id, slug, name) OVERRIDING SYSTEM VALUE "
            "VALUES (77, 'guild', 'Guild')"
        )
        await conn.execute(
            "INSERT INTO community_links (community_id, platform, external_id) "
            "VALUES (77, 'discord', 'guild')"
        )
        await conn.execute(
            "INSERT INTO community_settings (community_id, settings) VALUES (77, %s)",
            (Jsonb(CommunityConfigDocument.covering(config).model_dump(mode="json")),),
        )
        await conn.commit()
    async with Pipeline(migrated_database, settings(tmp_path), DatabaseSettings()) as pipeline:
        outcomes = pipeline.subscribe()
        await feed(pipeline, [manual("gift", member="erin", xp=5000)])
        await feed(pipeline, [message("hello", member="erin", at=T0 + 10)])
        published = [outcomes.get_nowait() for _ in range(outcomes.qsize())]
    assert [p.event.event_id for p in published] == ["gift", "hello"]
    assert published[0].outcome.level_changes[0].new_level > 0
    levels = await query(migrated_database, "SELECT old_level, new_level FROM level_ups")
    assert levels == [(0, published[0].outcome.level_changes[0].new_level)]
    awards = await query(
        migrated_database, "SELECT achievement_key, source, community_id FROM achievement_awards"
    )
    assert awards == [("first", "rule", 77)]


async def test_one_writer_per_community_and_takeover_when_it_dies(
    migrated_database: str, tmp_path: Path
) -> None:
    first = Pipeline(migrated_database, settings(tmp_path / "a"), DatabaseSettings())
    second = Pipeline(migrated_database, settings(tmp_path / "b"), DatabaseSettings())
    await first.start()
    await second.start()
    try:
        await feed(first, [message("a1", member="fay", at=T0)])
        await second.ingest(message("b1", member="fay", at=T0 + 100))
        await asyncio.sleep(0.3)
        # The community is the first writer's: the second holds its event back.
        assert second.figures.committed_events == 0
        assert second.queued == 1
        # The first writer dies: its sessions end without a clean stop.
        assert first._writer is not None
        pids = [first._writer.conn.info.backend_pid, first._writer.reader.info.backend_pid]
        await query(
            migrated_database, "SELECT pg_terminate_backend(p) FROM unnest(%s::int[]) p", pids
        )
        async with asyncio.timeout(10):
            await second.flush()
        assert second.figures.committed_events == 1
    finally:
        await second.stop()
        await first.stop()
    ids = await query(migrated_database, "SELECT platform_event_id FROM events ORDER BY 1")
    assert ids == [("a1",), ("b1",)]


async def test_ingest_after_stop_is_refused(migrated_database: str, tmp_path: Path) -> None:
    pipeline = Pipeline(migrated_database, settings(tmp_path), DatabaseSettings())
    with pytest.raises(PipelineStopped):
        await pipeline.ingest(message("late"))


async def test_the_queue_applies_back_pressure(migrated_database: str, tmp_path: Path) -> None:
    pipeline = Pipeline(
        migrated_database, settings(tmp_path, queue_size=5, batch_size=5), DatabaseSettings()
    )
    await pipeline.start()
    try:
        # Another session holds the event lake: the writer's first batch waits on it.
        async with await psycopg.AsyncConnection.connect(migrated_database) as blocker:
            await blocker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            # The queue, the batch stuck committing and the next one prepared meanwhile.
            for i in range(5 + 5 + 5):
                await asyncio.wait_for(pipeline.ingest(message(f"q{i}", at=T0 + i)), 5)
            blocked = asyncio.ensure_future(pipeline.ingest(message("over", at=T0 + 99)))
            await asyncio.sleep(0.3)
            assert not blocked.done()
            await blocker.rollback()
        await asyncio.wait_for(blocked, 10)
        await pipeline.flush()
        assert pipeline.figures.committed_events == 16
    finally:
        await pipeline.stop()


async def test_ingest_many_waits_for_room_and_keeps_the_order(
    migrated_database: str, tmp_path: Path
) -> None:
    events = random_events(5, 60)
    pipeline = Pipeline(
        migrated_database, settings(tmp_path, queue_size=5, batch_size=5), DatabaseSettings()
    )
    await pipeline.start()
    try:
        # Another session holds the event lake: the writer's first batch waits on it, and
        # with it the queue, so one call for all 60 events must wait for room.
        async with await psycopg.AsyncConnection.connect(migrated_database) as blocker:
            await blocker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            taking = asyncio.ensure_future(pipeline.ingest_many(iter(events)))
            await asyncio.sleep(0.3)
            assert not taking.done()
            assert pipeline.queued == 5
            await blocker.rollback()
        await asyncio.wait_for(taking, 10)
        await pipeline.flush()
        assert pipeline.figures.committed_events == len(events)
    finally:
        await pipeline.stop()
    # In the order given: the same results as the rules applied one event at a time.
    await assert_rules_applied(migrated_database, events)


async def test_ingest_many_equals_ingest_one_by_one(
    pipeline: Pipeline, migrated_database: str
) -> None:
    events = random_events(9, 300)
    await pipeline.ingest_many(events[:120])
    await pipeline.ingest_many([])
    await pipeline.ingest_many(events[120:])
    await pipeline.flush()
    assert pipeline.figures.committed_events == len(events)
    await assert_rules_applied(migrated_database, events)


async def test_ingest_many_after_stop_is_refused(migrated_database: str, tmp_path: Path) -> None:
    pipeline = Pipeline(migrated_database, settings(tmp_path), DatabaseSettings())
    with pytest.raises(PipelineStopped):
        await pipeline.ingest_many([message("late")])
    await pipeline.start()
    await pipeline.stop()
    with pytest.raises(PipelineStopped):
        await pipeline.ingest_many([message("later")])


def test_event_kinds_cover_the_fixture_streams() -> None:
    kinds = {event.kind for event in random_events(1, 300)}
    assert {EventKind.MESSAGE, EventKind.REACTION_ADDED, EventKind.VOICE_SEGMENT} <= kinds


async def test_what_the_writer_derives_reconciles_without_drift(
    migrated_database: str, tmp_path: Path
) -> None:
    spec = SimulationSpec(communities=2, line_communities=1, members=120, seed=8)
    simulator = Simulator(spec)
    install_communities(migrated_database, simulator)
    async with Pipeline(migrated_database, settings(tmp_path), DatabaseSettings()) as pipeline:
        await feed(pipeline, simulator.take(4_000))
    engine = create_db_engine(migrated_database, DatabaseSettings())
    try:
        async with engine.connect() as conn:
            for (community_id,) in await query(migrated_database, "SELECT id FROM communities"):
                async with conn.begin():
                    report = await reconcile(conn, community_id, correct=False)
                assert not report.has_drift, (report.counters, report.balances)
    finally:
        await engine.dispose()


async def test_redeliveries_between_overlapping_batches_are_recomputed(
    migrated_database: str, tmp_path: Path
) -> None:
    # Small batches, so a batch the lake refuses in part is followed by one already
    # computed on its (now discarded) states.
    events = random_events(21, 240)
    small = settings(tmp_path, batch_size=20, linger_ms=0)
    async with Pipeline(migrated_database, small, DatabaseSettings()) as pipeline:
        await feed(pipeline, events[:120])
        mixed = [
            event for pair in zip(events[60:120], events[120:180], strict=True) for event in pair
        ]
        await feed(pipeline, mixed + events[180:])
        assert pipeline.figures.duplicates == 60
    (count,) = (await query(migrated_database, "SELECT count(*) FROM events"))[0]
    assert count == len(events)
    order = events[:120] + [e for e in mixed if e not in events[60:120]] + events[180:]
    await assert_rules_applied(migrated_database, order)
