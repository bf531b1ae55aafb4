"""Reconciliation against a real PostgreSQL: the ledger and the event lake are the truth.

Test data follows the writer's contract and is inserted with plain SQL; `World` keeps its
own tally of what balances, counters and states must be, independently of the SQL under
test, and writes the derived tables from that tally.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from townsquare.config.settings import DatabaseSettings
from townsquare.core import Balances, Counter, MemberState
from townsquare.errors import DatabaseUnavailable
from townsquare.pipeline.reconcile import (
    Amounts,
    BalanceDrift,
    CommunityNotLocked,
    CounterDrift,
    DriftReport,
    holds_community_lock,
    reconcile,
    try_lock_community,
)
from townsquare.pipeline.state_codec import FORMAT, decode_state, encode_state
from townsquare.store import migrate
from townsquare.store.engine import create_db_engine, create_sync_engine
from townsquare.store.locks import community_lock_key

FIRST_DAY = date(2026, 1, 1)
CURRENCIES = ("xp", "stars", "gold")
# Per member: the [lifetime, season, day] slots the tests give every counter in the state.
SEASON_SLOT, DAY_SLOT = 7, 2


@dataclass
class World:
    """One community's activity, and the derived state it must produce."""

    conn: AsyncConnection
    community_id: int
    members: list[int]
    counters: collections.Counter[tuple[int, str]] = field(default_factory=collections.Counter)
    balances: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    events: int = 0

    async def activity(self, day: date, *, rounds: int = 1) -> None:
        """Messages, reactions and an un-reaction by every member on ``day``, with ledger rows.

        Season "s1" covers the first 20 days after FIRST_DAY, "s2" the rest. Stars a member
        receives count for the lifetime but, as if capped, only half for the season.
        """
        season = "s1" if (day - FIRST_DAY).days < 20 else "s2"
        events: list[dict[str, Any]] = []
        ledger: list[dict[str, Any]] = []
        for n in range(rounds):
            for i, member in enumerate(self.members):
                other = self.members[(i + 1) % len(self.members)]
                at = datetime(day.year, day.month, day.day, 1 + i % 20, n % 60, tzinfo=UTC)
                triples: list[list[Any]] = [[member, "messages", 1]]
                if i % 2 == 0:
                    triples += [[member, "reactions_given", 1], [other, "reactions_received", 1]]
                if i % 5 == 0 and n == 0:
                    triples += [
                        [member, "reactions_given", -1],
                        [other, "reactions_received", -1],
                    ]
                key = f"{day.isoformat()}-{n}-{member}"
                events.append(self._event(at, key, member, other, triples))
                ledger.append(self._ledger(at, member, "xp", 10 + i, season, 10 + i))
                if i % 2 == 0:
                    ledger.append(self._ledger(at, other, "stars", 2, season, 1))
                    ledger.append(self._ledger(at, member, "gold", -1, None, 0))
        await self.conn.execute(
            text(
                "INSERT INTO events (community_id, occurred_at, platform, platform_event_id, "
                "kind, member_id, target_member_id, status, outcome) VALUES (:c, :at, "
                "'discord', :key, 'message', :member, :other, 'rewarded', CAST(:outcome AS jsonb))"
            ),
            events,
        )
        await self.conn.execute(
            text(
                "INSERT INTO ledger_entries (community_id, member_id, xp, stars, gold, season, "
                "season_xp, season_stars, season_gold, reason, occurred_at) VALUES (:c, "
                ":member, :xp, :stars, :gold, :season, :season_xp, :season_stars, "
                ":season_gold, 'activity', :at)"
            ),
            ledger,
        )

    def _event(
        self, at: datetime, key: str, member: int, other: int, triples: list[list[Any]]
    ) -> dict[str, Any]:
        self.events += 1
        for member_id, name, delta in triples:
            self.counters[member_id, name] += delta
        return {
            "c": self.community_id,
            "at": at,
            "key": key,
            "member": member,
            "other": other,
            "outcome": json.dumps({"counters": triples, "xp": 10}),
        }

    def _ledger(
        self,
        at: datetime,
        member: int,
        currency: str,
        delta: int,
        season: str | None,
        season_delta: int,
    ) -> dict[str, Any]:
        slot = CURRENCIES.index(currency)
        self.balances.setdefault((member, ""), [0, 0, 0])[slot] += delta
        if season is not None:
            self.balances.setdefault((member, season), [0, 0, 0])[slot] += season_delta
        row: dict[str, Any] = {"c": self.community_id, "member": member, "season": season}
        row["at"] = at
        for name in CURRENCIES:
            row[name] = delta if name == currency else 0
            row[f"season_{name}"] = season_delta if name == currency else 0
        return row

    async def rollup(self, member: int, name: str, value: int) -> None:
        """Counts of events that retention already dropped."""
        self.counters[member, name] += value
        await self.conn.execute(
            text(
                "INSERT INTO counter_rollups (community_id, member_id, name, value) "
                "VALUES (:c, :m, :n, :v)"
            ),
            {"c": self.community_id, "m": member, "n": name, "v": value},
        )

    def state(self, member: int) -> MemberState:
        lifetime = self.balances.get((member, ""), [0, 0, 0])
        return MemberState(
            member_id=str(member),
            level=3,
            lifetime=Balances(*lifetime),
            counters={
                Counter(name): (value, SEASON_SLOT, DAY_SLOT)
                for (member_id, name), value in sorted(self.counters.items())
                if member_id == member
            },
            achievements=frozenset({"first-message"}),
        )

    async def write_derived(self) -> None:
        """Balances, lifetime counters and member states exactly as the truth says."""
        await self.conn.execute(
            text(
                "INSERT INTO balances (community_id, season, member_id, xp, stars, gold, level) "
                "VALUES (:c, :season, :m, :xp, :stars, :gold, 3)"
            ),
            [
                {"c": self.community_id, "season": season, "m": member, "xp": v[0]}
                | {"stars": v[1], "gold": v[2]}
                for (member, season), v in self.balances.items()
            ],
        )
        await self.conn.execute(
            text(
                "INSERT INTO counters (community_id, member_id, period, period_key, name, value) "
                "VALUES (:c, :m, 'lifetime', '', :n, :v)"
            ),
            [
                {"c": self.community_id, "m": member, "n": name, "v": value}
                for (member, name), value in self.counters.items()
            ],
        )
        await self.conn.execute(
            text(
                "INSERT INTO member_states (community_id, member_id, state, format) "
                "VALUES (:c, :m, CAST(:state AS json), :format)"
            ),
            [
                {
                    "c": self.community_id,
                    "m": member,
                    "state": json.dumps(encode_state(self.state(member))),
                    "format": FORMAT,
                }
                for member in self.members
            ],
        )

    async def stored_counters(self) -> dict[tuple[int, str], int]:
        rows = await self.conn.execute(
            text(
                "SELECT member_id, name, value FROM counters WHERE community_id = :c "
                "AND period = 'lifetime' AND value <> 0"
            ),
            {"c": self.community_id},
        )
        return {(row[0], row[1]): row[2] for row in rows}

    async def stored_state(self, member: int) -> dict[str, Any]:
        state = await self.conn.scalar(
            text("SELECT state FROM member_states WHERE community_id = :c AND member_id = :m"),
            {"c": self.community_id, "m": member},
        )
        assert isinstance(state, dict)
        return state


