"""``FakeLine``: the LINE Messaging API on 127.0.0.1, in a thread of its own.

Why a thread with its own event loop (as ``FakeDiscord``): the client under test must not
share a loop with the server, or the fake's work would count as the client's latency and a
blocked client would block the fake. The platform's state sits behind one lock
(``state.LineWorld``), so control methods (issuing reply tokens, registering profiles,
setting quotas) are plain calls from any thread; ``wait_for_*`` helpers poll, so they can
be awaited on any loop without blocking it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TypeVar

from aiohttp import web

from townsquare.fakes.call_log import PathPattern
from townsquare.fakes.line import ids, webhooks
from townsquare.fakes.line.api import MessagingApi
from townsquare.fakes.line.calls import ApiCall, CallLog, FaultPlan
from townsquare.fakes.line.ids import JSON
from townsquare.fakes.line.state import (
    DEFAULT_REPLY_TOKEN_TTL,
    ChannelRef,
    Content,
    Delivery,
    LineChannel,
    LineWorld,
)

T = TypeVar("T")
_START_TIMEOUT = 10.0


class FakeLine:
    """``with FakeLine() as fake:`` — the Messaging API on ``fake.url``, stopped on exit.

    Point line-bot-sdk v3 at it with ``Configuration(host=fake.url,
    access_token=fake.channel.access_token)``: the SDK then sends both api.line.me and
    api-data.line.me calls here.
    """

    def __init__(self, channels: Iterable[LineChannel] | None = None) -> None:
        channel_list = list(channels) if channels is not None else [LineChannel.new()]
        if not channel_list:
            raise ValueError("the fake LINE needs at least one channel")
        self._world = LineWorld(channel_list)
        self._calls = CallLog()
        self._faults = FaultPlan()
        self._api = MessagingApi(self._world, calls=self._calls, faults=self._faults)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fake-line", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeLine:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(_START_TIMEOUT) or self._startup_error is not None:
            self.stop()
            raise RuntimeError("the fake LINE did not start") from self._startup_error

    def stop(self) -> None:
        """Stop the server and join its thread (bounded waits)."""
        loop, stop_requested = self._loop, self._stop_requested
        if loop is not None and stop_requested is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop_requested.set)
        if self._thread.is_alive():
            self._thread.join(timeout=_START_TIMEOUT)
        self._socket.close()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        self._api.install(app)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        try:
            await runner.setup()
            await web.SockSite(runner, self._socket).start()
        except Exception as error:  # noqa: BLE001 - reported to the starting thread, which raises
            self._startup_error = error
            self._started.set()
            await runner.cleanup()
            return
        self._started.set()
        await self._stop_requested.wait()
        await runner.cleanup()

    # -- channels ------------------------------------------------------------------------------

    @property
    def channel(self) -> LineChannel:
        """The first (default) channel."""
        return self._world.channel_state(None).channel

    @property
    def channels(self) -> list[LineChannel]:
        return self._world.channels

    def add_channel(self, channel: LineChannel | None = None) -> LineChannel:
        """Another official account, with its own access token, secret and quota."""
        added = channel or LineChannel.new(display_name=f"Townsquare {len(self.channels) + 1}")
        self._world.add_channel(added)
        return added

    def set_quota(self, channel: ChannelRef, limit: int | None) -> None:
        """This month's push limit (None: unlimited); consumption carries on."""
        with self._world.lock:
            self._world.channel_state(channel).quota = limit

    def consumption(self, channel: ChannelRef = None) -> int:
        """Messages counted against the quota this month (one per push request)."""
        with self._world.lock:
            return self._world.channel_state(channel).consumption

    # -- the world the bot sees ----------------------------------------------------------------

    def reply_token(
        self,
        chat_id: str,
        *,
        channel: ChannelRef = None,
        ttl_seconds: float = DEFAULT_REPLY_TOKEN_TTL,
    ) -> str:
        """A reply token the channel may use once, within ``ttl_seconds``, to answer
        ``chat_id`` (the user, group or room the event came from)."""
        return self._world.issue_reply_token(chat_id, channel, ttl_seconds)

    def add_user(
        self,
        user_id: str | None = None,
        *,
        display_name: str = "LINE user",
        picture_url: str | None = None,
        status_message: str | None = None,
        language: str | None = "ja",
    ) -> str:
        """A user whose profile the API returns; their id (``U`` + 32 hex)."""
        profile: JSON = {"userId": user_id or ids.user_id(), "displayName": display_name}
        optional = {
            "pictureUrl": picture_url,
            "statusMessage": status_message,
            "language": language,
        }
        profile.update({key: value for key, value in optional.items() if value is not None})
        self._world.add_profile(profile)
        return str(profile["userId"])

    def add_group(
        self,
        group_id: str | None = None,
        *,
        name: str = "LINE group",
        members: Sequence[str] = (),
        picture_url: str | None = None,
    ) -> str:
        """A group chat the bot is in, with these member user ids; its id (``C`` + 32 hex)."""
        summary: JSON = {"groupId": group_id or ids.group_id(), "groupName": name}
        if picture_url is not None:
            summary["pictureUrl"] = picture_url
        self._world.add_group(summary, members)
        return str(summary["groupId"])

    def add_content(self, message_id: str, data: bytes, content_type: str) -> None:
        """What ``GET /v2/bot/message/{message_id}/content`` returns (e.g. a voice message:
        m4a bytes, ``audio/x-m4a``)."""
        self._world.add_content(message_id, Content(bytes(data), content_type))

    def signed_webhook(
        self, events: Sequence[JSON], *, channel: ChannelRef = None
    ) -> webhooks.SignedWebhook:
        """The body and headers LINE would POST to the channel's webhook URL."""
        line_channel = self._world.channel_state(channel).channel
        return webhooks.signed(line_channel.secret, line_channel.bot_user_id, events)

    # -- what the bot did ----------------------------------------------------------------------

    def replies(self, to: str | None = None, *, channel: ChannelRef = None) -> list[Delivery]:
        return self._world.deliveries("reply", to, channel)

    def pushes(self, to: str | None = None, *, channel: ChannelRef = None) -> list[Delivery]:
        return self._world.deliveries("push", to, channel)

    def rich_menus(self, channel: ChannelRef = None) -> dict[str, JSON]:
        """The channel's rich menus by id."""
        with self._world.lock:
            return {
                k: dict(v) for k, v in self._world.channel_state(channel).rich_menus.menus.items()
            }

    def default_rich_menu(self, channel: ChannelRef = None) -> str | None:
        with self._world.lock:
            return self._world.channel_state(channel).rich_menus.default_menu

    def rich_menu_image(self, menu_id: str, channel: ChannelRef = None) -> bytes | None:
        with self._world.lock:
            image = self._world.channel_state(channel).rich_menus.images.get(menu_id)
        return None if image is None else image.data

    @property
    def calls(self) -> list[ApiCall]:
        return self._calls.snapshot()

    def calls_to(self, method: str, pattern: PathPattern) -> list[ApiCall]:
        """Calls with this method ("*": any) whose path starts with ``pattern`` (a str) or
        matches it (a compiled regex), e.g. ``("POST", "/v2/bot/message/push")``."""
        return self._calls.matching(method, pattern)

    def clear_calls(self) -> None:
        self._calls.clear()

    @property
    def errors(self) -> list[str]:
        """Exceptions raised inside the fake (a bug in it); tests should expect none."""
        return self._calls.errors

    async def wait_for_call(
        self,
        method: str,
        pattern: PathPattern,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for the fake, not for the caller
        *,
        count: int = 1,
    ) -> ApiCall:
        """The ``count``-th matching call, once it has been answered."""

        def found() -> ApiCall | None:
            matching = self._calls.matching(method, pattern)
            return matching[count - 1] if len(matching) >= count else None

        return await _wait_until(found, timeout, f"{method} {pattern}")

    # -- faults --------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        pattern: PathPattern,
        *,
        status: int = 500,
        times: int = 1,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        """The next ``times`` matching calls get ``status`` with ``{"message"}`` (LINE's
        wording for 429 and 500 unless given) and, with ``retry_after``, a ``Retry-After``
        header in whole seconds. Failed calls change nothing (a retry key stays unused)."""
        self._faults.fail(
            method, pattern, status=status, times=times, retry_after=retry_after, message=message
        )

    def delay(
        self, method: str, pattern: PathPattern, seconds: float, *, times: int | None = None
    ) -> None:
        """Hold matching calls ``seconds`` before answering (every one until
        ``clear_faults``, or the next ``times``)."""
        self._faults.delay(method, pattern, seconds=seconds, times=times)

    def clear_faults(self) -> None:
        self._faults.clear()


async def _wait_until(predicate: Callable[[], T | None], timeout: float, what: str) -> T:  # noqa: ASYNC109
    """Poll ``predicate`` until it returns something truthy; polling works on any loop."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"the fake LINE saw no {what} within {timeout}s")
        await asyncio.sleep(0.005)
