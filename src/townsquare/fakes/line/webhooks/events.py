"""Builders of every documented webhook event, shaped as LINE sends them.

Why every type: the webhook handler must turn each event into a core event or ignore it
knowingly, and the only way to be sure it copes with what LINE really sends (a message
without a reply token in standby mode, a voice message's ``duration``, a ``things`` event
line-bot-sdk v3 no longer models) is to feed it exactly that. Each builder returns a fresh
dict; the envelope keywords (``reply_token``, ``mode``, ``redelivery``, ``timestamp_ms``,
``webhook_event_id``) are ``envelope.Envelope``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Unpack

from townsquare.fakes.line import ids
from townsquare.fakes.line.ids import JSON
from townsquare.fakes.line.webhooks.envelope import Envelope, event, user_source

# -- message events --------------------------------------------------------------------------


def _message(
    source: JSON, content: JSON, message_id: str | None, *, quotable: bool, envelope: Envelope
) -> JSON:
    message: JSON = {"id": message_id or ids.message_id(), **content}
    if quotable:
        message["quoteToken"] = ids.quote_token()
    if source.get("type") == "user":
        message["markAsReadToken"] = ids.quote_token()[:64]
    return event("message", source, replyable=True, fields={"message": message}, **envelope)


def text_message(
    source: JSON,
    text: str,
    *,
    message_id: str | None = None,
    quoted_message_id: str | None = None,
    mentionees: Sequence[JSON] = (),
    emojis: Sequence[JSON] = (),
    **envelope: Unpack[Envelope],
) -> JSON:
    content: JSON = {"type": "text", "text": text}
    if emojis:
        content["emojis"] = [dict(e) for e in emojis]
    if mentionees:
        content["mention"] = {"mentionees": [dict(m) for m in mentionees]}
    if quoted_message_id is not None:
        content["quotedMessageId"] = quoted_message_id
    return _message(source, content, message_id, quotable=True, envelope=envelope)


def mentionee(
    index: int, length: int, user_id: str | None = None, *, is_self: bool = False
) -> JSON:
    """One ``@name`` in a text message (``user_id`` only when the user consented)."""
    mentioned: JSON = {"index": index, "length": length, "type": "user", "isSelf": is_self}
    if user_id is not None:
        mentioned["userId"] = user_id
    return mentioned


def image_message(
    source: JSON,
    *,
    message_id: str | None = None,
    image_set: tuple[str, int, int] | None = None,
    external_urls: tuple[str, str] | None = None,
    **envelope: Unpack[Envelope],
) -> JSON:
    """``image_set``: (set id, index from 1, total) when several images came at once;
    ``external_urls``: (original, preview) when the image is hosted outside LINE."""
    content: JSON = {"type": "image", "contentProvider": _provider(external_urls)}
    if image_set is not None:
        set_id, index, total = image_set
        content["imageSet"] = {"id": set_id, "index": index, "total": total}
    return _message(source, content, message_id, quotable=True, envelope=envelope)


def video_message(
    source: JSON,
    duration_ms: int,
    *,
    message_id: str | None = None,
    external_urls: tuple[str, str] | None = None,
    **envelope: Unpack[Envelope],
) -> JSON:
    content = {
        "type": "video",
        "duration": duration_ms,
        "contentProvider": _provider(external_urls),
    }
    return _message(source, content, message_id, quotable=True, envelope=envelope)


def audio_message(
    source: JSON,
    duration_ms: int,
    *,
    message_id: str | None = None,
    **envelope: Unpack[Envelope],
) -> JSON:
    """A voice message: fetch its m4a bytes from ``/v2/bot/message/{id}/content``."""
    content = {"type": "audio", "duration": duration_ms, "contentProvider": {"type": "line"}}
    return _message(source, content, message_id, quotable=False, envelope=envelope)


def file_message(
    source: JSON,
    file_name: str,
    file_size: int,
    *,
    message_id: str | None = None,
    **envelope: Unpack[Envelope],
) -> JSON:
    content = {"type": "file", "fileName": file_name, "fileSize": file_size}
    return _message(source, content, message_id, quotable=False, envelope=envelope)


def location_message(
    source: JSON,
    latitude: float,
    longitude: float,
    *,
    title: str | None = None,
    address: str | None = None,
    message_id: str | None = None,
    **envelope: Unpack[Envelope],
) -> JSON:
    content: JSON = {"type": "location", "latitude": latitude, "longitude": longitude}
    content.update({k: v for k, v in (("title", title), ("address", address)) if v is not None})
    return _message(source, content, message_id, quotable=False, envelope=envelope)


def sticker_message(
    source: JSON,
    package_id: str,
    sticker_id: str,
    *,
    resource_type: str = "STATIC",
    keywords: Sequence[str] = (),
    text: str | None = None,
    message_id: str | None = None,
    **envelope: Unpack[Envelope],
) -> JSON:
    content: JSON = {
        "type": "sticker",
        "packageId": package_id,
        "stickerId": sticker_id,
        "stickerResourceType": resource_type,
    }
    if keywords:
        content["keywords"] = list(keywords)[:15]
    if text is not None:
        content["text"] = text
    return _message(source, content, message_id, quotable=True, envelope=envelope)


def _provider(external_urls: tuple[str, str] | None) -> JSON:
    if external_urls is None:
        return {"type": "line"}
    original, preview = external_urls
    return {"type": "external", "originalContentUrl": original, "previewImageUrl": preview}


# -- other events ----------------------------------------------------------------------------


def unsend(source: JSON, message_id: str, **envelope: Unpack[Envelope]) -> JSON:
    fields = {"unsend": {"messageId": message_id}}
    return event("unsend", source, replyable=False, fields=fields, **envelope)


def follow(source: JSON, *, unblocked: bool = False, **envelope: Unpack[Envelope]) -> JSON:
    """A user added the account as a friend (``unblocked``: or unblocked it)."""
    fields = {"follow": {"isUnblocked": unblocked}}
    return event("follow", source, replyable=True, fields=fields, **envelope)


def unfollow(source: JSON, **envelope: Unpack[Envelope]) -> JSON:
    return event("unfollow", source, replyable=False, **envelope)


def join(source: JSON, **envelope: Unpack[Envelope]) -> JSON:
    """The bot joined a group or room."""
    return event("join", source, replyable=True, **envelope)


def leave(source: JSON, **envelope: Unpack[Envelope]) -> JSON:
    return event("leave", source, replyable=False, **envelope)


def member_joined(source: JSON, user_ids: Sequence[str], **envelope: Unpack[Envelope]) -> JSON:
    fields = {"joined": {"members": [user_source(u) for u in user_ids]}}
    return event("memberJoined", source, replyable=True, fields=fields, **envelope)


def member_left(source: JSON, user_ids: Sequence[str], **envelope: Unpack[Envelope]) -> JSON:
    fields = {"left": {"members": [user_source(u) for u in user_ids]}}
    return event("memberLeft", source, replyable=False, fields=fields, **envelope)


def postback(
    source: JSON,
    data: str,
    *,
    params: Mapping[str, str] | None = None,
    **envelope: Unpack[Envelope],
) -> JSON:
    """``params``: what a datetime picker chose (``{"datetime": "2017-12-25T01:00"}``,
    ``{"date": …}``, ``{"time": …}``) or a rich menu switch's ``newRichMenuAliasId`` and
    ``status``."""
    content: JSON = {"data": data}
    if params is not None:
        content["params"] = dict(params)
    return event("postback", source, replyable=True, fields={"postback": content}, **envelope)


def video_play_complete(source: JSON, tracking_id: str, **envelope: Unpack[Envelope]) -> JSON:
    fields = {"videoPlayComplete": {"trackingId": tracking_id}}
    return event("videoPlayComplete", source, replyable=True, fields=fields, **envelope)


def beacon(
    source: JSON,
    hwid: str,
    *,
    kind: Literal["enter", "banner", "stay"] = "enter",
    device_message: str | None = None,
    **envelope: Unpack[Envelope],
) -> JSON:
    content: JSON = {"hwid": hwid, "type": kind}
    if device_message is not None:
        content["dm"] = device_message
    return event("beacon", source, replyable=True, fields={"beacon": content}, **envelope)


def account_link(
    source: JSON, nonce: str, *, ok: bool = True, **envelope: Unpack[Envelope]
) -> JSON:
    """A user linked their LINE account to ours (no reply token when linking failed)."""
    fields = {"link": {"result": "ok" if ok else "failed", "nonce": nonce}}
    return event("accountLink", source, replyable=ok, fields=fields, **envelope)


def things_link(source: JSON, device_id: str, **envelope: Unpack[Envelope]) -> JSON:
    fields = {"things": {"deviceId": device_id, "type": "link"}}
    return event("things", source, replyable=True, fields=fields, **envelope)


def things_unlink(source: JSON, device_id: str, **envelope: Unpack[Envelope]) -> JSON:
    fields = {"things": {"deviceId": device_id, "type": "unlink"}}
    return event("things", source, replyable=True, fields=fields, **envelope)


def things_scenario_result(
    source: JSON,
    device_id: str,
    scenario_id: str,
    *,
    result_code: str = "success",
    action_results: Sequence[JSON] = (),
    **envelope: Unpack[Envelope],
) -> JSON:
    at = envelope.get("timestamp_ms", ids.now_ms())
    result: JSON = {
        "scenarioId": scenario_id,
        "revision": 1,
        "startTime": at - 1000,
        "endTime": at,
        "resultCode": result_code,
        "actionResults": [dict(r) for r in action_results],
    }
    fields = {"things": {"deviceId": device_id, "type": "scenarioResult", "result": result}}
    return event("things", source, replyable=True, fields=fields, **envelope)


def membership(
    source: JSON,
    kind: Literal["joined", "left", "renewed"],
    membership_id: int,
    **envelope: Unpack[Envelope],
) -> JSON:
    fields = {"membership": {"type": kind, "membershipId": membership_id}}
    return event("membership", source, replyable=True, fields=fields, **envelope)