async def build_world(
    conn: AsyncConnection, *, slug: str = "plaza", members: int = 6, days: Iterable[date] = ()
) -> World:
    community_id = await conn.scalar(
        text("INSERT INTO communities (slug, name) VALUES (:s, :s) RETURNING id"), {"s": slug}
    )
    assert isinstance(community_id, int)
    ids = (
        await conn.execute(
            text(
                "INSERT INTO members (community_id, display_name) "
                "SELECT :c, 'member ' || n FROM generate_series(1, :n) n RETURNING id"
            ),
            {"c": community_id, "n": members},
        )
    ).scalars()
    world = World(conn, community_id, sorted(ids))
    for day in days:
        await world.activity(day)
    return world


async def _execute(conn: AsyncConnection, sql: str, **params: Any) -> None:
    await conn.execute(text(sql), params)


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose transaction is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
async def world(conn: AsyncConnection) -> World:
    world = await build_world(conn, days=[FIRST_DAY + timedelta(days=n) for n in range(0, 30, 3)])
    await world.rollup(world.members[0], "messages", 40)
    await world.rollup(world.members[1], "voice_minutes", 90)
    await world.write_derived()
    return world


def _clean(report: DriftReport) -> None:
    assert report.total == 0, report
    assert not report.has_drift


async def test_consistent_data_has_no_drift(world: World) -> None:
    assert world.events == 60
    assert len({season for _member, season in world.balances}) == 3
    _clean(await reconcile(world.conn, world.community_id, correct=False))


