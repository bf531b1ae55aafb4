"""The parts every webhook event shares, and the signed request that carries them.

Why apart from the event builders: the envelope (reply token, mode, ``webhookEventId``,
``deliveryContext``) and the signature are what a webhook handler checks before it looks at
any event, and the same rules apply to types LINE has not invented yet (``event``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, Unpack

import orjson

from townsquare.fakes.line import ids
from townsquare.fakes.line.ids import JSON

USER_AGENT = "LineBotWebhook/2.0"
# LINE's webhook schema makes ``replyToken`` optional on these types alone: a channel in
# standby must not answer, so it gets no token.
NO_REPLY_TOKEN_IN_STANDBY = frozenset({"message", "postback"})


class Envelope(TypedDict, total=False):
    """What every event carries besides its own fields."""

    reply_token: str | None
    mode: Literal["active", "standby"]
    redelivery: bool
    timestamp_ms: int
    webhook_event_id: str


@dataclass(frozen=True)
class SignedWebhook:
    """A webhook request: POST ``body`` with ``headers`` to the bot's webhook URL."""

    body: bytes
    headers: dict[str, str]


# -- sources -------------------------------------------------------------------------------


def user_source(user_id: str) -> JSON:
    return {"type": "user", "userId": user_id}


def group_source(group_id: str, user_id: str | None = None) -> JSON:
    source: JSON = {"type": "group", "groupId": group_id}
    if user_id is not None:
        source["userId"] = user_id
    return source


def room_source(room_id: str, user_id: str | None = None) -> JSON:
    source: JSON = {"type": "room", "roomId": room_id}
    if user_id is not None:
        source["userId"] = user_id
    return source


def chat_id(source: Mapping[str, Any]) -> str:
    """Where a reply to an event from ``source`` goes: the group, room or user."""
    key = {"group": "groupId", "room": "roomId"}.get(source["type"], "userId")
    return str(source[key])


# -- the envelope ----------------------------------------------------------------------------


def event(
    event_type: str,
    source: JSON | None,
    *,
    replyable: bool,
    fields: Mapping[str, Any] | None = None,
    **envelope: Unpack[Envelope],
) -> JSON:
    """Any event: the common properties, a reply token when ``replyable`` (see the package
    docstring), then ``fields``. Use it directly for types LINE may add later."""
    timestamp = envelope.get("timestamp_ms", ids.now_ms())
    mode = envelope.get("mode", "active")
    built: JSON = {"type": event_type}
    if replyable and not (mode == "standby" and event_type in NO_REPLY_TOKEN_IN_STANDBY):
        token = envelope["reply_token"] if "reply_token" in envelope else ids.reply_token()
        if token is not None:
            built["replyToken"] = token
    built["mode"] = mode
    built["timestamp"] = timestamp
    if source is not None:
        built["source"] = dict(source)
    built["webhookEventId"] = envelope.get("webhook_event_id") or ids.webhook_event_id(timestamp)
    built["deliveryContext"] = {"isRedelivery": envelope.get("redelivery", False)}
    built.update(fields or {})
    return built


def unknown_event(
    event_type: str = "futureEvent",
    source: JSON | None = None,
    payload: Mapping[str, Any] | None = None,
    **envelope: Unpack[Envelope],
) -> JSON:
    """An event of a type no SDK knows yet, as LINE may start sending any day."""
    fields = {event_type: dict(payload or {"detail": "new"})}
    return event(event_type, source, replyable=True, fields=fields, **envelope)


# -- the request -----------------------------------------------------------------------------


def body(destination: str, events: Sequence[JSON]) -> bytes:
    """The request body: ``destination`` is the bot's user id (``LineChannel.bot_user_id``).
    No events at all is what the console's "Verify" button sends."""
    return orjson.dumps({"destination": destination, "events": list(events)})


def sign(channel_secret: str, body_bytes: bytes) -> str:
    """``X-Line-Signature``: base64 of the HMAC-SHA256 of the body, keyed by the secret."""
    digest = hmac.new(channel_secret.encode(), body_bytes, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed(channel_secret: str, destination: str, events: Sequence[JSON]) -> SignedWebhook:
    payload = body(destination, events)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Line-Signature": sign(channel_secret, payload),
    }
    return SignedWebhook(payload, headers)
