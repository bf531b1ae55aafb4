"""Replies that arrive: the reply token, the push fallback, retries, the breaker, splitting.

The real line-bot-sdk client talks to the fake Messaging API, which refuses what LINE
refuses (a used or expired token, six messages, a text over 5,000 UTF-16 units) and fails
when told to. Waits are recorded instead of slept, and the breaker's clock is the test's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from linebot.v3.messaging import TextMessage
from structlog.testing import capture_logs

from townsquare.adapters.line.breaker import BreakerState
from townsquare.adapters.line.contract import PermanentFailure
from townsquare.adapters.line.messages import split_text, utf16_length
from townsquare.adapters.line.replies import Delivery, ReplySender, retry_key
from townsquare.adapters.line.retrying import MessagingApiUnavailable
from townsquare.config.settings import LineChannelSettings, LineSettings
from townsquare.fakes.line import FakeLine

pytestmark = pytest.mark.timeout(60)
PUSH = "/v2/bot/message/push"
REPLY = "/v2/bot/message/reply"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """Records the waits tenacity asks for, without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def fake() -> Iterator[FakeLine]:
    with FakeLine() as line:
        yield line
        assert line.errors == []


def settings_for(fake: FakeLine, **line: Any) -> LineSettings:
    channel = LineChannelSettings(
        key="main", secret=fake.channel.secret, access_token=fake.channel.access_token
    )
    return LineSettings(channels=(channel,), api_url=fake.url, data_api_url=fake.url, **line)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def sender(fake: FakeLine, clock: Clock, sleeps: Sleeps) -> AsyncIterator[ReplySender]:
    sender = ReplySender(
        settings_for(fake), clock=clock, sleep=sleeps, breaker_threshold=3, breaker_cooldown=30
    )
    await sender.start()
    yield sender
    await sender.stop()


def answer(user: str, *texts: str, token: str | None = None, key: str = "1:1") -> Delivery:
    return Delivery("main", user, key, [TextMessage(text=t) for t in texts], reply_token=token)


async def test_the_reply_token_is_used_first(fake: FakeLine, sender: ReplySender) -> None:
    user = fake.add_user()
    await sender.deliver(answer(user, "hi", token=fake.reply_token(user)))
    [reply] = fake.replies(to=user)
    assert [m["text"] for m in reply.messages] == ["hi"]
    assert fake.pushes() == []
    assert sender.figures.replies == 1


async def test_expired_reply_token_falls_back_to_a_push_with_a_retry_key(
    fake: FakeLine, sender: ReplySender
) -> None:
    user = fake.add_user()
    token = fake.reply_token(user, ttl_seconds=0)
    await sender.deliver(answer(user, "late", token=token, key="7:42"))
    [push] = fake.pushes(to=user)
    assert push.messages[0]["text"] == "late"
    assert push.retry_key == retry_key("7:42", 0)
    assert uuid.UUID(push.retry_key).version == 5
    assert sender.figures.push_fallbacks == 1
    assert fake.replies() == []


async def test_without_push_fallback_an_unanswerable_reply_is_dropped_and_logged(
    fake: FakeLine, clock: Clock
) -> None:
    sender = ReplySender(settings_for(fake, push_fallback=False), clock=clock)
    await sender.start()
    try:
        user = fake.add_user()
        with capture_logs() as logs:
            await sender.deliver(answer(user, "x", token=fake.reply_token(user, ttl_seconds=0)))
    finally:
        await sender.stop()
    assert fake.pushes() == []
    assert sender.figures.dropped == 1
    assert any(e["event"] == "line_reply_dropped" for e in logs)
    assert all(value != "x" for e in logs for value in e.values())  # no message text logged