async def test_other_communities_do_not_count(world: World, conn: AsyncConnection) -> None:
    other = await build_world(conn, slug="harbour", days=[FIRST_DAY])
    await other.write_derived()
    await _execute(conn, "UPDATE balances SET xp = 0 WHERE community_id = :c", c=other.community_id)
    _clean(await reconcile(conn, world.community_id, correct=False))
    assert (await reconcile(conn, other.community_id, correct=False)).balances.count > 0


async def test_tampered_balance_is_reported_with_expected_and_actual(world: World) -> None:
    member = world.members[2]
    xp, stars, gold = world.balances[member, ""]
    await _execute(
        world.conn,
        "UPDATE balances SET xp = xp + 5 WHERE community_id = :c AND member_id = :m "
        "AND season = ''",
        c=world.community_id,
        m=member,
    )
    report = await reconcile(world.conn, world.community_id, correct=False)
    assert report.balances.count == 1
    assert report.balances.examples == (
        BalanceDrift(member, "", Amounts(xp, stars, gold), Amounts(xp + 5, stars, gold)),
    )
    assert report.total == 1
    assert not report.corrected
    # A report alone changes nothing.
    assert report == await reconcile(world.conn, world.community_id, correct=False)


async def test_season_balances_come_from_season_deltas(world: World) -> None:
    member = world.members[1]
    s1 = world.balances[member, "s1"]
    lifetime = world.balances[member, ""]
    # Stars were received at half the season rate: the season is not the lifetime.
    assert s1[1] * 2 < lifetime[1]
    await _execute(
        world.conn,
        "UPDATE balances SET stars = :stars WHERE community_id = :c AND member_id = :m "
        "AND season = 's1'",
        c=world.community_id,
        m=member,
        stars=lifetime[1],
    )
    # A season no ledger entry mentions, with a balance: drift towards zero.
    await _execute(
        world.conn,
        "INSERT INTO balances (community_id, season, member_id, gold) VALUES (:c, 's0', :m, 4)",
        c=world.community_id,
        m=member,
    )
    report = await reconcile(world.conn, world.community_id, correct=False)
    assert report.balances.examples == (
        BalanceDrift(member, "s0", Amounts(0, 0, 0), Amounts(0, 0, 4)),
        BalanceDrift(member, "s1", Amounts(*s1), Amounts(s1[0], lifetime[1], s1[2])),
    )
    assert await try_lock_community(world.conn, world.community_id)
    assert (await reconcile(world.conn, world.community_id, correct=True)).balances.count == 2
    _clean(await reconcile(world.conn, world.community_id, correct=False))


async def test_correction_fixes_balances_and_keeps_levels(world: World) -> None:
    first, second = world.members[0], world.members[3]
    await _execute(
        world.conn,
        "UPDATE balances SET gold = gold - 7, stars = 0 WHERE community_id = :c AND member_id = :m",
        c=world.community_id,
        m=first,
    )
    await _execute(
        world.conn,
        "DELETE FROM balances WHERE community_id = :c AND member_id = :m AND season = ''",
        c=world.community_id,
        m=second,
    )
    assert await try_lock_community(world.conn, world.community_id)
    report = await reconcile(world.conn, world.community_id, correct=True, examples=2)
    assert report.corrected
    assert report.balances.count == 4  # first: lifetime, s1, s2; second: lifetime
    assert len(report.balances.examples) == 2
    _clean(await reconcile(world.conn, world.community_id, correct=False))
    rows = await world.conn.execute(
        text(
            "SELECT member_id, season, xp, stars, gold, level FROM balances "
            "WHERE community_id = :c AND member_id IN (:a, :b)"
        ),
        {"c": world.community_id, "a": first, "b": second},
    )
    stored = {(row[0], row[1]): (list(row[2:5]), row[5]) for row in rows}
    assert stored[first, ""] == (world.balances[first, ""], 3)
    assert stored[first, "s2"] == (world.balances[first, "s2"], 3)
    # The recreated row has the right amounts; its level is the writer's business.
    assert stored[second, ""] == (world.balances[second, ""], 0)


