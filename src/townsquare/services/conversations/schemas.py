"""What a conversation is made of: the session, what the user did, what we reply, and errors.

A session is one user's place in a conversation of one community on one platform: a state
of the flow's machine (`townsquare.services.conversations.machine`) and the flow's typed
data (a pydantic model the flow chooses; the engine never looks inside it). The data may be
personal (a health question, an email address): it is excluded from ``repr`` so a session
that ends up in a log line or a traceback does not carry it, it is cleared whenever the
conversation returns to its initial state, and it is deleted when the session expires.

Postback data travels through the platform and comes back from the user's device, so it
is untrusted input: it is encoded as ``action=translate&lang=ja`` within LINE's 300-byte
limit, and decoding rejects anything else with `InvalidPostback` (never a crash).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Final, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, ConfigDict, Field

from townsquare.core.kinds import Platform
from townsquare.errors import TownsquareError

#: A flow's data model: one pydantic model per flow (a discriminated union is a RootModel).
DataT = TypeVar("DataT", bound=BaseModel)

#: LINE: postback ``data`` is at most 300 characters; we count UTF-8 bytes, which is stricter.
POSTBACK_MAX_BYTES: Final = 300
#: LINE: at most 13 quick reply buttons on one message.
MAX_QUICK_REPLIES: Final = 13
#: LINE: a quick reply button's label is at most 20 characters.
MAX_LABEL_CHARS: Final = 20
#: LINE: a message action's text and a postback's display text are at most 300 characters.
MAX_ACTION_TEXT_CHARS: Final = 300
#: The width of ``conversation_sessions.user_key``.
MAX_USER_KEY_CHARS: Final = 128
_ACTION_FIELD: Final = "action"


# --- Errors ---------------------------------------------------------------------------


class MachineInvalid(TownsquareError):
    """A flow's machine or routing table is inconsistent; every problem is listed."""

    code = "conversation_machine_invalid"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("The conversation machine is not valid: " + "; ".join(problems))


class AmbiguousTransition(TownsquareError):
    """More than one guarded transition accepted the same trigger: the guards overlap."""

    code = "conversation_transition_ambiguous"


class TransitionRejected(TownsquareError):
    """A handler asked for a trigger its state has no transition for (a flow bug).

    Raised so the caller's transaction rolls back: nothing the handler decided is saved.
    """

    code = "conversation_transition_rejected"


class SessionConflict(TownsquareError):
    """The session changed since it was read: the save was based on a stale version."""

    status = 409
    code = "conversation_session_conflict"


class InvalidPostback(TownsquareError):
    """Postback data that is too long, malformed, or has no action."""

    status = 400
    code = "conversation_postback_invalid"


# --- The session -----------------------------------------------------------------------


class SessionKey(BaseModel):
    """Whose conversation: one user on one platform in one community."""

    model_config = ConfigDict(frozen=True)

    community_id: int = Field(ge=1)
    platform: Platform
    # A platform's own user id (LINE ``userId``, Discord snowflake), not a display name.
    user_key: str = Field(min_length=1, max_length=MAX_USER_KEY_CHARS)


class ConversationSession(BaseModel, Generic[DataT]):
    """One user's place in a conversation, as read (and locked) from the database.

    ``version`` is the version that was read; saving a session whose version is no longer
    current raises `SessionConflict`. ``data`` is left out of ``repr`` on purpose.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    community_id: int
    platform: Platform
    user_key: str
    member_id: int | None = None
    state: str
    data: DataT = Field(repr=False)
    version: int = Field(ge=1)
    created_at: datetime
    updated_at: datetime
    expires_at: datetime

    @property
    def key(self) -> SessionKey:
        return SessionKey(
            community_id=self.community_id, platform=self.platform, user_key=self.user_key
        )

    def is_expired(self, now: datetime) -> bool:
        """Expired at ``expires_at`` itself (the same instant `purge_expired` uses)."""
        return self.expires_at <= now


# --- What the user did (triggers) -------------------------------------------------------
#
# Every trigger has a ``key``: the name transitions and routes are declared with
# (``text``, ``command:rank``, ``postback:translate``). Build keys with `On`.


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A text message from the user (its content is theirs: never logged)."""

    text: str = field(repr=False)

    @property
    def key(self) -> str:
        return On.text


@dataclass(frozen=True, slots=True)
class AudioMessage:
    """A voice message; ``content_id`` fetches the audio from the platform."""

    duration_ms: int
    content_id: str

    @property
    def key(self) -> str:
        return On.audio


@dataclass(frozen=True, slots=True)
class Postback:
    """A tapped button or quick reply: an action and its parameters (see `decode_postback`)."""

    action: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False, repr=False)

    @property
    def key(self) -> str:
        return On.postback(self.action)


