"""The fake LINE Messaging API, driven by the real, unmodified line-bot-sdk v3.

Why these tests: the LINE adapter's end-to-end tests and ``townsquare bench`` trust the fake
to answer as LINE does wherever line-bot-sdk or our code can tell the difference — single-use
reply tokens, retry keys, the monthly quota, injected 5xx and 429s, rich menu setup, content
downloads — and trust the webhook builders to produce bodies the SDK's ``WebhookParser``
accepts and whose signatures verify. Checks the SDK would stop before sending (six messages,
fourteen quick replies) are made over raw HTTP.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    MessagingApi,
    PostbackAction,
    PushMessageRequest,
    ReplyMessageRequest,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
    ShowLoadingAnimationRequest,
    TextMessage,
)

from townsquare.fakes.line import FakeLine, LineChannel, ids, webhooks
from townsquare.fakes.line.ids import JSON

pytestmark = pytest.mark.timeout(60)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # the fake checks the content type, not the pixels


@pytest.fixture
def fake() -> Iterator[FakeLine]:
    with FakeLine() as line:
        yield line
        assert line.errors == []


@asynccontextmanager
async def messaging_api(fake: FakeLine, channel: LineChannel | None = None) -> AsyncIterator[Any]:
    """An ``AsyncMessagingApi`` on the fake (``host`` replaces api.line.me for every call)."""
    token = (channel or fake.channel).access_token
    async with AsyncApiClient(Configuration(host=fake.url, access_token=token)) as client:
        yield AsyncMessagingApi(client)


def text_reply(token: str, *texts: str) -> Any:
    return ReplyMessageRequest(reply_token=token, messages=[TextMessage(text=t) for t in texts])


def text_push(to: str, text: str = "hello") -> Any:
    return PushMessageRequest(to=to, messages=[TextMessage(text=text)])


def error_body(error: Any) -> JSON:
    body: JSON = orjson.loads(error.body)
    return body


# -- replies ---------------------------------------------------------------------------------


async def test_reply_token_works_once(fake: FakeLine) -> None:
    user = fake.add_user()
    token = fake.reply_token(user)
    async with messaging_api(fake) as api:
        response = await api.reply_message(text_reply(token, "hi", "there"))
        with pytest.raises(ApiException) as second:
            await api.reply_message(text_reply(token, "again"))
    assert len(response.sent_messages) == 2
    assert all(m.id.isdigit() and m.quote_token for m in response.sent_messages)
    assert second.value.status == 400
    assert error_body(second.value) == {"message": "Invalid reply token"}
    [reply] = fake.replies(to=user)
    assert [m["text"] for m in reply.messages] == ["hi", "there"]


async def test_expired_reply_token_is_refused(fake: FakeLine) -> None:
    token = fake.reply_token(fake.add_user(), ttl_seconds=0)
    async with messaging_api(fake) as api:
        with pytest.raises(ApiException) as refused:
            await api.reply_message(text_reply(token, "too late"))
    assert refused.value.status == 400
    assert error_body(refused.value)["message"] == "Invalid reply token"
    assert fake.replies() == []


async def test_reply_token_belongs_to_its_channel(fake: FakeLine) -> None:
    other = fake.add_channel()
    token = fake.reply_token(fake.add_user(), channel=other)
    async with messaging_api(fake) as api:
        with pytest.raises(ApiException) as refused:
            await api.reply_message(text_reply(token, "wrong account"))
    async with messaging_api(fake, other) as api:
        await api.reply_message(text_reply(token, "right account"))
    assert refused.value.status == 400
    assert [r.channel_id for r in fake.replies()] == [other.channel_id]


async def test_text_over_5000_utf16_units_is_a_400_with_details(fake: FakeLine) -> None:
    token = fake.reply_token(fake.add_user())
    async with messaging_api(fake) as api:
        with pytest.raises(ApiException) as refused:
            await api.reply_message(text_reply(token, "👍" * 2501))  # 5002 UTF-16 units
        await api.reply_message(text_reply(token, "👍" * 2500))  # the token was not used up
    assert refused.value.status == 400
    assert error_body(refused.value) == {
        "message": "The request body has 1 error(s)",
        "details": [
            {"message": "Length must be between 0 and 5000", "property": "messages[0].text"}
        ],
    }


@pytest.mark.parametrize(
    ("messages", "prop"),
    [
        pytest.param([{"type": "text", "text": "x"}] * 6, "messages", id="six-messages"),
        pytest.param(
            [{"type": "flex", "altText": "a" * 401, "contents": {"type": "bubble"}}],
            "messages[0].altText",
            id="flex-alt-text",
        ),
        pytest.param(
            [{"type": "audio", "originalContentUrl": "http://a.example/v.m4a", "duration": 1}],
            "messages[0].originalContentUrl",
            id="audio-not-https",
        ),
        pytest.param(
            [{"type": "audio", "originalContentUrl": "https://a.example/v.m4a"}],
            "messages[0].duration",
            id="audio-without-duration",
        ),
        pytest.param(
            [{"type": "text", "text": "x", "quickReply": {"items": [{"action": {}}] * 14}}],
            "messages[0].quickReply.items",
            id="fourteen-quick-replies",
        ),
        pytest.param([{"type": "carousel"}], "messages[0].type", id="unknown-type"),
    ],
)
async def test_invalid_messages_get_line_style_details(
    fake: FakeLine, messages: list[JSON], prop: str
) -> None:
    body = {"replyToken": fake.reply_token(fake.add_user()), "messages": messages}
    status, answer, headers = await raw_post(fake, "/v2/bot/message/reply", body)
    assert status == 400
    assert answer["message"] == "The request body has 1 error(s)"
    assert [d["property"] for d in answer["details"]] == [prop]
    assert headers["x-line-request-id"]


async def raw_post(
    fake: FakeLine, path: str, body: JSON, headers: dict[str, str] | None = None
) -> tuple[int, JSON, dict[str, str]]:
    sent = {"Authorization": f"Bearer {fake.channel.access_token}", **(headers or {})}
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.url + path, json=body, headers=sent) as response,
    ):
        return response.status, await response.json(), dict(response.headers)


# -- pushes, retry keys, quota -----------------------------------------------------------------


async def test_push_retried_with_the_same_key_is_409_and_sent_once(fake: FakeLine) -> None:
    user = fake.add_user()
    key = str(uuid.uuid4())
    async with messaging_api(fake) as api:
        first = await api.push_message_with_http_info(text_push(user), x_line_retry_key=key)
        with pytest.raises(ApiException) as retried:
            await api.push_message(text_push(user), x_line_retry_key=key)
    assert first.status_code == 200
    assert retried.value.status == 409
    accepted_id = first.headers["x-line-request-id"]
    assert retried.value.headers["x-line-accepted-request-id"] == accepted_id
    answer = error_body(retried.value)
    assert answer["message"] == "The retry key is already accepted"
    assert answer["sentMessages"][0]["id"] == first.data.sent_messages[0].id
    assert len(fake.pushes(to=user)) == 1


async def test_push_after_a_500_succeeds_with_the_same_key(fake: FakeLine) -> None:
    user = fake.add_user()
    key = str(uuid.uuid4())
    fake.fail("POST", "/v2/bot/message/push", status=500)
    async with messaging_api(fake) as api:
        with pytest.raises(ApiException) as failed:
            await api.push_message(text_push(user), x_line_retry_key=key)
        await api.push_message(text_push(user), x_line_retry_key=key)
    assert failed.value.status == 500
    assert [c.status for c in fake.calls_to("POST", "/v2/bot/message/push")] == [500, 200]
    assert [p.retry_key for p in fake.pushes(to=user)] == [key]


async def test_monthly_quota_exceeded_is_429(fake: FakeLine) -> None:
    user = fake.add_user()
    fake.set_quota(fake.channel, 1)
    async with messaging_api(fake) as api:
        await api.push_message(text_push(user))
        with pytest.raises(ApiException) as refused:
            await api.push_message(text_push(user))
        quota = await api.get_message_quota()
        consumption = await api.get_message_quota_consumption()
    assert refused.value.status == 429
    assert error_body(refused.value) == {"message": "You have reached your monthly limit."}
    assert (quota.type, quota.value, consumption.total_usage) == ("limited", 1, 1)


async def test_429_with_retry_after_reaches_the_async_client(fake: FakeLine) -> None:
    fake.fail("POST", "/v2/bot/message/push", status=429, retry_after=2.5)
    async with messaging_api(fake) as api:
        with pytest.raises(ApiException) as limited:
            await api.push_message(text_push(fake.add_user()))
    assert limited.value.status == 429
    assert limited.value.headers["Retry-After"] == "3"
    assert error_body(limited.value)["message"].startswith("The API rate limit")
    assert fake.pushes() == []


def test_sync_client_retries_a_get_after_429_with_retry_after(fake: FakeLine) -> None:
    """urllib3 (under the sync ``MessagingApi``) honours Retry-After on GETs by itself; the
    async client never retries."""
    user = fake.add_user(display_name="Alice")
    fake.fail("GET", f"/v2/bot/profile/{user}", status=429, retry_after=0)
    config = Configuration(host=fake.url, access_token=fake.channel.access_token)
    with ApiClient(config) as client:
        assert MessagingApi(client).get_profile(user).display_name == "Alice"
    assert [c.status for c in fake.calls_to("GET", "/v2/bot/profile")] == [429, 200]


async def test_delay_holds_the_answer(fake: FakeLine) -> None:
    user = fake.add_user()
    fake.delay("GET", "/v2/bot/profile", 0.5, times=1)
    async with messaging_api(fake) as api:
        with pytest.raises(TimeoutError):
            await api.get_profile(user, _request_timeout=0.1)
        started = time.monotonic()
        await api.get_profile(user)
    assert time.monotonic() - started < 0.4


# -- the rest of the API -----------------------------------------------------------------------


async def test_wrong_or_missing_token_is_401(fake: FakeLine) -> None:
    config = Configuration(host=fake.url, access_token="not-a-channel-token")
    async with AsyncApiClient(config) as client:
        with pytest.raises(ApiException) as refused:
            await AsyncMessagingApi(client).get_bot_info()
    status, answer, _ = await raw_post(fake, "/v2/bot/message/push", {}, {"Authorization": ""})
    assert refused.value.status == 401
    assert error_body(refused.value)["message"].startswith("Authentication failed")
    assert status == 401
    assert answer["message"].startswith("Authorization header required")


async def test_loading_animation_is_accepted_with_202(fake: FakeLine) -> None:
    user = fake.add_user()
    async with messaging_api(fake) as api:
        shown = await api.show_loading_animation_with_http_info(
            ShowLoadingAnimationRequest(chat_id=user, loading_seconds=5)
        )
        with pytest.raises(ApiException) as refused:
            await api.show_loading_animation(
                ShowLoadingAnimationRequest(chat_id=user, loading_seconds=7)
            )
    assert shown.status_code == 202
    assert refused.value.status == 400
    assert error_body(refused.value)["details"][0]["property"] == "loadingSeconds"


async def test_rich_menu_create_upload_and_set_default(fake: FakeLine) -> None:
    menu = RichMenuRequest(
        size=RichMenuSize(width=2500, height=843),
        selected=True,
        name="main",
        chat_bar_text="Menu",
        areas=[
            RichMenuArea(
                bounds=RichMenuBounds(x=0, y=0, width=2500, height=843),
                action=PostbackAction(data="rank"),
            )
        ],
    )
    async with messaging_api(fake) as api:
        menu_id = (await api.create_rich_menu(menu)).rich_menu_id
        with pytest.raises(ApiException) as too_early:
            await api.set_default_rich_menu(menu_id)
        await AsyncMessagingApiBlob(api.api_client).set_rich_menu_image(
            menu_id, PNG, _headers={"Content-Type": "image/png"}
        )
        await api.set_default_rich_menu(menu_id)
        listed = await api.get_rich_menu_list()
        default = await api.get_default_rich_menu_id()
        await api.delete_rich_menu(menu_id)
    assert too_early.value.status == 400
    assert [m.rich_menu_id for m in listed.richmenus] == [menu_id]
    assert default.rich_menu_id == menu_id
    assert fake.rich_menus() == {}
    assert fake.default_rich_menu() is None
    upload = fake.calls_to("POST", f"/v2/bot/richmenu/{menu_id}/content")[0]
    assert (upload.content_type, upload.body_size) == ("image/png", len(PNG))


async def test_content_download_returns_the_registered_bytes(fake: FakeLine) -> None:
    voice = b"\x00\x00\x00\x20ftypM4A " + b"\x01" * 100
    fake.add_content("100001", voice, "audio/x-m4a")
    async with messaging_api(fake) as api:
        blob = AsyncMessagingApiBlob(api.api_client)
        downloaded = await blob.get_message_content_with_http_info("100001")
        with pytest.raises(ApiException) as missing:
            await blob.get_message_content("100002")
    assert bytes(downloaded.data) == voice
    assert downloaded.headers["Content-Type"] == "audio/x-m4a"
    assert missing.value.status == 404


async def test_profiles_and_groups(fake: FakeLine) -> None:
    alice = fake.add_user(display_name="Alice", picture_url="https://p.example/a.png")
    group = fake.add_group(name="Walkers", members=[alice])
    async with messaging_api(fake) as api:
        member = await api.get_group_member_profile(group, alice)
        summary = await api.get_group_summary(group)
        with pytest.raises(ApiException) as stranger:
            await api.get_profile(ids.user_id())
    assert (member.display_name, member.picture_url) == ("Alice", "https://p.example/a.png")
    assert summary.group_name == "Walkers"
    assert stranger.value.status == 404


# -- webhooks ----------------------------------------------------------------------------------

USER = ids.user_id()
GROUP = ids.group_id()
ROOM = ids.room_id()
SOURCE = webhooks.user_source(USER)
IN_GROUP = webhooks.group_source(GROUP, USER)
EventBuilder = Callable[[], JSON]

EVENTS: list[tuple[str, EventBuilder, str]] = [
    ("text", lambda: webhooks.text_message(SOURCE, "hello"), "MessageEvent"),
    (
        "text-mention",
        lambda: webhooks.text_message(
            IN_GROUP, "@bot hi", mentionees=[webhooks.mentionee(0, 4, USER, is_self=True)]
        ),
        "MessageEvent",
    ),
    ("image", lambda: webhooks.image_message(SOURCE, image_set=("s1", 1, 2)), "MessageEvent"),
    ("video", lambda: webhooks.video_message(SOURCE, 12_000), "MessageEvent"),
    ("audio", lambda: webhooks.audio_message(SOURCE, 3_500), "MessageEvent"),
    ("file", lambda: webhooks.file_message(SOURCE, "notes.pdf", 2048), "MessageEvent"),
    (
        "location",
        lambda: webhooks.location_message(SOURCE, 35.6, 139.7, title="Tokyo"),
        "MessageEvent",
    ),
    (
        "sticker",
        lambda: webhooks.sticker_message(SOURCE, "446", "1988", keywords=["hi"]),
        "MessageEvent",
    ),
    ("standby", lambda: webhooks.text_message(SOURCE, "x", mode="standby"), "MessageEvent"),
    ("unsend", lambda: webhooks.unsend(SOURCE, "325708"), "UnsendEvent"),
    ("follow", lambda: webhooks.follow(SOURCE, unblocked=True), "FollowEvent"),
    ("unfollow", lambda: webhooks.unfollow(SOURCE), "UnfollowEvent"),
    ("join", lambda: webhooks.join(webhooks.group_source(GROUP)), "JoinEvent"),
    ("leave", lambda: webhooks.leave(webhooks.room_source(ROOM)), "LeaveEvent"),
    (
        "member-joined",
        lambda: webhooks.member_joined(webhooks.group_source(GROUP), [USER]),
        "MemberJoinedEvent",
    ),
    (
        "member-left",
        lambda: webhooks.member_left(webhooks.group_source(GROUP), [USER]),
        "MemberLeftEvent",
    ),
    (
        "postback-datetime",
        lambda: webhooks.postback(SOURCE, "action=remind", params={"datetime": "2026-12-25T01:00"}),
        "PostbackEvent",
    ),
    (
        "video-complete",
        lambda: webhooks.video_play_complete(SOURCE, "track-1"),
        "VideoPlayCompleteEvent",
    ),
    (
        "beacon",
        lambda: webhooks.beacon(SOURCE, "d41d8cd98f", kind="enter", device_message="1234"),
        "BeaconEvent",
    ),
    ("account-link", lambda: webhooks.account_link(SOURCE, "nonce-1"), "AccountLinkEvent"),
    (
        "account-link-failed",
        lambda: webhooks.account_link(SOURCE, "n", ok=False),
        "AccountLinkEvent",
    ),
    ("membership", lambda: webhooks.membership(SOURCE, "joined", 3189), "MembershipEvent"),
    # line-bot-sdk v3 has no model for LINE Things events, nor for types yet to come.
    (
        "things-link",
        lambda: webhooks.things_link(SOURCE, "t016560bc3fb1e42b9fe9293ca6e2db71"),
        "UnknownEvent",
    ),
    ("things-unlink", lambda: webhooks.things_unlink(SOURCE, "t0165"), "UnknownEvent"),
    (
        "things-scenario",
        lambda: webhooks.things_scenario_result(SOURCE, "t0165", "dceb"),
        "UnknownEvent",
    ),
    ("future-type", lambda: webhooks.unknown_event("sparkle", SOURCE), "UnknownEvent"),
]


@pytest.mark.parametrize(
    ("build", "sdk_class"), [pytest.param(b, c, id=name) for name, b, c in EVENTS]
)
def test_webhook_builder_parses_with_the_sdk(build: EventBuilder, sdk_class: str) -> None:
    channel = LineChannel.new()
    event = build()
    request = webhooks.signed(channel.secret, channel.bot_user_id, [event])
    payload = WebhookParser(channel.secret).parse(
        request.body.decode(), request.headers["X-Line-Signature"], as_payload=True
    )
    [parsed] = payload.events
    assert type(parsed).__name__ == sdk_class
    assert payload.destination == channel.bot_user_id
    assert parsed.webhook_event_id == event["webhookEventId"]
    assert parsed.delivery_context.is_redelivery is False
    if sdk_class != "UnknownEvent" and "replyToken" in event:
        assert parsed.reply_token == event["replyToken"]


def test_tampered_webhook_body_fails_verification() -> None:
    channel = LineChannel.new()
    request = webhooks.signed(channel.secret, channel.bot_user_id, [webhooks.follow(SOURCE)])
    tampered = request.body.replace(b'"isUnblocked":false', b'"isUnblocked":true')
    assert tampered != request.body
    parser = WebhookParser(channel.secret)
    with pytest.raises(InvalidSignatureError):
        parser.parse(tampered.decode(), request.headers["X-Line-Signature"])
    with pytest.raises(InvalidSignatureError):
        WebhookParser(LineChannel.new().secret).parse(
            request.body.decode(), request.headers["X-Line-Signature"]
        )


def test_webhook_envelope_properties() -> None:
    standby = webhooks.text_message(SOURCE, "x", mode="standby")
    redelivered = webhooks.follow(SOURCE, redelivery=True, timestamp_ms=1_700_000_000_000)
    event_ids = {webhooks.follow(SOURCE)["webhookEventId"] for _ in range(1000)}
    assert "replyToken" not in standby
    assert "replyToken" not in webhooks.unfollow(SOURCE)
    assert "replyToken" not in webhooks.follow(SOURCE, reply_token=None)
    assert redelivered["deliveryContext"] == {"isRedelivery": True}
    assert redelivered["timestamp"] == 1_700_000_000_000
    assert redelivered["webhookEventId"].startswith(ids.webhook_event_id(1_700_000_000_000)[:10])
    assert len(event_ids) == 1000
    assert all(len(i) == 26 for i in event_ids)
    assert webhooks.body("Ux", []) == b'{"destination":"Ux","events":[]}'


async def test_reply_to_a_webhook_event_with_the_fake_s_token(fake: FakeLine) -> None:
    source = webhooks.group_source(fake.add_group(members=[USER]), USER)
    token = fake.reply_token(webhooks.chat_id(source))
    request = fake.signed_webhook([webhooks.text_message(source, "!rank", reply_token=token)])
    [event] = WebhookParser(fake.channel.secret).parse(
        request.body.decode(), request.headers["X-Line-Signature"]
    )
    async with messaging_api(fake) as api:
        await api.reply_message(text_reply(event.reply_token, "You are rank 1"))
    [reply] = fake.replies(to=source["groupId"])
    assert reply.messages[0]["text"] == "You are rank 1"


async def test_wait_for_call_sees_a_call_from_another_task(fake: FakeLine) -> None:
    user = fake.add_user()

    async def push_later() -> None:
        await asyncio.sleep(0.05)
        async with messaging_api(fake) as api:
            await api.push_message(text_push(user, "later"))

    task = asyncio.create_task(push_later())
    call = await fake.wait_for_call("POST", "/v2/bot/message/push", timeout=5)
    await task
    assert call.json["to"] == user
    assert call.channel_id == fake.channel.channel_id
    assert "Authorization" not in call.headers