async def test_a_retried_handler_does_not_send_twice(fake: FakeLine, sender: ReplySender) -> None:
    user = fake.add_user()
    token = fake.reply_token(user)
    messages = [f"part {i}" for i in range(7)]  # five by reply, two by push
    await sender.deliver(answer(user, *messages, token=token, key="3:9"))
    await sender.deliver(answer(user, *messages, token=token, key="3:9"))  # the inbox's retry
    assert len(fake.replies(to=user)) == 1
    assert len(fake.pushes(to=user)) == 1


async def test_a_retry_in_another_process_is_deduplicated_by_the_retry_key(
    fake: FakeLine, clock: Clock
) -> None:
    user = fake.add_user()
    for _process in range(2):  # a fresh sender has no memory of what was sent
        sender = ReplySender(settings_for(fake), clock=clock)
        await sender.start()
        try:
            await sender.deliver(answer(user, "once", token=None, key="5:5"))
        finally:
            await sender.stop()
    assert [c.status for c in fake.calls_to("POST", PUSH)] == [200, 409]
    assert len(fake.pushes(to=user)) == 1
    assert sender.figures.already_sent == 1


async def test_500_is_retried_and_then_delivered(
    fake: FakeLine, sender: ReplySender, sleeps: Sleeps
) -> None:
    user = fake.add_user()
    fake.fail("POST", REPLY, status=500, times=2)
    await sender.deliver(answer(user, "hi", token=fake.reply_token(user)))
    assert [c.status for c in fake.calls_to("POST", REPLY)] == [500, 500, 200]
    assert len(sleeps.waits) == 2
    assert sender.calls.retries == 2


async def test_429_waits_what_retry_after_asks(
    fake: FakeLine, sender: ReplySender, sleeps: Sleeps
) -> None:
    user = fake.add_user()
    fake.fail("POST", PUSH, status=429, retry_after=3)
    await sender.deliver(answer(user, "hi"))
    assert sleeps.waits == [3.0]
    assert [c.status for c in fake.calls_to("POST", PUSH)] == [429, 200]
    keys = {c.headers["X-Line-Retry-Key"] for c in fake.calls_to("POST", PUSH)}
    assert len(keys) == 1  # the retry reused the key: LINE can tell it is the same push


async def test_retry_after_longer_than_we_hold_an_event_gives_up_at_once(
    fake: FakeLine, sender: ReplySender, sleeps: Sleeps
) -> None:
    fake.fail("POST", PUSH, status=429, retry_after=120)
    with pytest.raises(MessagingApiUnavailable):
        await sender.deliver(answer(fake.add_user(), "hi"))
    assert sleeps.waits == []
    assert len(fake.calls_to("POST", PUSH)) == 1


async def test_persistent_failure_raises_with_a_clear_log(
    fake: FakeLine, clock: Clock, sleeps: Sleeps
) -> None:
    fake.fail("POST", PUSH, status=503, times=10)
    sender = ReplySender(settings_for(fake), clock=clock, sleep=sleeps)
    await sender.start()
    try:
        with capture_logs() as logs, pytest.raises(MessagingApiUnavailable) as failed:
            await sender.deliver(answer(fake.add_user(), "hi"))
    finally:
        await sender.stop()
    assert "kept failing" in failed.value.message
    assert len(fake.calls_to("POST", PUSH)) == 4  # retry_attempts
    [error] = [e for e in logs if e["event"] == "line_api_failed"]
    assert (error["operation"], error["status"], error["log_level"]) == ("push", 503, "error")


async def test_breaker_opens_refuses_without_calling_then_half_opens(
    fake: FakeLine, sender: ReplySender, clock: Clock
) -> None:
    user = fake.add_user()
    fake.fail("POST", PUSH, status=500, times=3)
    with pytest.raises(MessagingApiUnavailable):
        await sender.deliver(answer(user, "one", key="1:1"))
    assert sender.breaker("main").state is BreakerState.OPEN
    with pytest.raises(MessagingApiUnavailable, match="circuit is open"):
        await sender.deliver(answer(user, "two", key="1:2"))
    assert len(fake.calls_to("POST", PUSH)) == 3  # the open breaker made no call
    clock.now += 31
    assert sender.breaker("main").state is BreakerState.HALF_OPEN
    await sender.deliver(answer(user, "three", key="1:3"))  # the trial call succeeds
    assert sender.breaker("main").state is BreakerState.CLOSED
    assert [p.messages[0]["text"] for p in fake.pushes(to=user)] == ["three"]


