"""LINE's message limits, kept: texts split at 5,000 UTF-16 units, alt texts clipped.

LINE counts lengths in UTF-16 code units (most emoji are two), so Python's ``len`` would
let an emoji-heavy text through that LINE refuses. Splitting prefers a line break, then a
space, in the second half of a part, never cuts a surrogate pair, and keeps quick replies on
the last part (LINE shows only the last message's quick replies).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from linebot.v3.messaging import (
    MessageAction,
    PostbackAction,
    QuickReply,
    QuickReplyItem,
    TextMessage,
)

from townsquare.services.conversations import MessageOption, PostbackOption, TextReply

MAX_TEXT_UNITS: Final = 5000
MAX_ALT_TEXT_UNITS: Final = 400


def utf16_length(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


def _units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def split_text(value: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """``value`` in parts of at most ``limit`` UTF-16 units, broken at whitespace when one
    is near the end of a part."""
    if utf16_length(value) <= limit:
        return [value]
    parts: list[str] = []
    start, used, index = 0, 0, 0
    while index < len(value):
        width = _units(value[index])
        if used + width > limit:
            cut = _break_at(value, start, index)
            parts.append(value[start:cut])
            start, used, index = cut, 0, cut
            continue
        used += width
        index += 1
    if start < len(value):
        parts.append(value[start:])
    return [part for part in parts if part]


def _break_at(value: str, start: int, end: int) -> int:
    """Where to end the part ``value[start:end]``: after the last newline or space in its
    second half (so no part is less than half full), else at ``end``."""
    floor = start + (end - start) // 2
    for separator in ("\n", " "):
        found = value.rfind(separator, floor, end)
        if found > start:
            return found + 1
    return end


def clip(value: str, limit: int = MAX_ALT_TEXT_UNITS) -> str:
    """``value`` cut (with "…") to ``limit`` UTF-16 units."""
    if utf16_length(value) <= limit:
        return value
    kept, used = [], 0
    for char in value:
        if used + _units(char) > limit - 1:
            break
        kept.append(char)
        used += _units(char)
    return "".join(kept) + "…"


def split_messages(messages: Sequence[Any]) -> tuple[list[Any], int]:
    """The messages with every over-long text split; and how many texts were split."""
    result: list[Any] = []
    splits = 0
    for message in messages:
        if not isinstance(message, TextMessage) or utf16_length(message.text) <= MAX_TEXT_UNITS:
            result.append(message)
            continue
        splits += 1
        parts = split_text(message.text)
        for number, part in enumerate(parts):
            last = number == len(parts) - 1
            result.append(TextMessage(text=part, quick_reply=message.quick_reply if last else None))
    return result, splits


def quick_reply(options: Sequence[PostbackOption | MessageOption]) -> QuickReply | None:
    """LINE's quick reply buttons for the conversation service's options."""
    if not options:
        return None
    items = []
    for option in options:
        if isinstance(option, PostbackOption):
            action: Any = PostbackAction(
                label=option.label, data=option.data, display_text=option.display_text
            )
        else:
            action = MessageAction(label=option.label, text=option.text)
        items.append(QuickReplyItem(action=action))
    return QuickReply(items=items)


def text_message(reply: TextReply) -> TextMessage:
    """A conversation reply as a LINE text message with its quick replies."""
    return TextMessage(text=reply.text, quick_reply=quick_reply(reply.quick_replies))