async def test_tampered_counters_are_detected_and_corrected(world: World) -> None:
    a, b, c = world.members[0], world.members[3], world.members[5]
    assert world.counters[b, "reactions_received"] > 0
    await _execute(
        world.conn,
        "UPDATE counters SET value = value - 3 WHERE community_id = :c AND member_id = :m "
        "AND name = 'messages'",
        c=world.community_id,
        m=a,
    )
    await _execute(
        world.conn,
        "DELETE FROM counters WHERE community_id = :c AND member_id = :m "
        "AND name = 'reactions_received'",
        c=world.community_id,
        m=b,
    )
    await _execute(
        world.conn,
        "INSERT INTO counters (community_id, member_id, period, period_key, name, value) "
        "VALUES (:c, :m, 'lifetime', '', 'follows', 2)",
        c=world.community_id,
        m=c,
    )
    report = await reconcile(world.conn, world.community_id, correct=False)
    assert report.counters.examples == (
        CounterDrift(
            a, "messages", world.counters[a, "messages"], world.counters[a, "messages"] - 3
        ),
        CounterDrift(b, "reactions_received", world.counters[b, "reactions_received"], 0),
        CounterDrift(c, "follows", 0, 2),
    )
    assert report.balances.count == 0
    assert await try_lock_community(world.conn, world.community_id)
    await reconcile(world.conn, world.community_id, correct=True)
    _clean(await reconcile(world.conn, world.community_id, correct=False))
    expected = {key: value for key, value in world.counters.items() if value != 0}
    assert await world.stored_counters() == expected


async def test_rollups_count_towards_lifetime_counters(world: World) -> None:
    member = world.members[1]
    # Lake-only counts (as if the rollup were forgotten) are drift of exactly the rollup.
    await _execute(
        world.conn,
        "DELETE FROM counter_rollups WHERE community_id = :c AND member_id = :m",
        c=world.community_id,
        m=member,
    )
    report = await reconcile(world.conn, world.community_id, correct=False)
    assert report.counters.examples == (CounterDrift(member, "voice_minutes", 0, 90),)
    assert report.state_counters.examples == (CounterDrift(member, "voice_minutes", 0, 90),)


async def test_tampered_member_state_is_detected_and_corrected(world: World) -> None:
    a, b = world.members[0], world.members[4]
    assert world.counters[b, "reactions_given"] > 0
    xp, stars, gold = world.balances[a, ""]
    messages = world.counters[b, "messages"]
    await _execute(
        world.conn,
        "UPDATE member_states SET state = jsonb_set(state::jsonb, '{b,0}', '1')::json "
        "WHERE community_id = :c AND member_id = :m",
        c=world.community_id,
        m=a,
    )
    await _execute(
        world.conn,
        "UPDATE member_states SET state = jsonb_set(state::jsonb #- '{c,reactions_given}', "
        "'{c,messages,0}', '0')::json WHERE community_id = :c AND member_id = :m",
        c=world.community_id,
        m=b,
    )
    report = await reconcile(world.conn, world.community_id, correct=False)
    assert report.state_balances.examples == (
        BalanceDrift(a, "", Amounts(xp, stars, gold), Amounts(1, stars, gold)),
    )
    assert report.state_counters.examples == (
        CounterDrift(b, "messages", messages, 0),
        CounterDrift(b, "reactions_given", world.counters[b, "reactions_given"], 0),
    )
    assert report.balances.count == report.counters.count == 0

    assert await try_lock_community(world.conn, world.community_id)
    await reconcile(world.conn, world.community_id, correct=True)
    _clean(await reconcile(world.conn, world.community_id, correct=False))
    for member in (a, b):
        document = await world.stored_state(member)
        # The document still decodes; everything but the lifetime parts is untouched.
        state = decode_state(str(member), document)
        assert state.lifetime == Balances(*world.balances[member, ""])
        assert state.level == 3
        assert state.achievements == frozenset({"first-message"})
    b_state = decode_state(str(b), await world.stored_state(b))
    assert b_state.counters[Counter.MESSAGES] == (messages, SEASON_SLOT, DAY_SLOT)
    # The removed entry comes back with its lifetime count (its other windows unknown: 0).
    assert b_state.counters[Counter.REACTIONS_GIVEN] == (
        world.counters[b, "reactions_given"],
        0,
        0,
    )