@dataclass(frozen=True, slots=True)
class Command:
    """A command (``/rank``, a Discord slash command, a LINE text command)."""

    name: str
    args: tuple[str, ...] = field(default=(), repr=False)

    @property
    def key(self) -> str:
        return On.command(self.name)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler's work came to (``sheet_generated``, ``email_sent``): it moves the
    machine after the I/O a guard cannot do (generation may fail; the state then stays)."""

    name: str

    @property
    def key(self) -> str:
        return On.outcome(self.name)


@dataclass(frozen=True, slots=True)
class Timeout:
    """The session was idle past its expiry; only the engine fires it."""

    @property
    def key(self) -> str:
        return On.timeout


Trigger = TextMessage | AudioMessage | Postback | Command | Outcome | Timeout


class On:
    """Trigger keys, for declaring transitions and routes: ``On.command("sheet")``."""

    text: Final = "text"
    audio: Final = "audio"
    timeout: Final = "timeout"

    @staticmethod
    def command(name: str) -> str:
        return f"command:{name}"

    @staticmethod
    def postback(action: str) -> str:
        return f"postback:{action}"

    @staticmethod
    def outcome(name: str) -> str:
        return f"outcome:{name}"


# --- Postback data ------------------------------------------------------------------------


def encode_postback(
    action: str, params: Mapping[str, str] | None = None, *, max_bytes: int = POSTBACK_MAX_BYTES
) -> str:
    """``action=translate&lang=ja``, or `InvalidPostback` when it would not fit ``max_bytes``.

    (Discord's ``custom_id`` holds 100 characters: its adapter passes ``max_bytes=100``.)
    """
    params = dict(params or {})
    if not action:
        raise InvalidPostback("A postback needs an action.")
    if _ACTION_FIELD in params:
        raise InvalidPostback(f"{_ACTION_FIELD!r} is the postback's action, not a parameter.")
    if any(not name for name in params):
        raise InvalidPostback("Postback parameter names cannot be empty.")
    try:
        data = urlencode([(_ACTION_FIELD, action), *params.items()], errors="strict")
    except UnicodeEncodeError as exc:
        raise InvalidPostback("Postback data must be valid Unicode text.") from exc
    size = len(data.encode("utf-8"))
    if size > max_bytes:
        raise InvalidPostback(f"Postback data is {size} bytes; at most {max_bytes} fit.")
    return data


def decode_postback(data: str, *, max_bytes: int = POSTBACK_MAX_BYTES) -> Postback:
    """The `Postback` that `encode_postback` encoded; `InvalidPostback` for anything else."""
    try:
        size = len(data.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidPostback("Postback data must be valid Unicode text.") from exc
    if size > max_bytes:
        raise InvalidPostback(f"Postback data is {size} bytes; at most {max_bytes} are accepted.")
    try:
        pairs = parse_qsl(
            data,
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=max_bytes,
        )
    except (ValueError, UnicodeDecodeError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidPostback("Postback data is not of the form action=…&name=value.") from exc
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise InvalidPostback("Postback data names a parameter twice.")
    fields = dict(pairs)
    action = fields.pop(_ACTION_FIELD, "")
    if not action:
        raise InvalidPostback("Postback data has no action.")
    if any(not name for name in fields):
        raise InvalidPostback("Postback parameter names cannot be empty.")
    return Postback(action, fields)


# --- What we reply --------------------------------------------------------------------------

_Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS)]
_ActionText = Annotated[str, Field(min_length=1, max_length=MAX_ACTION_TEXT_CHARS)]


class PostbackOption(BaseModel):
    """A quick reply button that sends a postback (``data`` from `encode_postback`)."""

    model_config = ConfigDict(frozen=True)

    label: _Label
    data: str = Field(min_length=1, max_length=POSTBACK_MAX_BYTES)
    # Shown in the chat as if the user had typed it (LINE's ``displayText``).
    display_text: _ActionText | None = None


class MessageOption(BaseModel):
    """A quick reply button that sends ``text`` as the user's message."""

    model_config = ConfigDict(frozen=True)

    label: _Label
    text: _ActionText


QuickReply = PostbackOption | MessageOption


def postback_option(
    label: str,
    action: str,
    params: Mapping[str, str] | None = None,
    *,
    display_text: str | None = None,
) -> PostbackOption:
    """A quick reply button for ``action`` with ``params`` (checked against LINE's limits)."""
    return PostbackOption(
        label=label, data=encode_postback(action, params), display_text=display_text
    )


class TextReply(BaseModel):
    """A text reply with up to 13 quick reply buttons.

    Adapters render it: LINE as a text message with ``quickReply`` items; Discord as a
    message with buttons (postback data becomes the button's custom id).
    """

    model_config = ConfigDict(frozen=True)

    text: str = Field(min_length=1)
    quick_replies: tuple[QuickReply, ...] = Field(default=(), max_length=MAX_QUICK_REPLIES)