async def test_a_failed_trial_opens_the_breaker_again(
    fake: FakeLine, sender: ReplySender, clock: Clock
) -> None:
    user = fake.add_user()
    fake.fail("POST", PUSH, status=500, times=4)
    with pytest.raises(MessagingApiUnavailable):
        await sender.deliver(answer(user, "one", key="1:1"))
    clock.now += 31
    with pytest.raises(MessagingApiUnavailable):
        await sender.deliver(answer(user, "two", key="1:2"))
    assert sender.breaker("main").state is BreakerState.OPEN
    assert len(fake.calls_to("POST", PUSH)) == 4  # one trial, not a new round of retries


async def test_a_malformed_message_is_a_permanent_failure(
    fake: FakeLine, sender: ReplySender
) -> None:
    user = fake.add_user()
    bad = Delivery("main", user, "1:1", [TextMessage(text="x"), {"type": "carousel"}])
    with pytest.raises(PermanentFailure):
        await sender.deliver(bad)
    assert sender.breaker("main").state is BreakerState.CLOSED  # LINE is fine; we were wrong


async def test_long_texts_are_split_and_more_than_five_messages_pushed(
    fake: FakeLine, sender: ReplySender
) -> None:
    user = fake.add_user()
    long_text = ("word " * 2400).strip()  # 11,999 characters: three parts
    emoji_text = "👍" * 2600  # 5,200 UTF-16 units: two parts
    delivery = answer(user, long_text, emoji_text, "a", "b", token=fake.reply_token(user))
    await sender.deliver(delivery)
    [reply] = fake.replies(to=user)
    [push] = fake.pushes(to=user)
    sent = [m["text"] for m in [*reply.messages, *push.messages]]
    assert len(reply.messages) == 5
    assert len(sent) == 7
    assert "".join(sent[:3]) == long_text
    assert all(utf16_length(text) <= 5000 for text in sent)
    assert sent[3] + sent[4] == emoji_text
    assert sender.figures.split_texts == 2


def test_split_breaks_at_whitespace_and_never_inside_a_surrogate_pair() -> None:
    assert split_text("a" * 7 + " " + "b" * 7, limit=10) == ["aaaaaaa ", "bbbbbbb"]
    assert split_text("line one\nline two", limit=12) == ["line one\n", "line two"]
    assert split_text("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]
    emoji = split_text("a" + "😀" * 5, limit=4)
    assert emoji == ["a😀", "😀😀", "😀😀"]


async def test_used_up_monthly_quota_drops_pushes_without_trying(
    fake: FakeLine, sender: ReplySender
) -> None:
    user = fake.add_user()
    fake.set_quota(fake.channel, 1)
    await sender.deliver(answer(user, "first", key="1:1"))
    await sender.deliver(answer(user, "second", key="1:2"))
    assert len(fake.pushes(to=user)) == 1
    assert len(fake.calls_to("POST", PUSH)) == 1  # the cached quota said no
    assert len(fake.calls_to("GET", "/v2/bot/message/quota")) == 2  # read once: quota + usage
    assert sender.figures.dropped == 1


async def test_loading_animation_only_in_one_to_one_chats(
    fake: FakeLine, sender: ReplySender
) -> None:
    user = fake.add_user()
    group = fake.add_group(members=[user])
    assert await sender.show_loading("main", user, seconds=7)
    assert not await sender.show_loading("main", group)
    [call] = fake.calls_to("POST", "/v2/bot/chat/loading/start")
    assert call.json == {"chatId": user, "loadingSeconds": 5}
    assert call.status == 202
