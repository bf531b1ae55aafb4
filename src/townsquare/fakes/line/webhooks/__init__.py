"""Webhook bodies as the LINE Platform POSTs them, and their ``X-Line-Signature``.

``events`` builds every documented event type (plus ``unknown_event`` for types LINE may add
later); ``envelope`` holds what they share and makes the signed request: ``body``, ``sign``,
``signed``. Everything is importable from here.

Reply tokens: events LINE sends with a ``replyToken`` get ``reply_token=`` if given (use
``FakeLine.reply_token(chat_id(source))`` so the bot's reply succeeds), else a random token
the fake does not know (a reply gets "Invalid reply token"); ``reply_token=None`` leaves
it out. In ``mode="standby"`` message and postback events carry none (LINE's schema makes
the token optional on those alone).
"""

from townsquare.fakes.line.webhooks.envelope import (
    NO_REPLY_TOKEN_IN_STANDBY,
    USER_AGENT,
    Envelope,
    SignedWebhook,
    body,
    chat_id,
    event,
    group_source,
    room_source,
    sign,
    signed,
    unknown_event,
    user_source,
)
from townsquare.fakes.line.webhooks.events import (
    account_link,
    audio_message,
    beacon,
    file_message,
    follow,
    image_message,
    join,
    leave,
    location_message,
    member_joined,
    member_left,
    membership,
    mentionee,
    postback,
    sticker_message,
    text_message,
    things_link,
    things_scenario_result,
    things_unlink,
    unfollow,
    unsend,
    video_message,
    video_play_complete,
)

# Event types line-bot-sdk v3 (3.27) has no model for: its WebhookParser yields an
# UnknownEvent that keeps only the common properties.
SDK_UNMODELLED_TYPES = frozenset({"things"})

__all__ = [
    "NO_REPLY_TOKEN_IN_STANDBY",
    "SDK_UNMODELLED_TYPES",
    "USER_AGENT",
    "Envelope",
    "SignedWebhook",
    "account_link",
    "audio_message",
    "beacon",
    "body",
    "chat_id",
    "event",
    "file_message",
    "follow",
    "group_source",
    "image_message",
    "join",
    "leave",
    "location_message",
    "member_joined",
    "member_left",
    "membership",
    "mentionee",
    "postback",
    "room_source",
    "sign",
    "signed",
    "sticker_message",
    "text_message",
    "things_link",
    "things_scenario_result",
    "things_unlink",
    "unfollow",
    "unknown_event",
    "unsend",
    "user_source",
    "video_message",
    "video_play_complete",
]
