"""`townsquare.core.Event` as JSON: for the outage spool and for JSONL/CSV imports.

The field names are the event's own, so an import file reads like the documentation;
optional fields are left out when they hold their default. Decoding validates what an
import file might get wrong (unknown kind, missing member, a non-integer time) and says
which field and value, because import files come from outside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from townsquare.core import (
    Balances,
    ChannelType,
    Event,
    EventKind,
    ManualMeta,
    MessageMeta,
    Platform,
    VoiceMeta,
)

_MESSAGE_DEFAULTS = MessageMeta()


class EventFormatError(ValueError):
    """An event document is not a valid event; the message names the field."""


def encode_event(event: Event) -> dict[str, Any]:
    """A JSON-ready dict of the event (defaults left out)."""
    doc: dict[str, Any] = {
        "event_id": event.event_id,
        "kind": event.kind.value,
        "platform": event.platform.value,
        "community_id": event.community_id,
        "member_id": event.member_id,
        "at": event.at,
    }
    if event.channel_id is not None:
        doc["channel_id"] = event.channel_id
    if event.channel_type is not ChannelType.TEXT:
        doc["channel_type"] = event.channel_type.value
    if event.parent_channel_id is not None:
        doc["parent_channel_id"] = event.parent_channel_id
    if event.category_id is not None:
        doc["category_id"] = event.category_id
    if event.roles:
        doc["roles"] = list(event.roles)
    if event.message is not None:
        message = event.message
        doc["message"] = {
            name: getattr(message, name)
            for name in MessageMeta.__dataclass_fields__
            if getattr(message, name) != getattr(_MESSAGE_DEFAULTS, name)
        }
    if event.target_member_id is not None:
        doc["target_member_id"] = event.target_member_id
    if event.target_message_id is not None:
        doc["target_message_id"] = event.target_message_id
    if event.target_roles:
        doc["target_roles"] = list(event.target_roles)
    if event.voice is not None:
        voice = event.voice
        doc["voice"] = {
            "minutes": voice.minutes,
            "muted": voice.muted,
            "deafened": voice.deafened,
            "alone": voice.alone,
            "afk": voice.afk,
        }
    if event.manual is not None:
        amounts = event.manual.amounts
        doc["manual"] = {"xp": amounts.xp, "stars": amounts.stars, "gold": amounts.gold}
        if event.manual.achievement_id is not None:
            doc["manual"]["achievement_id"] = event.manual.achievement_id
    return doc


def _text(doc: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = doc.get(name)
    if value is None:
        if required:
            raise EventFormatError(f"{name}: missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EventFormatError(f"{name}: expected a string id, got {value!r}")
    text = str(value)
    if not text or len(text) > 128:
        raise EventFormatError(f"{name}: must be 1 to 128 characters, got {text!r}")
    return text


def _int(doc: Mapping[str, Any], name: str, default: int | None = None, *, low: int = 0) -> int:
    value = doc.get(name, default)
    if value is None:
        raise EventFormatError(f"{name}: missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventFormatError(f"{name}: expected an integer, got {value!r}")
    if value < low:
        raise EventFormatError(f"{name}: must be >= {low}, got {value}")
    return value


def _bool(doc: Mapping[str, Any], name: str, *, default: bool = False) -> bool:
    value = doc.get(name, default)
    if not isinstance(value, bool):
        raise EventFormatError(f"{name}: expected true or false, got {value!r}")
    return value


_E = TypeVar("_E", EventKind, Platform, ChannelType)


def _choice(enum: type[_E], doc: Mapping[str, Any], name: str, default: _E | None = None) -> _E:
    value = doc.get(name)
    if value is None and default is not None:
        return default
    if isinstance(value, str) and value in enum._value2member_map_:
        return enum(value)
    allowed = ", ".join(member.value for member in enum)
    raise EventFormatError(f"{name}: {value!r} is not one of {allowed}")


def _ids(doc: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = doc.get(name, ())
    if not isinstance(value, list | tuple) or not all(isinstance(v, str | int) for v in value):
        raise EventFormatError(f"{name}: expected a list of ids, got {value!r}")
    return tuple(str(v) for v in value)


def _section(doc: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise EventFormatError(f"{name}: expected an object, got {value!r}")
    return value


def decode_event(doc: Mapping[str, Any]) -> Event:
    """The event a document describes, or `EventFormatError` naming the first bad field."""
    if not isinstance(doc, Mapping):
        raise EventFormatError(f"expected an object, got {type(doc).__name__}")
    kind = _choice(EventKind, doc, "kind")
    message = voice = manual = None
    if (section := _section(doc, "message")) is not None:
        message = MessageMeta(
            length=_int(section, "length", 0),
            links=_int(section, "links", 0),
            code_blocks=_int(section, "code_blocks", 0),
            attachments=_int(section, "attachments", 0),
            emoji=_int(section, "emoji", 0),
            is_reply=_bool(section, "is_reply"),
            in_thread=_bool(section, "in_thread"),
            fingerprint=_int(section, "fingerprint", 0),
            text_known=_bool(section, "text_known", default=True),
        )
    if (section := _section(doc, "voice")) is not None:
        voice = VoiceMeta(
            minutes=_int(section, "minutes"),
            muted=_bool(section, "muted"),
            deafened=_bool(section, "deafened"),
            alone=_bool(section, "alone"),
            afk=_bool(section, "afk"),
        )
    elif kind is EventKind.VOICE_SEGMENT:
        raise EventFormatError("voice: a voice_segment needs voice.minutes")
    if (section := _section(doc, "manual")) is not None:
        manual = ManualMeta(
            Balances(_int(section, "xp", 0), _int(section, "stars", 0), _int(section, "gold", 0)),
            _text(section, "achievement_id", required=False),
        )
    elif kind in (EventKind.MANUAL_AWARD, EventKind.MANUAL_REVOKE):
        raise EventFormatError(f"manual: a {kind.value} needs manual amounts")
    target = _text(doc, "target_member_id", required=False)
    reaction = kind in (EventKind.REACTION_ADDED, EventKind.REACTION_REMOVED)
    if reaction and (target is None or doc.get("target_message_id") is None):
        raise EventFormatError(
            f"target_member_id: a {kind.value} needs target_member_id and target_message_id"
        )
    return Event(
        event_id=_text(doc, "event_id") or "",
        kind=kind,
        platform=_choice(Platform, doc, "platform"),
        community_id=_text(doc, "community_id") or "",
        member_id=_text(doc, "member_id") or "",
        at=_int(doc, "at"),
        channel_id=_text(doc, "channel_id", required=False),
        channel_type=_choice(ChannelType, doc, "channel_type", ChannelType.TEXT),
        parent_channel_id=_text(doc, "parent_channel_id", required=False),
        category_id=_text(doc, "category_id", required=False),
        roles=_ids(doc, "roles"),
        message=message,
        target_member_id=target,
        target_message_id=_text(doc, "target_message_id", required=False),
        target_roles=_ids(doc, "target_roles"),
        voice=voice,
        manual=manual,
    )