async def test_unknown_counter_names_are_never_written_into_states(world: World) -> None:
    member = world.members[0]
    await world.rollup(member, "not_a_counter", 5)
    await _execute(
        world.conn,
        "INSERT INTO counters (community_id, member_id, period, period_key, name, value) "
        "VALUES (:c, :m, 'lifetime', '', 'not_a_counter', 5)",
        c=world.community_id,
        m=member,
    )
    _clean(await reconcile(world.conn, world.community_id, correct=False))
    assert "not_a_counter" not in (await world.stored_state(member))["c"]


async def test_correcting_without_the_community_lock_is_refused(world: World) -> None:
    await _execute(
        world.conn, "UPDATE balances SET xp = xp + 1 WHERE community_id = :c", c=world.community_id
    )
    with pytest.raises(CommunityNotLocked, match="try_lock_community"):
        await reconcile(world.conn, world.community_id, correct=True)
    assert not await holds_community_lock(world.conn, world.community_id)
    assert await try_lock_community(world.conn, world.community_id)
    assert await holds_community_lock(world.conn, world.community_id)
    assert not await holds_community_lock(world.conn, world.community_id + 1)


async def test_the_community_lock_is_refused_while_a_writer_holds_it(
    engine: AsyncEngine, conn: AsyncConnection
) -> None:
    async with engine.connect() as writer:
        await writer.execute(
            text("SELECT pg_advisory_lock(:key)"), {"key": community_lock_key(4242)}
        )
        try:
            assert await holds_community_lock(writer, 4242)
            assert not await try_lock_community(conn, 4242)
            assert await try_lock_community(conn, 4243)
        finally:
            await writer.execute(text("SELECT pg_advisory_unlock_all()"))
            await writer.commit()
    assert await try_lock_community(conn, 4242)


def test_lock_keys_live_in_their_own_namespace() -> None:
    assert community_lock_key(1) == (0x5453 << 48) | 1
    assert community_lock_key(2**48 - 1) < 2**63
    with pytest.raises(ValueError, match="advisory lock key"):
        community_lock_key(2**48)
    with pytest.raises(ValueError, match="advisory lock key"):
        community_lock_key(-1)


# --- An outage in the middle of a correction ---------------------------------------------


@pytest.fixture
async def own_engine(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    sync_engine = create_sync_engine(fresh_database, DatabaseSettings())
    try:
        migrate.upgrade(sync_engine)
    finally:
        sync_engine.dispose()
    engine = create_db_engine(fresh_database, DatabaseSettings(pool_size=3))
    yield engine
    await engine.dispose()


async def test_an_outage_mid_correction_is_a_typed_error_and_corrects_nothing(
    own_engine: AsyncEngine,
) -> None:
    async with own_engine.begin() as setup:
        world = await build_world(setup, days=[FIRST_DAY, FIRST_DAY + timedelta(days=1)])
        await world.write_derived()
        await _execute(
            setup, "UPDATE balances SET xp = 0 WHERE community_id = :c", c=world.community_id
        )
        await _execute(setup, "UPDATE member_states SET state = (state::jsonb - 'b')::json")

    async with own_engine.connect() as blocker, own_engine.connect() as victim:
        pid = await victim.scalar(text("SELECT pg_backend_pid()"))
        await victim.commit()
        # Readers pass, writers of member_states wait: reconcile gets as far as correcting
        # the balances and counters, then waits to correct the states.
        await blocker.execute(text("LOCK TABLE member_states IN EXCLUSIVE MODE"))

        async def correct() -> DriftReport:
            async with victim.begin():
                assert await try_lock_community(victim, world.community_id)
                return await reconcile(victim, world.community_id, correct=True)

        running = asyncio.create_task(correct())
        for _ in range(500):
            waiting = await own_engine.connect()
            try:
                query = await waiting.scalar(
                    text(
                        "SELECT query FROM pg_stat_activity WHERE pid = :pid "
                        "AND wait_event_type = 'Lock'"
                    ),
                    {"pid": pid},
                )
            finally:
                await waiting.close()
            if query is not None:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("reconcile never reached the member_states correction")
        assert "UPDATE member_states" in query
        await blocker.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DatabaseUnavailable, match="Cannot use PostgreSQL"):
            await asyncio.wait_for(running, timeout=10)
        await blocker.rollback()

    async with own_engine.connect() as check:
        xp = await check.scalar(text("SELECT sum(xp) FROM balances WHERE season = ''"))
        assert xp == 0
        report = await reconcile(check, world.community_id, correct=False)
    assert report.balances.count > 0
    assert report.state_balances.count == len(world.members)
