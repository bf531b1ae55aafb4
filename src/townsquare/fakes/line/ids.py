"""Identifiers shaped as LINE writes them: user/group/room ids, message ids, tokens, ULIDs.

Why exact shapes: adapters validate ids (``U`` + 32 hex for a user) before storing them,
and log redaction keys on these patterns; a fake inventing its own formats would let
such code go untested.
"""

from __future__ import annotations

import itertools
import secrets
import time
import uuid
from typing import Any

JSON = dict[str, Any]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Message ids are 18-digit decimal strings that grow over time.
_message_counter = itertools.count(int(time.time() * 1000) * 100_000)


def user_id() -> str:
    """``U`` + 32 lowercase hex digits."""
    return "U" + secrets.token_hex(16)


def group_id() -> str:
    return "C" + secrets.token_hex(16)


def room_id() -> str:
    return "R" + secrets.token_hex(16)


def is_chat_id(value: object) -> bool:
    """A user, group or room id as LINE issues them."""
    if not isinstance(value, str) or len(value) != 33 or value[0] not in "UCR":
        return False
    return all(c in "0123456789abcdef" for c in value[1:])


def message_id() -> str:
    return str(next(_message_counter))


def quote_token() -> str:
    """An opaque token a later message can quote this one with."""
    return secrets.token_urlsafe(96)[:128]


def reply_token() -> str:
    return secrets.token_hex(16)


def request_id() -> str:
    """``x-line-request-id``: a UUID per API request."""
    return str(uuid.uuid4())


def rich_menu_id() -> str:
    return "richmenu-" + secrets.token_hex(16)


def webhook_event_id(at_ms: int | None = None) -> str:
    """A ULID (26 Crockford base32 characters, time first), as ``webhookEventId`` is."""
    ms = int(time.time() * 1000) if at_ms is None else at_ms
    value = (ms & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def now_ms() -> int:
    return int(time.time() * 1000)
