"""Derive `MessageMeta` from message text at the edge, so the content never travels further.

Adapters call `message_meta(...)` once per message; afterwards only counts and a similarity
fingerprint exist. Pure functions (hashlib is a pure digest, not I/O): the same text gives
the same metadata on every machine and process (unlike ``hash()``, which is salted).
"""

from __future__ import annotations

import hashlib
import re

from townsquare.core.events import MessageMeta

_LINK = re.compile(r"https?://\S+", re.IGNORECASE)
_CODE_FENCE = re.compile(r"```.*?```", re.DOTALL)
_CUSTOM_EMOJI = re.compile(r"<a?:\w{2,32}:\d{5,25}>")

# Pictographic code points (emoji blocks, dingbats, misc symbols, arrows used as emoji).
_PICTO = (
    "\U0001f000-\U0001faff"
    "\u2600-\u27bf"
    "\u2300-\u23ff"
    "\u2b00-\u2bff"
    "\u2190-\u21ff"
    "\u3030\u303d\u3297\u3299"
)
_MODIFIERS = "\ufe0f\U0001f3fb-\U0001f3ff"
# One emoji as a reader sees it: flags (pairs of regional indicators), keycaps, and
# pictographs with variation selectors, skin tones and zero-width-joiner sequences.
_UNICODE_EMOJI = re.compile(
    "[\U0001f1e6-\U0001f1ff]{2}"
    "|[0-9#*]\ufe0f?\u20e3"
    f"|[{_PICTO}][{_MODIFIERS}]*(?:\u200d[{_PICTO}][{_MODIFIERS}]*)*"
)

_WHITESPACE = re.compile(r"\s+")
_SHINGLE = 4
_MAX_FINGERPRINT_CHARS = 4000
_MASK64 = (1 << 64) - 1


def count_emoji(text: str) -> int:
    """Unicode emoji (a ZWJ family or a flag counts once) plus Discord custom emoji."""
    custom = len(_CUSTOM_EMOJI.findall(text))
    without_custom = _CUSTOM_EMOJI.sub(" ", text) if custom else text
    return custom + len(_UNICODE_EMOJI.findall(without_custom))


def count_links(text: str) -> int:
    """http(s) links in the text."""
    return len(_LINK.findall(text))


def count_code_blocks(text: str) -> int:
    """Fenced code blocks (``` ... ```)."""
    return len(_CODE_FENCE.findall(text))


def content_fingerprint(text: str) -> int:
    """A 64-bit SimHash of the normalized text; near-identical texts differ in few bits.

    Normalization casefolds and collapses whitespace so "Hello  World" and "hello world"
    collide. Shingles are character 4-grams, which works for languages without spaces
    (Japanese, Thai — common on LINE). Returns 0 only for empty text.
    """
    normalized = _WHITESPACE.sub(" ", text.casefold()).strip()[:_MAX_FINGERPRINT_CHARS]
    if not normalized:
        return 0
    if len(normalized) < _SHINGLE:
        shingles = [normalized]
    else:
        shingles = [normalized[i : i + _SHINGLE] for i in range(len(normalized) - _SHINGLE + 1)]
    weights = [0] * 64
    for shingle in shingles:
        digest = hashlib.blake2b(shingle.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "big")
        for bit in range(64):
            weights[bit] += 1 if (value >> bit) & 1 else -1
    fingerprint = 0
    for bit, weight in enumerate(weights):
        if weight > 0:
            fingerprint |= 1 << bit
    return (fingerprint & _MASK64) or 1


def message_meta(
    text: str,
    *,
    attachments: int = 0,
    is_reply: bool = False,
    in_thread: bool = False,
) -> MessageMeta:
    """All metadata the rules use for one message, computed from its text once."""
    return MessageMeta(
        length=len(text),
        links=count_links(text),
        code_blocks=count_code_blocks(text),
        attachments=attachments,
        emoji=count_emoji(text),
        is_reply=is_reply,
        in_thread=in_thread,
        fingerprint=content_fingerprint(text),
    )
