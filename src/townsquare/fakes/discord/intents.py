"""Gateway intents: which events a session receives and what a message carries.

Why the fake enforces them: Discord silently withholds events whose intent a bot did not
ask for (and blanks message content without MESSAGE_CONTENT). A bot that forgets an intent
works in a naive fake and fails in production; here it fails in the test.
"""

from __future__ import annotations

from typing import Any

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MODERATION = 1 << 2
GUILD_EXPRESSIONS = 1 << 3
GUILD_INTEGRATIONS = 1 << 4
GUILD_WEBHOOKS = 1 << 5
GUILD_INVITES = 1 << 6
GUILD_VOICE_STATES = 1 << 7
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
GUILD_MESSAGE_TYPING = 1 << 11
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
DIRECT_MESSAGE_TYPING = 1 << 14
MESSAGE_CONTENT = 1 << 15
GUILD_SCHEDULED_EVENTS = 1 << 16

PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

# Application flags that say a privileged intent is switched on in the developer portal.
_APPLICATION_FLAG_FOR_INTENT = {
    GUILD_PRESENCES: 1 << 13,
    GUILD_MEMBERS: 1 << 15,
    MESSAGE_CONTENT: 1 << 19,
}

_GUILD_EVENTS = {
    **dict.fromkeys(
        (
            "GUILD_CREATE",
            "GUILD_UPDATE",
            "GUILD_DELETE",
            "GUILD_ROLE_CREATE",
            "GUILD_ROLE_UPDATE",
            "GUILD_ROLE_DELETE",
            "CHANNEL_CREATE",
            "CHANNEL_UPDATE",
            "CHANNEL_DELETE",
            "CHANNEL_PINS_UPDATE",
            "THREAD_CREATE",
            "THREAD_UPDATE",
            "THREAD_DELETE",
            "THREAD_LIST_SYNC",
            "THREAD_MEMBER_UPDATE",
            "STAGE_INSTANCE_CREATE",
            "STAGE_INSTANCE_UPDATE",
            "STAGE_INSTANCE_DELETE",
        ),
        GUILDS,
    ),
    **dict.fromkeys(
        ("GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE", "THREAD_MEMBERS_UPDATE"),
        GUILD_MEMBERS,
    ),
    **dict.fromkeys(("GUILD_BAN_ADD", "GUILD_BAN_REMOVE", "GUILD_AUDIT_LOG_ENTRY_CREATE"), 1 << 2),
    **dict.fromkeys(("GUILD_EMOJIS_UPDATE", "GUILD_STICKERS_UPDATE"), GUILD_EXPRESSIONS),
    "GUILD_INTEGRATIONS_UPDATE": GUILD_INTEGRATIONS,
    "WEBHOOKS_UPDATE": GUILD_WEBHOOKS,
    "INVITE_CREATE": GUILD_INVITES,
    "INVITE_DELETE": GUILD_INVITES,
    "VOICE_STATE_UPDATE": GUILD_VOICE_STATES,
    "PRESENCE_UPDATE": GUILD_PRESENCES,
}
# Events whose intent depends on whether they happen in a guild or in a DM.
_GUILD_OR_DM_EVENTS = {
    **dict.fromkeys(
        ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"),
        (GUILD_MESSAGES, DIRECT_MESSAGES),
    ),
    **dict.fromkeys(
        (
            "MESSAGE_REACTION_ADD",
            "MESSAGE_REACTION_REMOVE",
            "MESSAGE_REACTION_REMOVE_ALL",
            "MESSAGE_REACTION_REMOVE_EMOJI",
        ),
        (GUILD_MESSAGE_REACTIONS, DIRECT_MESSAGE_REACTIONS),
    ),
    "TYPING_START": (GUILD_MESSAGE_TYPING, DIRECT_MESSAGE_TYPING),
}
_CONTENT_FIELDS = ("content", "embeds", "attachments", "components")


def application_flags(allowed_privileged: int) -> int:
    flags = _APPLICATION_FLAG_FOR_INTENT.items()
    return sum(flag for intent, flag in flags if allowed_privileged & intent)


def receives(intents: int, event_type: str, data: Any) -> bool:
    """Whether a session with ``intents`` is sent this event (unlisted events always are)."""
    if event_type in _GUILD_EVENTS:
        return bool(intents & _GUILD_EVENTS[event_type])
    if event_type in _GUILD_OR_DM_EVENTS:
        in_guild, in_dm = _GUILD_OR_DM_EVENTS[event_type]
        has_guild = isinstance(data, dict) and data.get("guild_id") is not None
        return bool(intents & (in_guild if has_guild else in_dm))
    return True


def shaped_for(intents: int, bot_user_id: str, event_type: str, data: Any) -> Any:
    """The event as this session sees it: without MESSAGE_CONTENT a guild message from
    someone else that does not mention the bot arrives with empty content."""
    if (
        event_type not in ("MESSAGE_CREATE", "MESSAGE_UPDATE")
        or intents & MESSAGE_CONTENT
        or not isinstance(data, dict)
        or data.get("guild_id") is None
        or data.get("author", {}).get("id") == bot_user_id
        or any(m.get("id") == bot_user_id for m in data.get("mentions", ()))
    ):
        return data
    blanked = {**data, "content": ""}
    for key in _CONTENT_FIELDS[1:]:
        if key in blanked:
            blanked[key] = []
    blanked.pop("poll", None)
    return blanked
