"""The REST API under ``/api/v10``: the routes discord.py calls, with Discord's answers.

Every call passes one middleware that records it, checks ``Authorization: Bot <token>``
(401 otherwise, which discord.py turns into ``LoginFailure``), applies injected faults
(429 with Discord's body and headers, or an error status), turns unknown routes into
Discord's 404/405 bodies and adds the ``X-RateLimit-*`` headers discord.py reads.
Interaction and webhook routes are in ``rest_interactions``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import BodyPartReader, hdrs, web

from townsquare.fakes.discord import intents, payloads, responses
from townsquare.fakes.discord.calls import (
    BODY,
    FILES,
    CallLog,
    FaultPlan,
    RestCall,
    UploadedFile,
    success_headers,
)
from townsquare.fakes.discord.gateway import Gateway
from townsquare.fakes.discord.payloads import JSON
from townsquare.fakes.discord.rest_interactions import InteractionRoutes
from townsquare.fakes.discord.world import World

API_PREFIX = "/api/v10"
# Routes that authenticate with the token in the URL, not with the bot token.
_TOKEN_IN_PATH = re.compile(r"^/(interactions/\d+/[^/]+/callback|webhooks/\d+/[^/]+)")
_RECORDED_HEADERS = ("Content-Type", "User-Agent", "X-Audit-Log-Reason")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def read_body(request: web.Request) -> tuple[Any, tuple[UploadedFile, ...]]:
    """The JSON body (or a multipart ``payload_json``) and a summary of uploaded files."""
    if request.content_type == "multipart/form-data":
        body: Any = None
        files: list[UploadedFile] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            data = await part.read()
            if part.filename:
                content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
                files.append(UploadedFile(part.name or "", part.filename, content_type, len(data)))
            elif part.name == "payload_json":
                body = orjson.loads(bytes(data))
        return body, tuple(files)
    raw = await request.read()
    return (orjson.loads(raw) if raw else None), ()


class RestApi:
    """The REST half of the fake; handlers run on the fake's event loop."""

    def __init__(
        self,
        world: World,
        gateway: Gateway,
        *,
        calls: CallLog,
        faults: FaultPlan,
        gateway_url: Callable[[], str],
        shard_count: int,
        echo_own_messages: bool,
        allowed_privileged_intents: int,
    ) -> None:
        self._world = world
        self._gateway = gateway
        self._calls = calls
        self._faults = faults
        self._gateway_url = gateway_url
        self._shard_count = shard_count
        self._echo = echo_own_messages
        self._app_flags = intents.application_flags(allowed_privileged_intents)
        self._interactions = InteractionRoutes(world, self.echo)

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)
        get, put, post, patch, delete = "GET", "PUT", "POST", "PATCH", "DELETE"
        own_reaction = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"
        routes: list[tuple[str, str, Handler]] = [
            (get, "/gateway", self._gateway_info),
            (get, "/gateway/bot", self._gateway_bot),
            (get, "/users/@me", self._me),
            (get, "/users/{user_id:\\d+}", self._user),
            (post, "/users/@me/channels", self._open_dm),
            (get, "/oauth2/applications/@me", self._application),
            (get, "/applications/@me", self._application),
            (get, "/channels/{channel_id}", self._channel),
            (post, "/channels/{channel_id}/messages", self._send_message),
            (get, "/channels/{channel_id}/messages/{message_id}", self._get_message),
            (patch, "/channels/{channel_id}/messages/{message_id}", self._edit_message),
            (delete, "/channels/{channel_id}/messages/{message_id}", self._delete_message),
            (put, own_reaction, self._ok),
            (delete, own_reaction, self._ok),
            (post, "/channels/{channel_id}/typing", self._ok),
            (get, "/guilds/{guild_id}", self._guild),
            (get, "/guilds/{guild_id}/channels", self._guild_channels),
            (get, "/guilds/{guild_id}/roles", self._guild_roles),
            (get, "/guilds/{guild_id}/members/{user_id}", self._member),
            (put, "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self._add_role),
            (delete, "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self._remove_role),
            *self._interactions.routes(),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, API_PREFIX + path, handler)

    # -- the middleware ------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            return await handler(request)
        arrived = time.monotonic()
        path = request.path[len(API_PREFIX) :]
        try:
            body, files = await read_body(request)
        except (orjson.JSONDecodeError, ValueError):
            body, files = None, ()
            response: web.StreamResponse = responses.error(
                400, 50109, "The request body contains invalid JSON."
            )
        else:
            request[BODY], request[FILES] = body, files
            response = await self._respond(request, handler, path)
        reason = request.headers.get("X-Audit-Log-Reason")
        self._calls.append(
            RestCall(
                method=request.method,
                path=path,
                query=dict(request.query),
                json=body,
                files=files,
                headers={h: request.headers[h] for h in _RECORDED_HEADERS if h in request.headers},
                reason=None if reason is None else unquote(reason),
                status=response.status,
                at=arrived,
            )
        )
        return response

    async def _respond(
        self, request: web.Request, handler: Handler, path: str
    ) -> web.StreamResponse:
        authorized = request.headers.get("Authorization") == f"Bot {self._world.token}"
        if not authorized and not _TOKEN_IN_PATH.match(path) and path != "/gateway":
            return responses.error(401, 0, "401: Unauthorized")
        fault = self._faults.take(request.method, path)
        if fault is not None:
            return web.Response(
                body=orjson.dumps(fault.body),
                status=fault.status,
                content_type="application/json",
                headers=fault.headers,
            )
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            return responses.error(404, 0, "404: Not Found")
        except web.HTTPMethodNotAllowed:
            return responses.error(405, 0, "405: Method Not Allowed")
        except Exception as error:  # noqa: BLE001 - a bug in the fake, kept for the test
            self._calls.error(f"{request.method} {path}", error)
            return responses.error(500, 0, "500: Internal Server Error")
        resource = request.match_info.route.resource
        route_key = f"{request.method} {resource.canonical if resource else path}"
        bucket = hashlib.sha1(route_key.encode(), usedforsecurity=False).hexdigest()[:16]
        response.headers.update(success_headers(bucket))
        return response

    # -- helpers -------------------------------------------------------------------------------

    def echo(self, sent: JSON) -> None:
        """Discord also sends the bot a MESSAGE_CREATE for what it posts (not ephemeral)."""
        if not self._echo or int(sent.get("flags") or 0) & responses.EPHEMERAL:
            return
        echoed = dict(sent)
        if "guild_id" in sent:
            bot_member = self._world.member(int(sent["guild_id"]), int(self._world.bot_user["id"]))
            if bot_member is not None:
                echoed["member"] = payloads.partial_member(bot_member)
        self._gateway.dispatch("MESSAGE_CREATE", echoed)

    @staticmethod
    def _int(request: web.Request, name: str) -> int:
        try:
            return int(request.match_info[name])
        except ValueError:
            raise web.HTTPNotFound from None

    # -- routes --------------------------------------------------------------------------------

    async def _ok(self, request: web.Request) -> web.Response:
        if self._world.channel(self._int(request, "channel_id")) is None:
            return responses.not_found(responses.UNKNOWN_CHANNEL)
        return responses.no_content()

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return responses.json_response({"url": self._gateway_url()})

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return responses.json_response(
            {"url": self._gateway_url(), "shards": self._shard_count, "session_start_limit": limit}
        )

    async def _me(self, request: web.Request) -> web.Response:
        return responses.json_response(self._world.bot_user)

    async def _user(self, request: web.Request) -> web.Response:
        wanted = request.match_info["user_id"]
        for guild in self._world.guilds.values():
            for guild_member in guild["members"]:
                if guild_member["user"]["id"] == wanted:
                    return responses.json_response(guild_member["user"])
        return responses.not_found(responses.UNKNOWN_USER)

    async def _open_dm(self, request: web.Request) -> web.Response:
        recipient_id = str((request[BODY] or {}).get("recipient_id"))
        recipient = next(
            (
                m["user"]
                for g in self._world.guilds.values()
                for m in g["members"]
                if m["user"]["id"] == recipient_id
            ),
            None,
        )
        if recipient is None:
            return responses.not_found(responses.UNKNOWN_USER)
        return responses.json_response(self._world.open_dm(recipient))

    async def _application(self, request: web.Request) -> web.Response:
        info = payloads.application_info(
            self._world.application_id, self._world.bot_user, flags=self._app_flags
        )
        info["approximate_guild_count"] = len(self._world.guilds)
        return responses.json_response(info)

    async def _channel(self, request: web.Request) -> web.Response:
        channel = self._world.channel(self._int(request, "channel_id"))
        if channel is None:
            return responses.not_found(responses.UNKNOWN_CHANNEL)
        return responses.json_response(channel)

    async def _send_message(self, request: web.Request) -> web.Response:
        channel_id = self._int(request, "channel_id")
        if self._world.channel(channel_id) is None:
            return responses.not_found(responses.UNKNOWN_CHANNEL)
        body: JSON = request[BODY] or {}
        problem = responses.content_problem(body, request[FILES])
        if problem is not None:
            return problem
        reference = body.get("message_reference") or {}
        referenced = self._world.messages.get(int(reference.get("message_id") or 0))
        sent = responses.build_message(
            body,
            request[FILES],
            channel_id=channel_id,
            author=self._world.bot_user,
            guild_id=self._world.guild_of_channel(channel_id),
            referenced=referenced,
        )
        self._world.remember_message(sent)
        self.echo(sent)
        return responses.json_response(sent)

    async def _get_message(self, request: web.Request) -> web.Response:
        found = self._world.messages.get(self._int(request, "message_id"))
        if found is None or found["channel_id"] != request.match_info["channel_id"]:
            return responses.not_found(responses.UNKNOWN_MESSAGE)
        return responses.json_response(found)

    async def _edit_message(self, request: web.Request) -> web.Response:
        message_id = self._int(request, "message_id")
        found = self._world.messages.get(message_id)
        if found is None or found["channel_id"] != request.match_info["channel_id"]:
            return responses.not_found(responses.UNKNOWN_MESSAGE)
        updated = responses.edited_message(found, request[BODY] or {}, request[FILES])
        self._world.messages[message_id] = updated
        return responses.json_response(updated)

    async def _delete_message(self, request: web.Request) -> web.Response:
        # Messages users post are dispatched, not stored, so any id in a known channel is
        # accepted; ones the bot posted are forgotten.
        if self._world.channel(self._int(request, "channel_id")) is None:
            return responses.not_found(responses.UNKNOWN_CHANNEL)
        self._world.messages.pop(self._int(request, "message_id"), None)
        return responses.no_content()

    async def _guild(self, request: web.Request) -> web.Response:
        guild = self._world.guilds.get(self._int(request, "guild_id"))
        if guild is None:
            return responses.not_found(responses.UNKNOWN_GUILD)
        return responses.json_response(responses.guild_summary(guild))

    async def _guild_channels(self, request: web.Request) -> web.Response:
        guild = self._world.guilds.get(self._int(request, "guild_id"))
        if guild is None:
            return responses.not_found(responses.UNKNOWN_GUILD)
        return responses.json_response([{**c, "guild_id": guild["id"]} for c in guild["channels"]])

    async def _guild_roles(self, request: web.Request) -> web.Response:
        guild = self._world.guilds.get(self._int(request, "guild_id"))
        if guild is None:
            return responses.not_found(responses.UNKNOWN_GUILD)
        return responses.json_response(guild["roles"])

    async def _member(self, request: web.Request) -> web.Response:
        guild_id = self._int(request, "guild_id")
        if guild_id not in self._world.guilds:
            return responses.not_found(responses.UNKNOWN_GUILD)
        found = self._world.member(guild_id, self._int(request, "user_id"))
        if found is None:
            return responses.not_found(responses.UNKNOWN_MEMBER)
        return responses.json_response(found)

    async def _add_role(self, request: web.Request) -> web.Response:
        return self._change_role(request, add=True)

    async def _remove_role(self, request: web.Request) -> web.Response:
        return self._change_role(request, add=False)

    def _change_role(self, request: web.Request, *, add: bool) -> web.Response:
        guild_id = self._int(request, "guild_id")
        if guild_id not in self._world.guilds:
            return responses.not_found(responses.UNKNOWN_GUILD)
        target = self._world.member(guild_id, self._int(request, "user_id"))
        if target is None:
            return responses.not_found(responses.UNKNOWN_MEMBER)
        role_id = request.match_info["role_id"]
        if self._world.role(guild_id, self._int(request, "role_id")) is None:
            return responses.not_found(responses.UNKNOWN_ROLE)
        if (role_id in target["roles"]) != add:
            roles = [r for r in target["roles"] if r != role_id] + ([role_id] if add else [])
            target["roles"] = roles
            self._gateway.dispatch("GUILD_MEMBER_UPDATE", {**target, "guild_id": str(guild_id)})
        return responses.no_content()
