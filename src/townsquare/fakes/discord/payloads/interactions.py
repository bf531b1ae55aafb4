"""INTERACTION_CREATE for slash commands and components, and the application itself."""

from __future__ import annotations

from collections.abc import Iterable

from townsquare.fakes.discord.payloads.guilds import user
from townsquare.fakes.discord.payloads.ids import (
    ALL_PERMISSIONS,
    ATTACHMENT_SIZE_LIMIT,
    DEFAULT_EVERYONE_PERMISSIONS,
    JSON,
    snowflake,
)


def option(name: str, value: str | int | float | bool, option_type: int | None = None) -> JSON:
    """An application command option value; the type follows the Python type unless given
    (3 string, 4 integer, 5 boolean, 10 number; 6 user, 7 channel, 8 role need ``resolved``).
    """
    if option_type is None:
        option_type = (
            5 if isinstance(value, bool) else 4 if isinstance(value, int) else
            10 if isinstance(value, float) else 3
        )  # fmt: skip
    return {"name": name, "type": option_type, "value": value}


def _interaction(
    interaction_type: int,
    *,
    application_id: int,
    guild_id: int,
    channel: JSON,
    invoker: JSON,
    data: JSON,
    permissions: int,
    interaction_id: int | None,
    token: str | None,
    locale: str,
) -> JSON:
    interaction_id = interaction_id or snowflake()
    return {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": interaction_type,
        "data": data,
        "guild_id": str(guild_id),
        "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
        "channel_id": channel["id"],
        "channel": channel,
        "member": {**invoker, "permissions": str(permissions)},
        "token": token or f"interaction-token-{interaction_id}",
        "version": 1,
        "app_permissions": str(ALL_PERMISSIONS),
        "locale": locale,
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id)},
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }


def interaction_command(
    name: str,
    *,
    application_id: int,
    guild_id: int,
    channel: JSON,
    invoker: JSON,
    options: Iterable[JSON] = (),
    command_id: int | None = None,
    guild_command: bool = False,
    permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
    interaction_id: int | None = None,
    token: str | None = None,
    resolved: JSON | None = None,
    locale: str = "en-US",
) -> JSON:
    """INTERACTION_CREATE for a slash command (type 2) used by ``invoker`` (a full member).

    ``data.guild_id`` is only present for a guild command (``guild_command``), as in Discord;
    discord.py looks the command up among that guild's commands then.
    """
    data: JSON = {
        "id": str(command_id or snowflake()),
        "name": name,
        "type": 1,
        "options": list(options),
    }
    if guild_command:
        data["guild_id"] = str(guild_id)
    if resolved is not None:
        data["resolved"] = resolved
    return _interaction(
        2,
        application_id=application_id,
        guild_id=guild_id,
        channel=channel,
        invoker=invoker,
        data=data,
        permissions=permissions,
        interaction_id=interaction_id,
        token=token,
        locale=locale,
    )


def interaction_component(
    custom_id: str,
    *,
    application_id: int,
    guild_id: int,
    channel: JSON,
    invoker: JSON,
    component_message: JSON,
    component_type: int = 2,
    values: Iterable[str] | None = None,
    permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
    interaction_id: int | None = None,
    token: str | None = None,
    locale: str = "en-US",
) -> JSON:
    """INTERACTION_CREATE for a button (component_type 2) or select on ``component_message``."""
    data: JSON = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:
        data["values"] = list(values)
    payload = _interaction(
        3,
        application_id=application_id,
        guild_id=guild_id,
        channel=channel,
        invoker=invoker,
        data=data,
        permissions=permissions,
        interaction_id=interaction_id,
        token=token,
        locale=locale,
    )
    payload["message"] = component_message
    return payload


def application_info(application_id: int, bot_user: JSON, *, flags: int = 0) -> JSON:
    """``GET /oauth2/applications/@me``: no interactions endpoint URL, so discord.py
    receives interactions over the gateway."""
    return {
        "id": str(application_id),
        "name": bot_user["username"],
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "bot": bot_user,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": flags,
        "owner": user(application_id + 1, "owner"),
        "team": None,
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "tags": [],
        "approximate_guild_count": 0,
    }
