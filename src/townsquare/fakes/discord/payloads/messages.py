"""Messages, attachments, reactions and the member and thread events of a guild."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from townsquare.fakes.discord.payloads.guilds import partial_member
from townsquare.fakes.discord.payloads.ids import JSON, optional_id, snowflake, timestamp


def attachment(
    filename: str,
    *,
    attachment_id: int | None = None,
    size: int = 1024,
    content_type: str | None = None,
    width: int | None = None,
    height: int | None = None,
) -> JSON:
    attachment_id = attachment_id or snowflake()
    url = f"https://cdn.discordapp.com/attachments/0/{attachment_id}/{filename}"
    payload: JSON = {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
    }
    if content_type is not None:
        payload["content_type"] = content_type
    if width is not None and height is not None:
        payload.update(width=width, height=height)
    return payload


def message(
    channel_id: int,
    author: JSON,
    content: str,
    *,
    message_id: int | None = None,
    guild_id: int | None = None,
    author_member: JSON | None = None,
    attachments: Iterable[JSON] = (),
    embeds: Iterable[JSON] = (),
    components: Iterable[JSON] = (),
    mentions: Iterable[JSON] = (),
    mention_roles: Iterable[int] = (),
    referenced_message: JSON | None = None,
    sent_at: datetime | None = None,
    edited_at: datetime | None = None,
    flags: int = 0,
    webhook_id: int | None = None,
) -> JSON:
    """A message as in MESSAGE_CREATE; ``referenced_message`` makes it a reply (type 19).

    ``author_member`` may be a full member; only its partial form is embedded, as Discord does.
    """
    payload: JSON = {
        "id": str(message_id or snowflake(sent_at)),
        "type": 19 if referenced_message is not None else 0,
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": timestamp(sent_at),
        "edited_timestamp": None if edited_at is None else timestamp(edited_at),
        "tts": False,
        "mention_everyone": False,
        "mentions": list(mentions),
        "mention_roles": [str(r) for r in mention_roles],
        "attachments": list(attachments),
        "embeds": list(embeds),
        "components": list(components),
        "pinned": False,
        "flags": flags,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    if author_member is not None:
        payload["member"] = partial_member(author_member)
    if webhook_id is not None:
        payload["webhook_id"] = str(webhook_id)
    if referenced_message is not None:
        payload["message_reference"] = {
            "type": 0,
            "message_id": referenced_message["id"],
            "channel_id": referenced_message["channel_id"],
            **({"guild_id": str(guild_id)} if guild_id is not None else {}),
        }
        payload["referenced_message"] = referenced_message
    return payload


def emoji(name: str, emoji_id: int | None = None, *, animated: bool = False) -> JSON:
    """A partial emoji: unicode (``emoji("👍")``) or custom (name and id)."""
    payload: JSON = {"id": optional_id(emoji_id), "name": name}
    if emoji_id is not None:
        payload["animated"] = animated
    return payload


def reaction_add(
    *,
    user_id: int,
    channel_id: int,
    message_id: int,
    reaction_emoji: JSON,
    guild_id: int | None = None,
    reactor_member: JSON | None = None,
    message_author_id: int | None = None,
    burst: bool = False,
) -> JSON:
    """MESSAGE_REACTION_ADD data; ``reactor_member`` is the full member of the reacting user."""
    payload = reaction_remove(
        user_id=user_id,
        channel_id=channel_id,
        message_id=message_id,
        reaction_emoji=reaction_emoji,
        guild_id=guild_id,
        burst=burst,
    )
    payload["burst_colors"] = []
    if reactor_member is not None:
        payload["member"] = reactor_member
    if message_author_id is not None:
        payload["message_author_id"] = str(message_author_id)
    return payload


def reaction_remove(
    *,
    user_id: int,
    channel_id: int,
    message_id: int,
    reaction_emoji: JSON,
    guild_id: int | None = None,
    burst: bool = False,
) -> JSON:
    """MESSAGE_REACTION_REMOVE data (Discord sends no member and no message author here)."""
    payload: JSON = {
        "user_id": str(user_id),
        "channel_id": str(channel_id),
        "message_id": str(message_id),
        "emoji": reaction_emoji,
        "burst": burst,
        "type": 1 if burst else 0,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    return payload


def thread_create(thread: JSON, *, newly_created: bool = True) -> JSON:
    return {**thread, "newly_created": newly_created}


def guild_member_add(guild_id: int, new_member: JSON) -> JSON:
    return {**new_member, "guild_id": str(guild_id)}


def guild_member_remove(guild_id: int, removed_user: JSON) -> JSON:
    return {"guild_id": str(guild_id), "user": removed_user}
