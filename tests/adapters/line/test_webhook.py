"""``POST /line/webhook/{channel}``: verified, recorded durably, then acknowledged.

One database for the module (every test uses fresh webhook event ids); the app is the real
one (problem handlers, lifespan) with the webhook router mounted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import psycopg
import pytest

from tests.adapters.line.inbox_support import (
    CLINIC_SECRET,
    DESTINATION,
    WARD_SLUG,
    database_copy,
    line_settings,
    post_events,
    rows_by_event,
    webhook_client,
)
from townsquare.fakes.line import ids, webhooks
from townsquare.fakes.line.ids import JSON
from townsquare.store.engine import libpq_url

USER = ids.user_id()
GROUP = ids.group_id()
ROOM = ids.room_id()
ALONE = webhooks.user_source(USER)
IN_GROUP = webhooks.group_source(GROUP, USER)
IN_ROOM = webhooks.room_source(ROOM, USER)

# Every event type LINE documents for the Messaging API, as the fake LINE builds them.
STORED: list[tuple[str, Callable[[], JSON]]] = [
    ("text", lambda: webhooks.text_message(ALONE, "hello")),
    (
        "text-mention",
        lambda: webhooks.text_message(
            IN_GROUP, "@bot hi", mentionees=[webhooks.mentionee(0, 4, USER, is_self=True)]
        ),
    ),
    ("image", lambda: webhooks.image_message(IN_GROUP, image_set=("s1", 1, 2))),
    ("video", lambda: webhooks.video_message(ALONE, 12_000)),
    ("audio", lambda: webhooks.audio_message(ALONE, 3_500)),
    ("file", lambda: webhooks.file_message(IN_ROOM, "notes.pdf", 2048)),
    ("location", lambda: webhooks.location_message(ALONE, 35.6, 139.7, title="Tokyo")),
    ("sticker", lambda: webhooks.sticker_message(ALONE, "446", "1988", keywords=["hi"])),
    ("standby", lambda: webhooks.text_message(ALONE, "x", mode="standby")),
    ("unsend", lambda: webhooks.unsend(IN_GROUP, "325708")),
    ("follow", lambda: webhooks.follow(ALONE, unblocked=True)),
    ("unfollow", lambda: webhooks.unfollow(ALONE)),
    ("join", lambda: webhooks.join(webhooks.group_source(GROUP))),
    ("leave", lambda: webhooks.leave(webhooks.room_source(ROOM))),
    ("member-joined", lambda: webhooks.member_joined(webhooks.group_source(GROUP), [USER])),
    ("member-left", lambda: webhooks.member_left(webhooks.group_source(GROUP), [USER])),
    (
        "postback",
        lambda: webhooks.postback(ALONE, "action=remind", params={"datetime": "2026-12-25T01:00"}),
    ),
    ("video-complete", lambda: webhooks.video_play_complete(ALONE, "track-1")),
    ("beacon", lambda: webhooks.beacon(ALONE, "d41d8cd98f", kind="enter", device_message="12")),
    ("account-link", lambda: webhooks.account_link(ALONE, "nonce-1")),
    ("account-link-failed", lambda: webhooks.account_link(ALONE, "n", ok=False)),
    ("membership", lambda: webhooks.membership(ALONE, "joined", 3189)),
    (
        "message-edited",
        lambda: webhooks.event(
            "messageEdited",
            ALONE,
            replyable=False,
            fields={
                "message": {
                    "id": ids.message_id(),
                    "type": "text",
                    "text": "hi",
                    "quoteToken": ids.quote_token(),
                }
            },
        ),
    ),
    (
        "activated",
        lambda: webhooks.event(
            "activated", ALONE, replyable=False, fields={"chatControl": {"expireAt": 1}}
        ),
    ),
    ("deactivated", lambda: webhooks.event("deactivated", ALONE, replyable=False)),
    ("bot-suspended", lambda: webhooks.event("botSuspended", None, replyable=False)),
    ("bot-resumed", lambda: webhooks.event("botResumed", None, replyable=False)),
    (
        "module",
        lambda: webhooks.event(
            "module",
            None,
            replyable=False,
            fields={"module": {"type": "attached", "botId": "U1", "scopes": ["message"]}},
        ),
    ),
    (
        "delivery",
        lambda: webhooks.event(
            "delivery", ALONE, replyable=False, fields={"delivery": {"data": "x"}}
        ),
    ),
]
# Documented, but line-bot-sdk v3 has no model for them (nor for types yet to come).
SKIPPED: list[tuple[str, Callable[[], JSON]]] = [
    ("things-link", lambda: webhooks.things_link(ALONE, "t016560bc3fb1e42b9fe9293ca6e2db71")),
    ("things-unlink", lambda: webhooks.things_unlink(ALONE, "t0165")),
    ("things-scenario", lambda: webhooks.things_scenario_result(ALONE, "t0165", "dceb")),
    ("future-type", lambda: webhooks.unknown_event("sparkle", ALONE)),
]


@pytest.fixture(scope="module")
def database(postgres_server: str, migrated_template: str) -> Iterator[str]:
    with database_copy(postgres_server, migrated_template) as url:
        yield url


@pytest.fixture
async def client(database: str) -> AsyncIterator[httpx.AsyncClient]:
    async with webhook_client(database, line_settings(max_body_bytes=4_000)) as client:
        yield client


def _community(url: str, community_id: int) -> tuple[str, list[tuple[str, str]]]:
    with psycopg.connect(libpq_url(url)) as conn:
        slug = conn.execute("SELECT slug FROM communities WHERE id = %s", (community_id,))
        links = conn.execute(
            "SELECT platform, external_id FROM community_links WHERE community_id = %s",
            (community_id,),
        )
        return str(slug.fetchone()[0]), [(str(p), str(e)) for p, e in links.fetchall()]  # type: ignore[index]


@pytest.mark.parametrize("build", [pytest.param(b, id=name) for name, b in STORED])
async def test_every_documented_event_type_is_recorded_before_the_200(
    client: httpx.AsyncClient, database: str, build: Callable[[], JSON]
) -> None:
    event = build()
    response = await post_events(client, [event])
    assert response.status_code == 200
    assert response.json() == {}
    row = rows_by_event(database)[event["webhookEventId"]]
    assert row["event_type"] == event["type"]
    assert row["payload"] == event  # exactly as LINE sent it
    assert row["status"] == "pending"
    assert row["channel_key"] == "clinic"
    assert row["is_redelivery"] is False
    source = event.get("source")
    chat = webhooks.chat_id(source) if source else "account"
    assert row["ordering_key"] == f"clinic:{chat}"


@pytest.mark.parametrize("build", [pytest.param(b, id=name) for name, b in SKIPPED])
async def test_event_types_the_sdk_cannot_model_are_skipped_not_refused(
    client: httpx.AsyncClient, database: str, build: Callable[[], JSON]
) -> None:
    event, known = build(), webhooks.follow(ALONE)
    response = await post_events(client, [event, known])
    assert response.status_code == 200
    stored = rows_by_event(database)
    assert event["webhookEventId"] not in stored
    assert known["webhookEventId"] in stored


async def test_an_invalid_event_is_skipped_and_its_neighbours_kept(
    client: httpx.AsyncClient, database: str
) -> None:
    broken = webhooks.text_message(ALONE, "hi")
    del broken["message"]
    kept = webhooks.text_message(ALONE, "hello")
    assert (await post_events(client, [broken, kept])).status_code == 200
    stored = rows_by_event(database)
    assert broken["webhookEventId"] not in stored
    assert kept["webhookEventId"] in stored


async def test_groups_and_rooms_are_communities_of_their_own(
    client: httpx.AsyncClient, database: str
) -> None:
    group, room = ids.group_id(), ids.room_id()
    in_group = webhooks.text_message(webhooks.group_source(group, USER), "a")
    in_room = webhooks.text_message(webhooks.room_source(room, USER), "b")
    alone = webhooks.text_message(ALONE, "c")
    in_ward = webhooks.text_message(ALONE, "d")
    assert (await post_events(client, [in_group, in_room, alone])).status_code == 200
    assert (await post_events(client, [in_ward], channel="ward")).status_code == 200
    stored = rows_by_event(database)
    group_community = stored[in_group["webhookEventId"]]["community_id"]
    room_community = stored[in_room["webhookEventId"]]["community_id"]
    account_community = stored[alone["webhookEventId"]]["community_id"]
    assert len({group_community, room_community, account_community}) == 3
    assert _community(database, group_community)[1] == [("line", group)]
    assert _community(database, room_community)[1] == [("line", room)]
    assert _community(database, account_community)[1] == [("line", "oa:clinic")]
    ward = stored[in_ward["webhookEventId"]]
    # The configured community, linked as the pipeline will look it up (``oa:<key>``).
    assert _community(database, ward["community_id"]) == (WARD_SLUG, [("line", "oa:ward")])
    assert ward["channel_key"] == "ward"


async def test_a_second_account_gets_its_own_community(
    client: httpx.AsyncClient, database: str
) -> None:
    clinic, pharmacy = webhooks.follow(ALONE), webhooks.follow(ALONE)
    assert (await post_events(client, [clinic])).status_code == 200
    assert (await post_events(client, [pharmacy], channel="pharmacy")).status_code == 200
    stored = rows_by_event(database)
    clinic_community = stored[clinic["webhookEventId"]]["community_id"]
    assert clinic_community != stored[pharmacy["webhookEventId"]]["community_id"]


async def test_an_account_with_a_short_key_gets_a_community(
    client: httpx.AsyncClient, database: str
) -> None:
    event = webhooks.follow(ALONE)
    assert (await post_events(client, [event], channel="bot")).status_code == 200
    assert event["webhookEventId"] in rows_by_event(database)


async def test_a_duplicate_and_a_redelivery_are_recorded_once(
    client: httpx.AsyncClient, database: str
) -> None:
    event = webhooks.text_message(ALONE, "once")
    redelivered = {**event, "deliveryContext": {"isRedelivery": True}}
    first_seen_as_redelivery = webhooks.text_message(ALONE, "late", redelivery=True)
    for events in ([event], [event], [redelivered, first_seen_as_redelivery], [event, event]):
        assert (await post_events(client, events)).status_code == 200
    stored = rows_by_event(database)
    assert stored[event["webhookEventId"]]["is_redelivery"] is False
    assert stored[first_seen_as_redelivery["webhookEventId"]]["is_redelivery"] is True
    ids_stored = [row["webhook_event_id"] for row in stored.values()]
    assert ids_stored.count(event["webhookEventId"]) == 1


async def test_lines_verify_request_is_acknowledged_and_stores_nothing(
    client: httpx.AsyncClient, database: str
) -> None:
    before = len(rows_by_event(database))
    response = await post_events(client, [])
    assert response.status_code == 200
    assert len(rows_by_event(database)) == before


@pytest.mark.parametrize(
    "signature",
    [None, b"", b"not base64", webhooks.sign("another secret", b"{}").encode(), "é".encode()],
    ids=["missing", "empty", "garbage", "other-body-and-secret", "non-ascii"],
)
async def test_a_bad_signature_is_401_and_nothing_is_recorded(
    client: httpx.AsyncClient, database: str, signature: bytes | None
) -> None:
    event = webhooks.follow(ALONE)
    body = webhooks.body(DESTINATION, [event])
    headers = {b"Content-Type": b"application/json"}
    if signature is not None:
        headers[b"X-Line-Signature"] = signature
    response = await client.post("/line/webhook/clinic", content=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "line_signature_invalid"
    assert event["webhookEventId"] not in rows_by_event(database)


async def test_a_tampered_body_is_401(client: httpx.AsyncClient, database: str) -> None:
    event = webhooks.follow(ALONE)
    request = webhooks.signed(CLINIC_SECRET, DESTINATION, [event])
    tampered = request.body.replace(b'"isUnblocked":false', b'"isUnblocked":true')
    response = await client.post("/line/webhook/clinic", content=tampered, headers=request.headers)
    assert response.status_code == 401
    assert event["webhookEventId"] not in rows_by_event(database)


async def test_another_accounts_signature_is_401(client: httpx.AsyncClient) -> None:
    request = webhooks.signed(CLINIC_SECRET, DESTINATION, [webhooks.follow(ALONE)])
    response = await client.post(
        "/line/webhook/pharmacy", content=request.body, headers=request.headers
    )
    assert response.status_code == 401


async def test_an_unknown_channel_is_404(client: httpx.AsyncClient) -> None:
    request = webhooks.signed(CLINIC_SECRET, DESTINATION, [webhooks.follow(ALONE)])
    response = await client.post(
        "/line/webhook/nobody", content=request.body, headers=request.headers
    )
    assert response.status_code == 404
    assert response.json()["code"] == "line_channel_unknown"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"destination": "U1"}',
        b'{"destination": "U1", "events": {}}',
        b'{"events": []}',
        b'{"destination": "U1", "events": [42]}',
        b'{"destination": "U1", "events": [{"no": "type"}]}',
        b"",
    ],
    ids=[
        "not-json",
        "not-utf8",
        "array",
        "no-events",
        "events-not-list",
        "no-destination",
        "event-not-object",
        "event-without-type",
        "empty",
    ],
)
async def test_a_signed_body_that_is_not_a_line_webhook_is_400(
    client: httpx.AsyncClient, body: bytes
) -> None:
    headers = {"X-Line-Signature": webhooks.sign(CLINIC_SECRET, body)}
    response = await client.post("/line/webhook/clinic", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "line_webhook_malformed"


async def test_an_oversized_body_is_413_before_it_is_read(client: httpx.AsyncClient) -> None:
    events = [webhooks.text_message(ALONE, "x" * 1000) for _ in range(5)]
    request = webhooks.signed(CLINIC_SECRET, DESTINATION, events)
    response = await client.post(
        "/line/webhook/clinic", content=request.body, headers=request.headers
    )
    assert response.status_code == 413
    assert response.json()["code"] == "line_webhook_too_large"


async def test_an_oversized_body_without_a_length_is_cut_off_while_streaming(
    client: httpx.AsyncClient,
) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b"x" * 1_000

    request = webhooks.signed(CLINIC_SECRET, DESTINATION, [])
    response = await client.post(
        "/line/webhook/clinic",
        content=chunks(),
        headers={"X-Line-Signature": request.headers["X-Line-Signature"]},
    )
    assert response.status_code == 413
    assert len(sent) < 10  # refused once past 4,000 bytes, not after reading it all


async def test_an_unparseable_content_length_is_400(client: httpx.AsyncClient) -> None:
    body = webhooks.body(DESTINATION, [])
    response = await client.post(
        "/line/webhook/clinic",
        content=body,
        headers={"X-Line-Signature": webhooks.sign(CLINIC_SECRET, body), "Content-Length": "x"},
    )
    assert response.status_code == 400


async def test_the_local_worker_is_woken_only_when_something_new_was_stored(
    database: str,
) -> None:
    wakes: list[int] = []
    event = webhooks.follow(ALONE)
    async with webhook_client(
        database, line_settings(), on_stored=lambda: wakes.append(1)
    ) as client:
        await post_events(client, [event])
        await post_events(client, [event])
        await post_events(client, [])
    assert wakes == [1]
