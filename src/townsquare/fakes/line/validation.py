"""LINE's checks of message objects, answered in LINE's error shape.

Why at all: a message LINE would refuse (text over 5,000 characters, a flex ``altText`` over
400, an ``http://`` audio URL, six messages in one reply) must fail against the fake too, or
the adapter's splitting and truncation would only be tested in production. The checks are
the documented limits, not every rule LINE has; lengths are counted in UTF-16 code units as
LINE counts them (an emoji is two). Each problem is a ``{"message", "property"}`` detail
under ``"The request body has N error(s)"``.
"""

from __future__ import annotations

from typing import Any

from townsquare.fakes.line.ids import JSON

MAX_MESSAGES = 5
MAX_TEXT = 5000
MAX_ALT_TEXT = 400
MAX_URL = 2000
MAX_QUICK_REPLY_ITEMS = 13
MESSAGE_TYPES = (
    "text",
    "textV2",
    "image",
    "video",
    "audio",
    "location",
    "sticker",
    "imagemap",
    "template",
    "flex",
)
FLEX_CONTAINERS = ("bubble", "carousel")


def detail(message: str, prop: str) -> JSON:
    return {"message": message, "property": prop}


def body_errors(details: list[JSON]) -> JSON:
    """LINE's 400 body for a request whose JSON failed validation."""
    return {"message": f"The request body has {len(details)} error(s)", "details": details}


def messages_errors(messages: Any, prop: str = "messages") -> list[JSON]:
    """Problems with a request's ``messages`` array (empty when LINE would accept it)."""
    if not isinstance(messages, list):
        return [detail("May not be empty", prop)]
    if not 1 <= len(messages) <= MAX_MESSAGES:
        return [detail(f"Size must be between 1 and {MAX_MESSAGES}", prop)]
    found: list[JSON] = []
    for index, message in enumerate(messages):
        found.extend(message_errors(message, f"{prop}[{index}]"))
    return found


def message_errors(message: Any, prop: str) -> list[JSON]:
    if not isinstance(message, dict):
        return [detail("Must be an object", prop)]
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        allowed = ", ".join(MESSAGE_TYPES)
        return [detail(f"Must be one of the following values: [{allowed}]", f"{prop}.type")]
    found = _CHECKS[kind](message, prop)
    found.extend(_quick_reply_errors(message.get("quickReply"), f"{prop}.quickReply"))
    return found


def _text(message: JSON, prop: str) -> list[JSON]:
    return _string(message, "text", prop, MAX_TEXT)


def _image(message: JSON, prop: str) -> list[JSON]:
    return _https(message, "originalContentUrl", prop) + _https(message, "previewImageUrl", prop)


def _audio(message: JSON, prop: str) -> list[JSON]:
    found = _https(message, "originalContentUrl", prop)
    duration = message.get("duration")
    if isinstance(duration, bool) or not isinstance(duration, int):
        found.append(detail("May not be empty", f"{prop}.duration"))
    elif duration < 0:
        found.append(detail("Must be greater than or equal to 0", f"{prop}.duration"))
    return found


def _location(message: JSON, prop: str) -> list[JSON]:
    found = _string(message, "title", prop, 100) + _string(message, "address", prop, 100)
    for key in ("latitude", "longitude"):
        if isinstance(message.get(key), bool) or not isinstance(message.get(key), int | float):
            found.append(detail("May not be empty", f"{prop}.{key}"))
    return found


def _sticker(message: JSON, prop: str) -> list[JSON]:
    return _string(message, "packageId", prop, 100) + _string(message, "stickerId", prop, 100)


def _imagemap(message: JSON, prop: str) -> list[JSON]:
    found = _https(message, "baseUrl", prop) + _string(message, "altText", prop, MAX_ALT_TEXT)
    if not isinstance(message.get("actions"), list):
        found.append(detail("May not be empty", f"{prop}.actions"))
    return found


def _template(message: JSON, prop: str) -> list[JSON]:
    found = _string(message, "altText", prop, MAX_ALT_TEXT)
    if not isinstance(message.get("template"), dict):
        found.append(detail("May not be empty", f"{prop}.template"))
    return found


def _flex(message: JSON, prop: str) -> list[JSON]:
    found = _string(message, "altText", prop, MAX_ALT_TEXT)
    contents = message.get("contents")
    if not isinstance(contents, dict):
        found.append(detail("May not be empty", f"{prop}.contents"))
    elif contents.get("type") not in FLEX_CONTAINERS:
        allowed = ", ".join(FLEX_CONTAINERS)
        found.append(
            detail(f"Must be one of the following values: [{allowed}]", f"{prop}.contents.type")
        )
    return found


def _quick_reply_errors(quick_reply: Any, prop: str) -> list[JSON]:
    if quick_reply is None:
        return []
    items = quick_reply.get("items") if isinstance(quick_reply, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_QUICK_REPLY_ITEMS:
        return [detail(f"Size must be between 1 and {MAX_QUICK_REPLY_ITEMS}", f"{prop}.items")]
    found: list[JSON] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("action"), dict):
            found.append(detail("May not be empty", f"{prop}.items[{index}].action"))
    return found


def _string(message: JSON, key: str, prop: str, max_length: int) -> list[JSON]:
    value = message.get(key)
    if not isinstance(value, str) or not value:
        return [detail("May not be empty", f"{prop}.{key}")]
    if utf16_length(value) > max_length:
        return [detail(f"Length must be between 0 and {max_length}", f"{prop}.{key}")]
    return []


def utf16_length(text: str) -> int:
    """Characters as LINE counts them: UTF-16 code units, so most emoji count as two."""
    return len(text.encode("utf-16-le")) // 2


def _https(message: JSON, key: str, prop: str) -> list[JSON]:
    value = message.get(key)
    if not isinstance(value, str) or not value:
        return [detail("May not be empty", f"{prop}.{key}")]
    if not value.startswith("https://"):
        return [detail("Must be a HTTPS URL", f"{prop}.{key}")]
    if len(value) > MAX_URL:
        return [detail(f"Length must be between 0 and {MAX_URL}", f"{prop}.{key}")]
    return []


_CHECKS = {
    "text": _text,
    "textV2": _text,
    "image": _image,
    "video": _image,
    "audio": _audio,
    "location": _location,
    "sticker": _sticker,
    "imagemap": _imagemap,
    "template": _template,
    "flex": _flex,
}
