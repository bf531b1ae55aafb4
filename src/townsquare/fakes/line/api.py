"""The Messaging API routes (api.line.me and api-data.line.me on one host), with LINE's answers.

Every call passes one middleware that records it, holds it for an injected delay, checks
``Authorization: Bearer <channel access token>`` (401 otherwise), applies injected faults,
turns unknown routes into LINE's 404 and stamps ``x-line-request-id`` on the answer, as
LINE does on every response. Bodies are LINE's: ``{"message", "details"?}`` on errors,
``{}`` where LINE answers an empty object.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import orjson
from aiohttp import web

from townsquare.fakes.line import ids, validation
from townsquare.fakes.line.calls import ApiCall, CallLog, FaultPlan
from townsquare.fakes.line.ids import JSON
from townsquare.fakes.line.rich_menus import RichMenuRoutes
from townsquare.fakes.line.state import ChannelState, Delivery, LineWorld, sent_messages

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHANNEL: web.RequestKey[ChannelState] = web.RequestKey("line_channel")
BODY: web.RequestKey[Any] = web.RequestKey("line_body")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("line_request_id")

AUTH_MISSING = (
    "Authorization header required. Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
)
AUTH_FAILED = (
    "Authentication failed due to the following reason: invalid token. "
    "Confirm that the access token in the authorization header is valid."
)
_RECORDED_HEADERS = ("Content-Type", "User-Agent", "X-Line-Retry-Key")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_LOADING_SECONDS = tuple(range(5, 61, 5))


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def error(status: int, message: str, details: list[JSON] | None = None) -> web.Response:
    body: JSON = {"message": message}
    if details:
        body["details"] = details
    return json_response(body, status)


def invalid(details: list[JSON]) -> web.Response:
    return json_response(validation.body_errors(details), 400)


def not_found() -> web.Response:
    return error(404, "Not found")


class MessagingApi:
    """The routes; handlers run on the fake's event loop."""

    def __init__(self, world: LineWorld, *, calls: CallLog, faults: FaultPlan) -> None:
        self._world = world
        self._calls = calls
        self._faults = faults
        self._rich_menus = RichMenuRoutes(world, channel_of=lambda r: r[CHANNEL])

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)
        get, post = "GET", "POST"
        routes: list[tuple[str, str, Handler]] = [
            (post, "/v2/bot/message/reply", self._reply),
            (post, "/v2/bot/message/push", self._push),
            (get, "/v2/bot/message/quota", self._quota),
            (get, "/v2/bot/message/quota/consumption", self._consumption),
            (post, "/v2/bot/chat/loading/start", self._loading),
            (get, "/v2/bot/info", self._bot_info),
            (get, "/v2/bot/profile/{user_id}", self._profile),
            (get, "/v2/bot/group/{group_id}/summary", self._group_summary),
            (get, "/v2/bot/group/{group_id}/members/count", self._group_count),
            (get, "/v2/bot/group/{group_id}/member/{user_id}", self._group_member),
            (get, "/v2/bot/message/{message_id}/content", self._content),
            (get, "/v2/bot/message/{message_id}/content/transcoding", self._transcoding),
            *self._rich_menus.routes(),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)

    # -- the middleware ------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        arrived = time.monotonic()
        request[REQUEST_ID] = request_id = ids.request_id()
        raw = await request.read()
        parsed = _parse_json(raw) if request.content_type == "application/json" else None
        if parsed is not None:
            request[BODY] = parsed
        channel = self._authenticate(request)
        unparsable = bool(raw) and request.content_type == "application/json" and parsed is None
        response = await self._respond(request, handler, unparsable, channel)
        response.headers["x-line-request-id"] = request_id
        self._calls.append(
            ApiCall(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                json=request.get(BODY),
                content_type=request.content_type,
                body_size=len(raw),
                headers={h: request.headers[h] for h in _RECORDED_HEADERS if h in request.headers},
                channel_id=None if channel is None else channel.channel.channel_id,
                status=response.status,
                request_id=request_id,
                at=arrived,
            )
        )
        return response

    def _authenticate(self, request: web.Request) -> ChannelState | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return None
        return self._world.channel_for_token(token.strip())

    async def _respond(
        self,
        request: web.Request,
        handler: Handler,
        unparsable: bool,
        channel: ChannelState | None,
    ) -> web.StreamResponse:
        seconds = self._faults.take_delay(request.method, request.path)
        if seconds > 0:
            await asyncio.sleep(seconds)
        if channel is None:
            missing = not request.headers.get("Authorization", "").startswith("Bearer ")
            return error(401, AUTH_MISSING if missing else AUTH_FAILED)
        request[CHANNEL] = channel
        fault = self._faults.take_fault(request.method, request.path)
        if fault is not None:
            return json_response(fault.body, fault.status, dict(fault.headers))
        if unparsable:
            return error(400, "The request body could not be parsed as JSON (line: 1, column: 1)")
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return not_found()
        except web.HTTPMethodNotAllowed:
            return error(405, "Method Not Allowed")
        except Exception as failure:  # noqa: BLE001 - a bug in the fake, kept for the test
            self._calls.error(f"{request.method} {request.path}", failure)
            return error(500, "An internal server error occurred.")

    # -- sending -------------------------------------------------------------------------------

    async def _reply(self, request: web.Request) -> web.Response:
        channel, body = request[CHANNEL], _body(request)
        if "X-Line-Retry-Key" in request.headers:
            return error(400, "The retry key is not supported for this API.")
        token = body.get("replyToken")
        details = [] if token else [validation.detail("May not be empty", "replyToken")]
        details += validation.messages_errors(body.get("messages"))
        if details:
            return invalid(details)
        record = self._world.use_reply_token(str(token), channel.channel.channel_id)
        if record is None:
            return error(400, "Invalid reply token")
        delivery = self._deliver(request, "reply", record.chat_id, body, retry_key=None)
        return json_response({"sentMessages": list(delivery.sent_messages)})

    async def _push(self, request: web.Request) -> web.Response:
        channel, body = request[CHANNEL], _body(request)
        retry_key = request.headers.get("X-Line-Retry-Key")
        if retry_key is not None and not _UUID.match(retry_key):
            return error(400, "The value for the 'X-Line-Retry-Key' header is invalid")
        with self._world.lock:
            accepted = channel.accepted_retry_keys.get(retry_key or "")
            if accepted is not None:
                return json_response(
                    {
                        "message": "The retry key is already accepted",
                        "sentMessages": list(accepted.sent_messages),
                    },
                    409,
                    {"x-line-accepted-request-id": accepted.request_id},
                )
            to = body.get("to")
            details = [] if ids.is_chat_id(to) else [validation.detail("Invalid value", "to")]
            details += validation.messages_errors(body.get("messages"))
            if details:
                return invalid(details)
            if channel.quota is not None and channel.consumption >= channel.quota:
                return error(429, "You have reached your monthly limit.")
            delivery = self._deliver(request, "push", str(to), body, retry_key=retry_key)
        return json_response({"sentMessages": list(delivery.sent_messages)})

    def _deliver(
        self,
        request: web.Request,
        kind: Literal["reply", "push"],
        to: str,
        body: JSON,
        *,
        retry_key: str | None,
    ) -> Delivery:
        messages = tuple(body["messages"])
        delivery = Delivery(
            kind=kind,
            channel_id=request[CHANNEL].channel.channel_id,
            to=to,
            messages=messages,
            sent_messages=sent_messages(messages),
            request_id=request[REQUEST_ID],
            retry_key=retry_key,
            notification_disabled=bool(body.get("notificationDisabled", False)),
            at=time.monotonic(),
        )
        self._world.record(delivery)
        return delivery

    async def _quota(self, request: web.Request) -> web.Response:
        quota = request[CHANNEL].quota
        if quota is None:
            return json_response({"type": "none"})
        return json_response({"type": "limited", "value": quota})

    async def _consumption(self, request: web.Request) -> web.Response:
        return json_response({"totalUsage": request[CHANNEL].consumption})

    async def _loading(self, request: web.Request) -> web.Response:
        body = _body(request)
        chat_id = body.get("chatId")
        if not isinstance(chat_id, str) or not chat_id:
            return invalid([validation.detail("May not be empty", "chatId")])
        seconds = body.get("loadingSeconds", 20)
        if seconds not in _LOADING_SECONDS or isinstance(seconds, bool):
            allowed = ", ".join(map(str, _LOADING_SECONDS))
            message = f"Must be one of the following values: [{allowed}]"
            return invalid([validation.detail(message, "loadingSeconds")])
        if not chat_id.startswith("U") or not ids.is_chat_id(chat_id):
            return error(400, "The loading animation can only be shown in one-on-one chats")
        return json_response({}, 202)

    # -- reading -------------------------------------------------------------------------------

    async def _bot_info(self, request: web.Request) -> web.Response:
        channel = request[CHANNEL].channel
        return json_response(
            {
                "userId": channel.bot_user_id,
                "basicId": channel.basic_id,
                "displayName": channel.display_name,
                "chatMode": "bot",
                "markAsReadMode": "auto",
            }
        )

    async def _profile(self, request: web.Request) -> web.Response:
        profile = self._world.profile(request.match_info["user_id"])
        return not_found() if profile is None else json_response(profile)

    async def _group_summary(self, request: web.Request) -> web.Response:
        group = self._world.group(request.match_info["group_id"])
        return not_found() if group is None else json_response(group[0])

    async def _group_count(self, request: web.Request) -> web.Response:
        group = self._world.group(request.match_info["group_id"])
        return not_found() if group is None else json_response({"count": len(group[1])})

    async def _group_member(self, request: web.Request) -> web.Response:
        group = self._world.group(request.match_info["group_id"])
        user_id = request.match_info["user_id"]
        profile = self._world.profile(user_id)
        if group is None or user_id not in group[1] or profile is None:
            return not_found()
        keys = ("displayName", "userId", "pictureUrl")
        return json_response({k: profile[k] for k in keys if k in profile})

    async def _content(self, request: web.Request) -> web.Response:
        content = self._world.content(request.match_info["message_id"])
        if content is None:
            return not_found()
        return web.Response(body=content.data, content_type=content.content_type)

    async def _transcoding(self, request: web.Request) -> web.Response:
        content = self._world.content(request.match_info["message_id"])
        return not_found() if content is None else json_response({"status": "succeeded"})


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _body(request: web.Request) -> JSON:
    body = request.get(BODY)
    return body if isinstance(body, dict) else {}
