"""``POST /line/webhook/{channel}``: verify, record durably, then acknowledge.

The predecessor answered LINE first and processed later in memory, so a crash or an error
lost the event ("webhook errors swallowed"). Here the order is fixed:

1. the channel key must be configured (404), the body at most ``line.max_body_bytes`` —
   counted while it streams in, before anything parses it (413);
2. ``X-Line-Signature`` must be the HMAC-SHA256 of the raw body keyed by the channel secret,
   compared in constant time (401; nothing is parsed, nothing stored);
3. the body must be JSON in LINE's shape (400); each event is checked with line-bot-sdk v3's
   models — a type the SDK does not know, or an event that does not validate, is logged and
   skipped (the others are kept);
4. every kept event becomes a ``webhook_inbox`` row in ONE transaction, deduplicated on
   ``webhookEventId`` (a redelivery of a stored event is a no-op, ``isRedelivery`` is kept)
   — shared with webhooks that arrived during the previous commit (`InboxRecorder`);
5. only after the commit: 200 ``{}``. A database that is down answers 503, so LINE
   redelivers (when redelivery is on); bad input is never a 500.

Processing happens later, in `InboxWorker`; ``on_stored`` wakes the local one at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, Request, Response
from linebot.v3.webhooks import Event
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.adapters.line.inbox_writer import (
    COMMUNITY_CACHE_SIZE,
    InboxRecorder,
    VerifiedEvent,
    space_of,
)
from townsquare.config.settings import LineSettings
from townsquare.errors import TownsquareError

log = structlog.get_logger(__name__)

PLATFORM = "line"
WEBHOOK_PATH = "/line/webhook/{channel_key}"
SIGNATURE_HEADER = "x-line-signature"
_MAX_EVENT_ID = 128


class LineChannelUnknown(TownsquareError):
    status = 404
    code = "line_channel_unknown"


class WebhookTooLarge(TownsquareError):
    status = 413
    code = "line_webhook_too_large"


class WebhookSignatureInvalid(TownsquareError):
    status = 401
    code = "line_signature_invalid"


class WebhookMalformed(TownsquareError):
    status = 400
    code = "line_webhook_malformed"


def expected_signature(secret: str, body: bytes) -> bytes:
    """``X-Line-Signature`` of ``body``: base64 of its HMAC-SHA256 keyed by the secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(expected_signature(secret, body), header.strip().encode())


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed ``limit`` bytes: from the
    declared length, else while it streams in — never buffered beyond the limit."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise WebhookMalformed("Content-Length is not a number.")
        if int(declared) > limit:
            raise WebhookTooLarge(f"The body is larger than line.max_body_bytes ({limit}).")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise WebhookTooLarge(f"The body is larger than line.max_body_bytes ({limit}).")
    return bytes(body)


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """The event objects of a webhook body, or `WebhookMalformed` when it is not LINE's
    shape: an object with a ``destination`` and a list of ``events``, each with a type."""
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookMalformed("The body is not JSON.") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("events"), list):
        raise WebhookMalformed("The body is not a LINE webhook: no list of events.")
    if not isinstance(envelope.get("destination"), str):
        raise WebhookMalformed("The body is not a LINE webhook: no destination.")
    events: list[dict[str, Any]] = envelope["events"]
    if not all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in events):
        raise WebhookMalformed("The body is not a LINE webhook: an event has no type.")
    return events


def accept(channel_key: str, event: dict[str, Any]) -> VerifiedEvent | None:
    """The event ready to store, or None (logged) when the SDK cannot model it."""
    event_type: str = event["type"]
    raw_id = event.get("webhookEventId")
    event_id = raw_id if isinstance(raw_id, str) else None
    if Event.get_discriminator_value(event) is None:
        log.info(
            "line_event_skipped",
            reason="unknown_type",
            event_type=event_type[:64],
            event_id=event_id,
            channel=channel_key,
        )
        return None
    try:
        model = Event.from_dict(event)
    except (ValueError, TypeError, KeyError) as exc:
        log.warning(
            "line_event_skipped",
            reason="invalid",
            event_type=event_type,
            event_id=event_id,
            channel=channel_key,
            error=type(exc).__name__,
        )
        return None
    if len(model.webhook_event_id) > _MAX_EVENT_ID or not model.webhook_event_id:
        log.warning(
            "line_event_skipped",
            reason="invalid_event_id",
            event_type=event_type,
            channel=channel_key,
        )
        return None
    space, ordering_key = space_of(channel_key, event.get("source"))
    return VerifiedEvent(
        space=space,
        ordering_key=ordering_key,
        webhook_event_id=model.webhook_event_id,
        event_type=event_type,
        is_redelivery=bool(model.delivery_context.is_redelivery),
        payload=event,
    )


def webhook_router(
    settings: LineSettings,
    *,
    on_stored: Callable[[], None] | None = None,
    engine: AsyncEngine | None = None,
    cache_size: int = COMMUNITY_CACHE_SIZE,
) -> APIRouter:
    """The webhook of every configured channel. It writes with ``engine``, by default the
    app's own (``app.state.engine``, the API pool), so acknowledgements never queue behind
    the workers' connections; ``on_stored`` runs after a commit that stored new events."""
    channels = {channel.key: channel for channel in settings.channels}
    recorder = InboxRecorder(channels, cache_size)
    router = APIRouter(tags=["line"])

    async def receive(request: Request) -> Response:
        channel_key: str = request.path_params["channel_key"]
        channel = channels.get(channel_key)
        if channel is None:
            raise LineChannelUnknown(f"No LINE channel {channel_key[:40]!r} is configured.")
        body = await read_limited(request, settings.max_body_bytes)
        secret = channel.secret.get_secret_value()
        if not signature_ok(secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning(
                "webhook_rejected",
                platform=PLATFORM,
                channel=channel_key,
                reason="signature",
                size=len(body),
            )
            raise WebhookSignatureInvalid("X-Line-Signature does not match the body.")
        accepted = [found for event in parse_events(body) if (found := accept(channel_key, event))]
        if accepted:
            stored = await recorder.record(
                engine or request.app.state.engine, channel_key, accepted
            )
            if stored and on_stored is not None:
                on_stored()
        return Response(content=b"{}", media_type="application/json")

    # A plain route, not an API operation: LINE is its only caller (nothing for /docs), and
    # it skips FastAPI's parameter machinery on the hottest path there is.
    router.add_route(WEBHOOK_PATH, receive, methods=["POST"], include_in_schema=False)
    return router
