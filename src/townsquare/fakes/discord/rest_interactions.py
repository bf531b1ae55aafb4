"""Application commands, interaction responses and follow-ups.

Discord's rules that bite bots are kept: an interaction is answered once (a second answer
gets 40060), unknown or mistyped tokens get 10062, follow-ups before the first answer get
Unknown Webhook, and a bulk overwrite replaces the whole command list while keeping the ids
of commands that survive. discord.py asks for ``?with_response=1`` on every callback, so the
fake answers with Discord's interaction-callback object (``interaction`` + ``resource``);
without it, 204.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from townsquare.fakes.discord import responses
from townsquare.fakes.discord.calls import BODY, FILES
from townsquare.fakes.discord.payloads import JSON
from townsquare.fakes.discord.world import InteractionRecord, World

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 1, 4, 5, 6, 7
_TRUE = ("1", "true", "True")


class InteractionRoutes:
    def __init__(self, world: World, echo: Callable[[JSON], None]) -> None:
        self._world = world
        self._echo = echo

    def routes(self) -> list[tuple[str, str, Handler]]:
        app_commands = "/applications/{application_id}/commands"
        guild_commands = "/applications/{application_id}/guilds/{guild_id}/commands"
        webhook = "/webhooks/{application_id}/{token}"
        return [
            ("GET", app_commands, self._list_commands),
            ("PUT", app_commands, self._overwrite_commands),
            ("POST", app_commands, self._upsert_command),
            ("GET", guild_commands, self._list_commands),
            ("PUT", guild_commands, self._overwrite_commands),
            ("POST", guild_commands, self._upsert_command),
            ("POST", "/interactions/{interaction_id:\\d+}/{token}/callback", self._callback),
            ("POST", webhook, self._followup),
            ("GET", webhook + "/messages/{message_id}", self._get_webhook_message),
            ("PATCH", webhook + "/messages/{message_id}", self._edit_webhook_message),
            ("DELETE", webhook + "/messages/{message_id}", self._delete_webhook_message),
        ]

    # -- application commands ----------------------------------------------------------------

    def _scope(self, request: web.Request) -> int | web.Response | None:
        """The command list a request addresses (None: global), or the error to answer."""
        if request.match_info["application_id"] != str(self._world.application_id):
            return responses.error(403, *responses.MISSING_ACCESS)
        if "guild_id" not in request.match_info:
            return None
        guild_id = int(request.match_info["guild_id"])
        if guild_id not in self._world.guilds:
            return responses.error(403, *responses.MISSING_ACCESS)
        return guild_id

    async def _list_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        return responses.json_response(self._world.commands.get(scope, []))

    async def _overwrite_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        submitted = request[BODY]
        if not isinstance(submitted, list):
            return responses.error(400, 50109, "The request body contains invalid JSON.")
        errors = self._world.command_errors(submitted)
        if errors:
            return responses.invalid_form_body(errors)
        return responses.json_response(self._world.overwrite_commands(scope, submitted))

    async def _upsert_command(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        submitted = request[BODY]
        if not isinstance(submitted, dict):
            return responses.error(400, 50109, "The request body contains invalid JSON.")
        errors = self._world.command_errors([submitted])
        if errors:
            return responses.invalid_form_body(errors["0"])
        return responses.json_response(self._world.upsert_command(scope, submitted), 201)

    # -- the first answer --------------------------------------------------------------------

    async def _callback(self, request: web.Request) -> web.Response:
        record = self._world.interactions.get(int(request.match_info["interaction_id"]))
        if record is None or record.payload["token"] != request.match_info["token"]:
            return responses.not_found(responses.UNKNOWN_INTERACTION)
        if record.acknowledged:
            return responses.error(400, 40060, "Interaction has already been acknowledged.")
        body: JSON = request[BODY] or {}
        callback_type = body.get("type")
        data: JSON = body.get("data") or {}
        if callback_type == CHANNEL_MESSAGE:
            problem = responses.content_problem(data, request[FILES])
        else:
            problem = responses.too_long(data)
        if problem is not None:
            return problem
        record.acknowledged = True
        message = self._answer(record, callback_type, data, request)
        if request.query.get("with_response") not in _TRUE:
            return responses.no_content()
        flags = int((message or {}).get("flags") or 0)
        callback: JSON = {
            "interaction": {
                "id": record.payload["id"],
                "type": record.payload["type"],
                "response_message_loading": callback_type == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(flags & responses.EPHEMERAL),
            },
            "resource": {"type": callback_type},
        }
        if message is not None:
            callback["interaction"]["response_message_id"] = message["id"]
            callback["resource"]["message"] = message
        return responses.json_response(callback)

    def _answer(
        self, record: InteractionRecord, callback_type: object, data: JSON, request: web.Request
    ) -> JSON | None:
        """The message an answer creates or updates; remembered as ``@original``."""
        if callback_type in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            if callback_type == DEFERRED_CHANNEL_MESSAGE:
                data = {"content": "", "flags": int(data.get("flags") or 0) | responses.LOADING}
            record.original = self._message(record, data, request)
            record.original["type"] = 20 if record.payload["type"] == 2 else 0
            if callback_type == CHANNEL_MESSAGE:
                self._echo(record.original)
            return record.original
        if callback_type in (DEFERRED_UPDATE, UPDATE_MESSAGE) and "message" in record.payload:
            original = record.original or record.payload["message"]
            if callback_type == UPDATE_MESSAGE:
                original = responses.edited_message(original, data, request[FILES])
            record.original = original
            return original
        return None

    def _message(self, record: InteractionRecord, data: JSON, request: web.Request) -> JSON:
        payload = record.payload
        return responses.build_message(
            data,
            request[FILES],
            channel_id=int(payload["channel_id"]),
            author=self._world.bot_user,
            guild_id=int(payload["guild_id"]) if payload.get("guild_id") else None,
            webhook_id=self._world.application_id,
        )

    # -- follow-ups and @original --------------------------------------------------------------

    def _record(self, request: web.Request) -> InteractionRecord | None:
        if request.match_info["application_id"] != str(self._world.application_id):
            return None
        return self._world.interactions_by_token.get(request.match_info["token"])

    def _find(self, record: InteractionRecord, message_id: str) -> JSON | None:
        if message_id == "@original":
            return record.original
        return next((m for m in record.followups if m["id"] == message_id), None)

    async def _followup(self, request: web.Request) -> web.Response:
        record = self._record(request)
        if record is None or not record.acknowledged:
            return responses.not_found(responses.UNKNOWN_WEBHOOK)
        body: JSON = request[BODY] or {}
        problem = responses.content_problem(body, request[FILES])
        if problem is not None:
            return problem
        sent = self._message(record, body, request)
        record.followups.append(sent)
        self._echo(sent)
        if request.query.get("wait") in _TRUE:
            return responses.json_response(sent)
        return responses.no_content()

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        record = self._record(request)
        if record is None:
            return responses.not_found(responses.UNKNOWN_WEBHOOK)
        found = self._find(record, request.match_info["message_id"])
        if found is None:
            return responses.not_found(responses.UNKNOWN_MESSAGE)
        return responses.json_response(found)

    async def _edit_webhook_message(self, request: web.Request) -> web.Response:
        record = self._record(request)
        if record is None:
            return responses.not_found(responses.UNKNOWN_WEBHOOK)
        message_id = request.match_info["message_id"]
        found = self._find(record, message_id)
        if found is None:
            return responses.not_found(responses.UNKNOWN_MESSAGE)
        body: JSON = request[BODY] or {}
        problem = responses.too_long(body)
        if problem is not None:
            return problem
        updated = responses.edited_message(found, body, request[FILES])
        if message_id == "@original":
            record.original = updated
        else:
            record.followups = [updated if m is found else m for m in record.followups]
        return responses.json_response(updated)

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        record = self._record(request)
        if record is None:
            return responses.not_found(responses.UNKNOWN_WEBHOOK)
        message_id = request.match_info["message_id"]
        found = self._find(record, message_id)
        if found is None:
            return responses.not_found(responses.UNKNOWN_MESSAGE)
        if message_id == "@original":
            record.original = None
        else:
            record.followups = [m for m in record.followups if m is not found]
        return responses.no_content()
