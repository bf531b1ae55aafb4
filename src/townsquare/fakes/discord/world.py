"""What the fake Discord knows: guilds, DM channels, application commands, interactions.

Why a separate model: the gateway (GUILD_CREATE, member chunks) and the REST routes (get a
member, add a role, answer an interaction) must agree on one state. It is owned by the
fake's event loop thread; other threads read it only through ``FakeDiscord``, which hops
onto that thread and hands out copies.
"""

from __future__ import annotations

import copy
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from townsquare.fakes.discord import payloads
from townsquare.fakes.discord.payloads import JSON

# Interactions and messages are kept for answering later calls; bounded so a benchmark that
# pushes 100k of them does not grow the process without limit.
MAX_REMEMBERED = 20_000
COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


@dataclass
class InteractionRecord:
    """An INTERACTION_CREATE the fake dispatched, and what the bot answered."""

    payload: JSON
    acknowledged: bool = False
    original: JSON | None = None
    followups: list[JSON] = field(default_factory=list)


def _bounded_put(store: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    store[key] = value
    if len(store) > MAX_REMEMBERED:
        store.popitem(last=False)


class World:
    """The guilds and objects one bot can see, indexed for the fake's lookups."""

    def __init__(
        self, *, token: str, application_id: int, bot_user: JSON, guilds: Iterable[JSON]
    ) -> None:
        self.token = token
        self.application_id = application_id
        self.bot_user = bot_user
        self.guilds: dict[int, JSON] = {}
        self.dm_channels: dict[int, JSON] = {}
        self._channel_guild: dict[int, int] = {}
        # None: global commands; a guild id: that guild's commands.
        self.commands: dict[int | None, list[JSON]] = {None: []}
        self.interactions: OrderedDict[int, InteractionRecord] = OrderedDict()
        self.interactions_by_token: OrderedDict[str, InteractionRecord] = OrderedDict()
        self.messages: OrderedDict[int, JSON] = OrderedDict()
        for guild in guilds:
            self.add_guild(guild)

    # -- guilds, channels, members ---------------------------------------------------------

    def add_guild(self, guild: JSON) -> JSON:
        """Store a copy of ``guild``, with the bot's own member added if it is missing."""
        stored = copy.deepcopy(guild)
        bot_id = self.bot_user["id"]
        if not any(m["user"]["id"] == bot_id for m in stored.setdefault("members", [])):
            stored["members"].append(payloads.member(self.bot_user))
            stored["member_count"] = max(stored.get("member_count", 0), len(stored["members"]))
        guild_id = int(stored["id"])
        self.guilds[guild_id] = stored
        for channel in (*stored.get("channels", []), *stored.get("threads", [])):
            self._channel_guild[int(channel["id"])] = guild_id
        return stored

    def guilds_of_shard(self, shard_id: int, shard_count: int) -> list[JSON]:
        return [
            g for gid, g in self.guilds.items() if payloads.shard_of(gid, shard_count) == shard_id
        ]

    def channel(self, channel_id: int) -> JSON | None:
        if channel_id in self.dm_channels:
            return self.dm_channels[channel_id]
        guild = self.guilds.get(self._channel_guild.get(channel_id, 0))
        if guild is None:
            return None
        for channel in (*guild["channels"], *guild.get("threads", [])):
            if channel["id"] == str(channel_id):
                return {**channel, "guild_id": guild["id"]}
        return None

    def guild_of_channel(self, channel_id: int) -> int | None:
        return self._channel_guild.get(channel_id)

    def member(self, guild_id: int, user_id: int) -> JSON | None:
        guild = self.guilds.get(guild_id)
        if guild is None:
            return None
        wanted = str(user_id)
        return next((m for m in guild["members"] if m["user"]["id"] == wanted), None)

    def role(self, guild_id: int, role_id: int) -> JSON | None:
        guild = self.guilds.get(guild_id)
        if guild is None:
            return None
        return next((r for r in guild["roles"] if r["id"] == str(role_id)), None)

    def open_dm(self, recipient: JSON) -> JSON:
        for channel in self.dm_channels.values():
            if channel["recipients"][0]["id"] == recipient["id"]:
                return channel
        channel = payloads.dm_channel(payloads.snowflake(), recipient)
        self.dm_channels[int(channel["id"])] = channel
        return channel

    def apply(self, event_type: str, data: JSON) -> None:
        """Keep the model in step with a dispatched event, so later REST reads agree."""
        if event_type == "GUILD_CREATE":
            self.add_guild(data)
            return
        guild = self.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        if event_type == "GUILD_MEMBER_ADD":
            new_member = {k: v for k, v in data.items() if k != "guild_id"}
            self._remove_member(guild, new_member["user"]["id"])
            guild["members"].append(new_member)
            guild["member_count"] = guild.get("member_count", 0) + 1
        elif event_type == "GUILD_MEMBER_REMOVE":
            if self._remove_member(guild, data["user"]["id"]):
                guild["member_count"] = max(0, guild.get("member_count", 1) - 1)
        elif event_type in ("GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE"):
            guild["roles"] = [r for r in guild["roles"] if r["id"] != data["role"]["id"]]
            guild["roles"].append(data["role"])
        elif event_type == "GUILD_ROLE_DELETE":
            guild["roles"] = [r for r in guild["roles"] if r["id"] != data["role_id"]]
        elif event_type == "GUILD_MEMBER_UPDATE":
            found = self.member(int(guild["id"]), int(data["user"]["id"]))
            if found is not None:
                found.update({k: v for k, v in data.items() if k != "guild_id"})
        elif event_type in ("CHANNEL_CREATE", "CHANNEL_UPDATE", "THREAD_CREATE", "THREAD_UPDATE"):
            key = "threads" if event_type.startswith("THREAD") else "channels"
            guild[key] = [c for c in guild[key] if c["id"] != data["id"]]
            guild[key].append({k: v for k, v in data.items() if k != "newly_created"})
            self._channel_guild[int(data["id"])] = int(guild["id"])
        elif event_type in ("CHANNEL_DELETE", "THREAD_DELETE"):
            for key in ("channels", "threads"):
                guild[key] = [c for c in guild[key] if c["id"] != data["id"]]
            self._channel_guild.pop(int(data["id"]), None)

    @staticmethod
    def _remove_member(guild: JSON, user_id: str) -> bool:
        before = len(guild["members"])
        guild["members"] = [m for m in guild["members"] if m["user"]["id"] != user_id]
        return len(guild["members"]) < before

    # -- application commands ----------------------------------------------------------------

    def overwrite_commands(self, guild_id: int | None, submitted: list[JSON]) -> list[JSON]:
        """Bulk overwrite, as Discord does it: a command keeps its id while its name and type
        stay the same; commands not submitted are deleted."""
        previous = {(c["name"], c.get("type", 1)): c for c in self.commands.get(guild_id, [])}
        stored = []
        for command in submitted:
            command_type = command.get("type", 1)
            kept = previous.get((command["name"], command_type))
            stored.append(self._command(guild_id, command, kept["id"] if kept else None))
        self.commands[guild_id] = stored
        return stored

    def upsert_command(self, guild_id: int | None, submitted: JSON) -> JSON:
        commands = self.commands.setdefault(guild_id, [])
        key = (submitted["name"], submitted.get("type", 1))
        kept = next((c for c in commands if (c["name"], c["type"]) == key), None)
        command = self._command(guild_id, submitted, kept["id"] if kept else None)
        self.commands[guild_id] = [c for c in commands if c is not kept] + [command]
        return command

    def _command(self, guild_id: int | None, submitted: JSON, command_id: str | None) -> JSON:
        command: JSON = {
            "type": 1,
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
            "integration_types": [0],
            "contexts": None,
            "name_localizations": None,
            "description_localizations": None,
            **submitted,
            "id": command_id or str(payloads.snowflake()),
            "application_id": str(self.application_id),
            "version": str(payloads.snowflake()),
        }
        if guild_id is not None:
            command["guild_id"] = str(guild_id)
        return command

    @staticmethod
    def command_errors(submitted: list[JSON]) -> dict[str, Any]:
        """Discord's field errors for invalid commands (name and description rules)."""
        errors: dict[str, Any] = {}
        for index, command in enumerate(submitted):
            problems: dict[str, Any] = {}
            name = command.get("name", "")
            chat_input = command.get("type", 1) == 1
            if not COMMAND_NAME.match(name) or (chat_input and name != name.lower()):
                problems["name"] = _field_error("APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
            description = command.get("description", "")
            if chat_input and not 1 <= len(description) <= 100:
                problems["description"] = _field_error(
                    "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            if problems:
                errors[str(index)] = problems
        return errors

    # -- interactions and messages -----------------------------------------------------------

    def remember_interaction(self, payload: JSON) -> None:
        record = InteractionRecord(payload=payload)
        _bounded_put(self.interactions, int(payload["id"]), record)
        _bounded_put(self.interactions_by_token, payload["token"], record)

    def remember_message(self, sent: JSON) -> None:
        _bounded_put(self.messages, int(sent["id"]), sent)


def _field_error(code: str, message: str) -> JSON:
    return {"_errors": [{"code": code, "message": message}]}
