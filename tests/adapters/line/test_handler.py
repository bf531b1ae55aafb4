"""`LineEventHandler` end to end: LINE events in, XP in PostgreSQL, Flex cards out.

One world per module (`line_world`): the real handler, pipeline and database behind the
fake LINE. Each test uses users and groups of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from tests.adapters.line.line_world import LineWorld, database_copy, line_world
from townsquare.adapters.line import commands, linking
from townsquare.adapters.line.contract import PermanentFailure
from townsquare.adapters.line.handler import LineEventHandler
from townsquare.adapters.line.messages import utf16_length
from townsquare.adapters.line.metrics import LineCollector
from townsquare.adapters.line.retrying import MessagingApiUnavailable
from townsquare.config.settings import DatabaseSettings, Settings
from townsquare.fakes.line import validation, webhooks
from townsquare.fakes.line.ids import JSON
from townsquare.store.engine import create_db_engine

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def handler_database(postgres_server: str, migrated_template: str) -> Iterator[str]:
    yield from database_copy(postgres_server, migrated_template)


@pytest.fixture(scope="module")
async def world(
    handler_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LineWorld]:
    spool = tmp_path_factory.mktemp("line-handler") / "spool"
    async for built in line_world(handler_database, spool, loading_after=0.3):
        yield built


def flex_of(message: JSON) -> JSON:
    """A Flex message as LINE would accept it."""
    assert message["type"] == "flex"
    assert validation.messages_errors([message]) == []
    assert utf16_length(message["altText"]) <= 400
    return message


async def lake_kinds(world: LineWorld, user: str, community: int | None = None) -> list[str]:
    await world.pipeline.flush()
    member = await world.member_of(user, community)
    found = await world.scalar(
        "SELECT coalesce(array_agg(kind ORDER BY occurred_at, id), '{}') FROM events "
        "WHERE community_id = %s AND member_id = %s",
        community or world.account,
        member,
    )
    return list(found or [])


# --- engagement ---------------------------------------------------------------------------


async def test_a_text_and_a_sticker_earn_xp_through_the_pipeline(world: LineWorld) -> None:
    user = world.fake.add_user()
    group = world.add_group([user])
    community = world.community_of({"source": webhooks.group_source(group, user)})
    await world.text(user, "good morning everyone, the walk starts at nine", group=group)
    await world.handle(webhooks.sticker_message(webhooks.group_source(group, user), "446", "1988"))

    assert await world.xp(user, community) == 30  # 15 XP per message under the plain rules
    assert await lake_kinds(world, user, community) == ["message", "message"]
    metadata = await world.scalar(
        "SELECT metadata FROM events WHERE community_id = %s ORDER BY id DESC LIMIT 1", community
    )
    assert "good morning" not in str(metadata)  # the text went no further than the adapter


async def test_redelivered_event_earns_once(world: LineWorld) -> None:
    user = world.fake.add_user()
    event = webhooks.text_message(webhooks.user_source(user), "hello there", reply_token=None)
    await world.handle(event)
    await world.handle({**event, "deliveryContext": {"isRedelivery": True}})
    assert await world.xp(user) == 15


async def test_follow_welcomes_with_the_menu_and_pays_the_welcome(world: LineWorld) -> None:
    user = world.fake.add_user()
    token = world.fake.reply_token(user)
    await world.handle(webhooks.follow(webhooks.user_source(user), reply_token=token))
    [welcome] = world.answers(user)
    assert welcome["text"].startswith("Welcome!")
    labels = [item["action"]["label"] for item in welcome["quickReply"]["items"]]
    assert labels == ["Rank", "Leaderboard", "Profile", "Link Discord"]
    assert await lake_kinds(world, user) == ["follow"]


async def test_members_joining_a_group_each_get_an_event(world: LineWorld) -> None:
    first, second = world.fake.add_user(), world.fake.add_user()
    group = world.add_group([first, second])
    community = world.community_of({"source": webhooks.group_source(group)})
    await world.handle(webhooks.member_joined(webhooks.group_source(group), [first, second]))
    assert await lake_kinds(world, first, community) == ["member_joined"]
    assert await lake_kinds(world, second, community) == ["member_joined"]


async def test_standby_events_count_but_are_not_answered(world: LineWorld) -> None:
    user = world.fake.add_user()
    await world.handle(webhooks.text_message(webhooks.user_source(user), "rank", mode="standby"))
    await world.handle(webhooks.text_message(webhooks.user_source(user), "hi", mode="standby"))
    assert world.answers(user) == []
    assert await lake_kinds(world, user) == ["message"]  # the command earned nothing


async def test_unknown_and_unmodelled_event_types_are_skipped(world: LineWorld) -> None:
    source = webhooks.user_source(world.fake.add_user())
    skipped = world.handler.figures.skipped
    with capture_logs() as logs:
        await world.handle(webhooks.things_link(source, "t016560bc3fb1e42b9fe9293ca6e2db71"))
        await world.handle(webhooks.unknown_event("sparkle", source))
        await world.handle(webhooks.beacon(source, "d41d8cd98f"))
    assert world.handler.figures.skipped == skipped + 3
    assert [e["event_type"] for e in logs if e["event"] == "line_event_skipped"] == [
        "things",
        "sparkle",
        "beacon",
    ]


async def test_a_malformed_event_is_a_permanent_failure(world: LineWorld) -> None:
    event = webhooks.text_message(webhooks.user_source(world.fake.add_user()), "x")
    event["message"] = {"type": "text"}  # no id: LINE would never send this
    with pytest.raises(PermanentFailure):
        await world.handle(event)


# --- commands -------------------------------------------------------------------------------


async def test_rank_answers_with_the_rank_card_and_earns_nothing(world: LineWorld) -> None:
    user = world.fake.add_user(display_name="Alice")
    await world.text(user, "hello, happy to be here")
    await world.pipeline.flush()
    await world.text(user, "rank")

    [_help, card] = world.answers(user)
    wired = flex_of(card)
    assert wired["contents"]["type"] == "bubble"
    assert wired["altText"].startswith("Alice: level 0, 15 XP, rank #")
    assert await lake_kinds(world, user) == ["message"]
    name = await world.scalar(
        "SELECT display_name FROM members WHERE community_id = %s AND id = %s",
        world.account,
        await world.member_of(user),
    )
    assert name == "Alice"  # saved, so leaderboards show it


async def test_leaderboard_and_profile_answer_with_flex(world: LineWorld) -> None:
    user = world.fake.add_user(display_name="Bea")
    await world.text(user, "hi all")
    await world.pipeline.flush()
    await world.text(user, "/top")
    await world.text(user, "!me")
    board, profile = (flex_of(m) for m in world.answers(user)[1:])
    assert board["contents"]["type"] == "carousel"
    assert len(board["contents"]["contents"]) == 3
    assert board["altText"].startswith("XP leaderboard: 1. ")
    assert profile["contents"]["type"] == "bubble"
    assert profile["altText"].startswith("Bea: level 0, 15 XP")


async def test_rank_before_any_activity_explains_itself(world: LineWorld) -> None:
    user = world.fake.add_user()
    await world.text(user, "rank")
    [answer] = world.answers(user)
    assert answer["text"] == commands.NOT_YET


async def test_rich_menu_postback_answers_and_counts(world: LineWorld) -> None:
    user = world.fake.add_user()
    await world.text(user, "hello")
    await world.pipeline.flush()
    source = webhooks.user_source(user)
    token = world.fake.reply_token(user)
    await world.handle(webhooks.postback(source, "action=leaderboard", reply_token=token))
    assert world.answers(user)[-1]["type"] == "flex"
    assert await lake_kinds(world, user) == ["message", "postback"]


async def test_groups_answer_only_commands_addressed_to_the_bot(world: LineWorld) -> None:
    user = world.fake.add_user(display_name="Cho")
    group = world.add_group([user])
    community = world.community_of({"source": webhooks.group_source(group, user)})
    await world.text(user, "rank is a funny word", group=group)  # chat, not a command
    await world.pipeline.flush()
    assert world.answers(group) == []
    await world.text(user, "/rank", group=group)
    mention = webhooks.mentionee(0, 4, is_self=True)
    await world.text(user, "@bot profile", group=group, mentionees=[mention])
    rank, profile = (flex_of(m) for m in world.answers(group))
    assert rank["altText"].startswith("Cho: level 0, 15 XP")
    assert profile["contents"]["type"] == "bubble"
    assert await lake_kinds(world, user, community) == ["message"]


async def test_link_codes_are_refused_in_groups(world: LineWorld) -> None:
    user = world.fake.add_user()
    group = world.add_group([user])
    await world.text(user, "/link K7QD-M2XA", group=group)
    [answer] = world.answers(group)
    assert answer["text"] == linking.ONLY_ONE_TO_ONE


# --- replies that arrive ----------------------------------------------------------------------


async def test_expired_reply_token_is_answered_by_push(world: LineWorld) -> None:
    user = world.fake.add_user()
    token = world.fake.reply_token(user, ttl_seconds=0)
    await world.handle(webhooks.text_message(webhooks.user_source(user), "help", reply_token=token))
    assert world.fake.replies(to=user) == []
    [push] = world.fake.pushes(to=user)
    assert push.messages[0]["text"].startswith("Here is what I can do")
    assert push.retry_key is not None


async def test_failing_api_raises_for_the_inbox_and_saves_nothing(world: LineWorld) -> None:
    user = world.fake.add_user()
    event = webhooks.text_message(
        webhooks.user_source(user), "link", reply_token=world.fake.reply_token(user)
    )
    item = world.item(event)
    world.fake.fail("POST", "/v2/bot/message/reply", status=500, times=4)
    try:
        with capture_logs() as logs, pytest.raises(MessagingApiUnavailable):
            await world.handler(item)
    finally:
        world.fake.clear_faults()
    assert [e["status"] for e in logs if e["event"] == "line_api_failed"] == [500]
    assert await session_state(world, user) is None  # rolled back with the failed reply

    await world.handler(item)  # the inbox's retry
    [answer] = world.answers(user)
    assert answer["text"] == linking.ASK_FOR_CODE
    assert await session_state(world, user) == commands.AWAITING_CODE


async def test_rate_limited_reply_is_retried_after_retry_after(world: LineWorld) -> None:
    user = world.fake.add_user()
    world.fake.fail("POST", "/v2/bot/message/reply", status=429, retry_after=2)
    del world.waits[:]
    await world.text(user, "help")
    assert world.waits == [2.0]
    statuses = [c.status for c in world.fake.calls_to("POST", "/v2/bot/message/reply")]
    assert statuses[-2:] == [429, 200]
    assert len(world.answers(user)) == 1


async def test_a_slow_turn_shows_the_loading_animation(world: LineWorld) -> None:
    user = world.fake.add_user()
    await world.text(user, "hello")
    await world.pipeline.flush()
    world.fake.delay("GET", f"/v2/bot/profile/{user}", 0.8, times=1)  # a slow turn
    await world.text(user, "rank")
    assert world.answers(user)[-1]["type"] == "flex"
    [shown] = [
        c
        for c in world.fake.calls_to("POST", "/v2/bot/chat/loading/start")
        if c.json["chatId"] == user
    ]
    assert shown.status == 202


async def session_state(world: LineWorld, user: str) -> str | None:
    found = await world.scalar(
        "SELECT state FROM conversation_sessions WHERE community_id = %s AND platform = 'line' "
        "AND user_key = %s",
        world.account,
        user,
    )
    return None if found is None else str(found)


async def test_built_as_townsquare_run_builds_it(world: LineWorld) -> None:
    """The runner passes the whole settings tree, never calls ``start`` and closes with
    ``aclose``: the handler copes with all three."""
    engine = create_db_engine(world.url, DatabaseSettings(pool_size=2))
    handler = LineEventHandler(Settings(line=world.settings), world.pipeline, engine)
    user = world.fake.add_user()
    try:
        event = webhooks.text_message(
            webhooks.user_source(user), "help", reply_token=world.fake.reply_token(user)
        )
        await handler(world.item(event))
    finally:
        await handler.aclose()
        await engine.dispose()
    assert world.answers(user)[0]["text"].startswith("Here is what I can do")
    assert handler.sender.breakers == {}  # closed


def test_metrics_expose_the_handlers_counters(world: LineWorld) -> None:
    registry = CollectorRegistry()
    registry.register(LineCollector(world.handler))
    scraped = generate_latest(registry).decode()
    assert "townsquare_line_events_ingested_total" in scraped
    assert "townsquare_line_replies_replies_total" in scraped
    assert 'townsquare_line_breaker_open{channel="main"} 0.0' in scraped


# --- many users at once ------------------------------------------------------------------------


@pytest.mark.timeout(300)
async def test_a_thousand_concurrent_users_keep_their_own_sessions(world: LineWorld) -> None:
    """Half the users start linking (their session waits for a code), half just chat; then
    everyone sends the same text. Each must get the answer of their own state."""
    users = [world.fake.add_user(display_name=f"user {i}") for i in range(1000)]
    workers = asyncio.Semaphore(32)  # as the inbox bounds them (line.workers)

    async def converse(index: int, user: str) -> None:
        for text in ("link" if index % 2 == 0 else "hello", "ABCD-EFGH"):
            source = webhooks.user_source(user)
            event = webhooks.text_message(source, text, reply_token=world.fake.reply_token(user))
            async with workers:
                await world.handle(event)

    started = time.monotonic()
    await asyncio.gather(*(converse(i, user) for i, user in enumerate(users)))
    elapsed = time.monotonic() - started

    states = await world.states(users)
    for index, user in enumerate(users):
        first, second = (message["text"] for message in world.answers(user))
        if index % 2 == 0:
            assert first == linking.ASK_FOR_CODE
            assert second.startswith("That code is not valid")
            assert states[user] == commands.AWAITING_CODE
        else:
            assert first.startswith("Here is what I can do")
            assert second.startswith("Here is what I can do")
            assert states[user] == commands.IDLE
    assert elapsed < 180  # ~16 s on a busy 2-core machine; a hang or lock-up is not
