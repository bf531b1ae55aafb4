"""Conversation sessions against a real PostgreSQL: creation, persistence, per-user
serialization, optimistic versions, idle expiry and purging."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.services.factories import make_plaza
from townsquare.config.settings import DatabaseSettings
from townsquare.core.kinds import Platform
from townsquare.services.conversations import (
    ANY,
    Command,
    Context,
    Machine,
    On,
    Outcome,
    Reaction,
    ReplyLog,
    Router,
    SessionConflict,
    SessionKey,
    TextMessage,
    Transition,
    forget_session,
    handle,
    open_session,
    purge_expired,
    save_session,
)
from townsquare.store.engine import create_db_engine, create_session_factory
from townsquare.store.models import ConversationSession as SessionTable

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


class S(StrEnum):
    IDLE = "idle"
    AWAITING_TOPIC = "awaiting_topic"
    SHEET_READY = "sheet_ready"


class Notes(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    owner: str | None = None
    last_text: str | None = None
    count: int = 0
    topic: str | None = None


MACHINE = Machine(
    states=S,
    data_model=Notes,
    transitions=[
        Transition(S.IDLE, On.command("sheet"), S.AWAITING_TOPIC),
        Transition(S.AWAITING_TOPIC, On.outcome("sheet_generated"), S.SHEET_READY),
    ],
)


@dataclass
class Gate:
    """Holds the first text handler inside until opened; records the count each one saw."""

    seen: list[int] = field(default_factory=list)
    first_inside: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def enter(self, count: int) -> None:
        self.seen.append(count)
        if len(self.seen) == 1:
            self.first_inside.set()
            await self.opened.wait()


def make_router(gate: Gate | None = None) -> Router[Notes]:
    """A flow that counts text messages and turns a topic into a sheet."""

    async def fallback(ctx: Context[Notes]) -> None:
        await ctx.say("Here are your options.")

    async def timed_out(ctx: Context[Notes]) -> None:
        await ctx.say("Your previous session timed out.")

    router = Router(MACHINE, fallback=fallback, on_expiry=timed_out)

    @router.on(ANY, On.text)
    async def note(ctx: Context[Notes]) -> Reaction[Notes]:
        assert isinstance(ctx.trigger, TextMessage)
        if gate is not None:
            await gate.enter(ctx.session.data.count)
        await ctx.say(f"noted for {ctx.session.user_key}: {ctx.trigger.text}")
        data = ctx.session.data.model_copy(
            update={
                "owner": ctx.session.user_key,
                "last_text": ctx.trigger.text,
                "count": ctx.session.data.count + 1,
            }
        )
        return Reaction(data=data)

    @router.on(S.AWAITING_TOPIC, On.text)
    async def generate(ctx: Context[Notes]) -> Reaction[Notes]:
        assert isinstance(ctx.trigger, TextMessage)
        await ctx.say("Here is your sheet.")
        data = ctx.session.data.model_copy(update={"topic": ctx.trigger.text})
        return Reaction(data=data, fire=Outcome("sheet_generated"))

    return router


ROUTER = make_router()


def key_of(community_id: int, user: str) -> SessionKey:
    return SessionKey(community_id=community_id, platform=Platform.LINE, user_key=user)


async def stored(db: AsyncSession, key: SessionKey) -> tuple[str, dict[str, object], int]:
    row = (
        await db.execute(
            select(SessionTable.state, SessionTable.data, SessionTable.version).where(
                SessionTable.community_id == key.community_id,
                SessionTable.user_key == key.user_key,
            )
        )
    ).one()
    return row.state, row.data, row.version


# --- One transaction, rolled back ----------------------------------------------------------


async def test_a_first_message_creates_the_session_in_the_initial_state(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session, members=("alice",))
    key = key_of(plaza.community_id, "U-alice")
    replies = ReplyLog()

    turn = await handle(
        session,
        key,
        Command("rank"),
        ROUTER,
        replies,
        now=NOW,
        member_id=plaza.members["alice"],
    )

    assert turn.session.state == S.IDLE
    assert not turn.handled
    assert replies.texts == ["Here are your options."]
    assert turn.session.member_id == plaza.members["alice"]
    assert turn.session.version == 2  # created at 1, saved once
    assert turn.session.expires_at == NOW + DAY
    assert await stored(session, key) == ("idle", Notes().model_dump(mode="json"), 2)


async def test_transitions_and_data_persist_between_messages(session: AsyncSession) -> None:
    plaza = await make_plaza(session, members=())
    key = key_of(plaza.community_id, "U-bob")

    await handle(session, key, Command("sheet"), ROUTER, ReplyLog(), now=NOW)
    replies = ReplyLog()
    turn = await handle(
        session, key, TextMessage("asthma"), ROUTER, replies, now=NOW + timedelta(minutes=5)
    )

    assert turn.session.state == S.SHEET_READY
    assert [step.target for step in turn.steps] == [S.SHEET_READY]
    assert replies.texts == ["Here is your sheet."]
    state, data, version = await stored(session, key)
    assert (state, data["topic"], version) == ("sheet_ready", "asthma", 3)
    reloaded = await open_session(session, key, MACHINE, now=NOW + timedelta(minutes=6))
    assert reloaded.data == Notes(topic="asthma")
    assert reloaded.expires_at == NOW + timedelta(minutes=5) + DAY


async def test_saving_a_stale_version_raises_a_conflict(session: AsyncSession) -> None:
    plaza = await make_plaza(session, members=())
    key = key_of(plaza.community_id, "U-carol")
    read = await open_session(session, key, MACHINE, now=NOW)
    await save_session(session, read, now=NOW)

    with pytest.raises(SessionConflict, match="changed since version 1"):
        await save_session(session, read.model_copy(update={"state": S.AWAITING_TOPIC}), now=NOW)
    assert (await stored(session, key))[0] == "idle"


async def test_an_expired_session_times_out_then_handles_the_message_afresh(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session, members=())
    key = key_of(plaza.community_id, "U-dave")
    await handle(session, key, Command("sheet"), ROUTER, ReplyLog(), now=NOW)
    replies = ReplyLog()

    later = NOW + DAY  # expired at expires_at itself
    turn = await handle(session, key, TextMessage("hello again"), ROUTER, replies, now=later)

    assert turn.expired
    assert [(step.trigger, step.target) for step in turn.steps] == [("timeout", S.IDLE)]
    assert replies.texts == ["Your previous session timed out.", "noted for U-dave: hello again"]
    assert turn.session.state == S.IDLE
    assert turn.session.data == Notes(owner="U-dave", last_text="hello again", count=1)
    assert turn.session.expires_at == later + DAY


async def test_a_session_used_within_its_idle_timeout_does_not_expire(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session, members=())
    key = key_of(plaza.community_id, "U-erin")
    await handle(session, key, Command("sheet"), ROUTER, ReplyLog(), now=NOW)

    turn = await handle(
        session, key, TextMessage("flu"), ROUTER, ReplyLog(), now=NOW + DAY - timedelta(seconds=1)
    )

    assert not turn.expired
    assert turn.session.state == S.SHEET_READY


async def test_a_stored_state_or_data_the_flow_no_longer_knows_starts_afresh(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session, members=())
    unknown_state, bad_data = key_of(plaza.community_id, "U-f"), key_of(plaza.community_id, "U-g")
    for key in (unknown_state, bad_data):
        await handle(session, key, Command("sheet"), ROUTER, ReplyLog(), now=NOW)
    await session.execute(
        update(SessionTable)
        .where(SessionTable.user_key == "U-f")
        .values(state="renamed_state")
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(SessionTable)
        .where(SessionTable.user_key == "U-g")
        .values(data={"count": "many", "legacy_flag": True})
        .execution_options(synchronize_session=False)
    )

    for key in (unknown_state, bad_data):
        reopened = await open_session(session, key, MACHINE, now=NOW)
        assert (reopened.state, reopened.data) == (S.IDLE, Notes())


async def test_purge_expired_removes_only_expired_sessions(session: AsyncSession) -> None:
    plaza = await make_plaza(session, members=())
    ages = {"U-old": DAY * 3, "U-just": DAY, "U-fresh": timedelta(hours=1), "U-new": timedelta(0)}
    for user, age in ages.items():
        await handle(
            session,
            key_of(plaza.community_id, user),
            TextMessage("x"),
            ROUTER,
            ReplyLog(),
            now=NOW - age,
        )

    purged = await purge_expired(session, NOW)

    left = set(
        (
            await session.scalars(
                select(SessionTable.user_key).where(SessionTable.community_id == plaza.community_id)
            )
        ).all()
    )
    assert purged == 2
    assert left == {"U-fresh", "U-new"}


async def test_forgetting_a_user_deletes_their_session(session: AsyncSession) -> None:
    plaza = await make_plaza(session, members=())
    key = key_of(plaza.community_id, "U-h")
    await handle(session, key, TextMessage("x"), ROUTER, ReplyLog(), now=NOW)

    assert await forget_session(session, key)
    assert not await forget_session(session, key)


# --- Committed, concurrent ------------------------------------------------------------------


@pytest.fixture
async def sessions(migrated_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_db_engine(migrated_database, DatabaseSettings(pool_size=20, max_overflow=0))
    yield create_session_factory(engine)
    await engine.dispose()


async def new_community(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as db, db.begin():
        return (await make_plaza(db, channels=(), members=())).community_id


@pytest.mark.parametrize("existing", [False, True], ids=["first-message", "existing-session"])
async def test_two_workers_for_one_user_take_turns_and_lose_no_update(
    sessions: async_sessionmaker[AsyncSession], existing: bool
) -> None:
    key = key_of(await new_community(sessions), "U-same")
    if existing:
        async with sessions() as db, db.begin():
            await open_session(db, key, MACHINE, now=NOW)
    gate = Gate()
    router = make_router(gate)

    async def worker(text: str) -> int:
        async with sessions() as db, db.begin():
            turn = await handle(db, key, TextMessage(text), router, ReplyLog(), now=NOW)
            return turn.session.version

    first = asyncio.create_task(worker("one"))
    await gate.first_inside.wait()
    second = asyncio.create_task(worker("two"))
    await asyncio.sleep(0.3)
    assert gate.seen == [0]  # the second worker waits on the first one's row lock
    assert not second.done()
    async with sessions() as db, db.begin():  # while another user is not held up at all
        other = key_of(key.community_id, "U-other")
        await asyncio.wait_for(handle(db, other, TextMessage("hi"), ROUTER, ReplyLog(), now=NOW), 5)
    gate.opened.set()
    versions = await asyncio.gather(first, second)

    assert gate.seen == [0, 1]  # the second saw what the first saved
    assert versions[1] == versions[0] + 1
    async with sessions() as db:
        state, data, _ = await stored(db, key)
    assert (state, data["count"], data["last_text"]) == ("idle", 2, "two")


async def test_purging_skips_a_session_being_handled_instead_of_waiting(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    community_id = await new_community(sessions)
    busy, idle = key_of(community_id, "U-busy"), key_of(community_id, "U-idle")
    async with sessions() as db, db.begin():
        for key in (busy, idle):
            await open_session(db, key, MACHINE, now=NOW)

    async with sessions() as worker, worker.begin():
        await open_session(worker, busy, MACHINE, now=NOW + DAY)  # holds the row lock
        async with sessions() as job, job.begin():
            purged = await asyncio.wait_for(purge_expired(job, NOW + DAY * 2), 5)

    assert purged == 1
    async with sessions() as db:
        left = (await db.scalars(select(SessionTable.user_key))).all()
    assert left == ["U-busy"]


async def test_a_thousand_users_at_once_each_keep_their_own_session(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    community_id = await new_community(sessions)
    users = [f"U{n:04d}" for n in range(1000)]
    async with sessions() as db, db.begin():  # half of them are in the middle of a sheet
        await db.execute(
            insert(SessionTable),
            [
                {
                    "community_id": community_id,
                    "platform": "line",
                    "user_key": user,
                    "state": S.AWAITING_TOPIC.value,
                    "data": Notes().model_dump(mode="json"),
                    "expires_at": NOW + DAY,
                }
                for user in users[::2]
            ],
        )
    random.Random(7).shuffle(users)
    limit = asyncio.Semaphore(20)
    mixed_up: list[str] = []

    async def one(user: str) -> None:
        replies = ReplyLog()
        async with limit, sessions() as db, db.begin():
            await handle(
                db, key_of(community_id, user), TextMessage(f"{user}!"), ROUTER, replies, now=NOW
            )
        if replies.texts not in ([f"noted for {user}: {user}!"], ["Here is your sheet."]):
            mixed_up.append(user)

    await asyncio.gather(*(one(user) for user in users))

    assert mixed_up == []
    async with sessions() as db:
        rows = (
            await db.execute(
                select(
                    SessionTable.user_key,
                    SessionTable.state,
                    SessionTable.data,
                    SessionTable.version,
                ).where(SessionTable.community_id == community_id)
            )
        ).all()
    assert len(rows) == len(users)
    for row in rows:
        assert row.version == 2
        if row.state == S.SHEET_READY:  # was awaiting a topic: the text became its topic
            assert row.data == Notes(topic=f"{row.user_key}!").model_dump(mode="json")
        else:
            assert row.data["owner"] == row.user_key
            assert row.data["last_text"] == f"{row.user_key}!"
            assert row.data["count"] == 1
    assert sum(row.state == S.SHEET_READY for row in rows) == 500
