"""``FakeDiscord``: Discord's gateway and REST API on 127.0.0.1, in a thread of its own.

Why a thread with its own event loop: the client under test (and the benchmark's client)
must not share a loop with the server, or the fake's work would show up as the client's
latency and a blocked client would block the fake. All fake state belongs to that loop;
the public methods hop onto it and return quickly, and the ``wait_for_*`` helpers poll so
they can be awaited from any loop without blocking it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import socket
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from townsquare.fakes.call_log import PathPattern
from townsquare.fakes.discord import intents, payloads
from townsquare.fakes.discord.batch import DispatchBatch, run_batch
from townsquare.fakes.discord.calls import CallLog, FaultPlan, RestCall
from townsquare.fakes.discord.gateway import (
    GATEWAY_PATH,
    ConnectionInfo,
    Gateway,
    GatewayCommand,
    GatewayOptions,
)
from townsquare.fakes.discord.payloads import JSON
from townsquare.fakes.discord.redirect import discord_py_redirected
from townsquare.fakes.discord.rest import API_PREFIX, RestApi
from townsquare.fakes.discord.world import World

T = TypeVar("T")
DEFAULT_TOKEN = "fake-bot-token.townsquare"  # noqa: S105 - the fake's own, not a secret
_START_TIMEOUT = 10.0


class FakeDiscord:
    """``with FakeDiscord(guilds=[...]) as fake:`` — Discord on ``fake.url``, stopped on exit."""

    def __init__(
        self,
        *,
        guilds: Iterable[JSON] = (),
        token: str = DEFAULT_TOKEN,
        application_id: int | None = None,
        bot_user: JSON | None = None,
        shard_count: int = 1,
        heartbeat_interval_ms: int = 41_250,
        allowed_privileged_intents: int = intents.PRIVILEGED,
        filter_by_intents: bool = True,
        echo_own_messages: bool = True,
        resume_buffer_size: int = 20_000,
    ) -> None:
        self.application_id = application_id or payloads.snowflake()
        self.bot_user = bot_user or payloads.user(self.application_id, "Townsquare", bot=True)
        self.bot_user_id = int(self.bot_user["id"])
        self.token = token
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.api_url = self.url + API_PREFIX
        self.gateway_url = f"ws://127.0.0.1:{port}{GATEWAY_PATH}"
        self._world = World(
            token=token, application_id=self.application_id, bot_user=self.bot_user, guilds=guilds
        )
        options = GatewayOptions(
            heartbeat_interval_ms=heartbeat_interval_ms,
            allowed_privileged_intents=allowed_privileged_intents,
            filter_by_intents=filter_by_intents,
            resume_buffer_size=resume_buffer_size,
        )
        self._calls = CallLog()
        self._gateway = Gateway(self._world, options, lambda: self.gateway_url, self._calls.error)
        self._faults = FaultPlan()
        self._rest = RestApi(
            self._world,
            self._gateway,
            calls=self._calls,
            faults=self._faults,
            gateway_url=lambda: self.gateway_url,
            shard_count=shard_count,
            echo_own_messages=echo_own_messages,
            allowed_privileged_intents=allowed_privileged_intents,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fake-discord", daemon=True)
        self._batches: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeDiscord:
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
            raise RuntimeError("the fake Discord did not start") from self._startup_error

    def stop(self) -> None:
        """Close every websocket, stop the server and join its thread (bounded waits)."""
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
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self._rest.install(app)
        app.router.add_get(GATEWAY_PATH, self._gateway.handle)
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
        for task in self._batches:
            task.cancel()
        self._gateway.close_all()  # cleanup waits (bounded) for the close handshakes
        await runner.cleanup()

    def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` on the fake's loop and return its result."""
        loop = self._loop
        if loop is None or not self._started.is_set():
            raise RuntimeError("the fake Discord is not running")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(function(*args))
            except Exception as error:  # noqa: BLE001 - handed to the calling thread
                future.set_exception(error)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=_START_TIMEOUT)

    def redirect_discord_py(self) -> AbstractContextManager[None]:
        """Point this process's discord.py at the fake (REST base and default gateway)."""
        return discord_py_redirected(self.api_url, self.gateway_url)

    # -- gateway control ---------------------------------------------------------------------

    def dispatch(self, event_type: str, data: JSON, shard_id: int | None = None) -> int | None:
        """Send an event to the shard owning ``data["guild_id"]`` (or ``shard_id``). Its
        sequence number, or None when no session owns it or its intents exclude it."""
        event = copy.deepcopy(data)
        return self._call(self._gateway.dispatch, event_type, event, shard_id)

    def dispatch_many(
        self, events: Iterable[tuple[str, JSON]], *, per_second: float | None = None
    ) -> DispatchBatch:
        """Dispatch many events in order without a round trip each; returns at once.

        ``per_second`` paces them; otherwise they go as fast as the sockets take them.
        Await ``batch.wait()`` (or ``wait_until_written()``) for the end. The events are
        not copied: do not change them until the batch is done.
        """
        event_list = list(events)
        batch = DispatchBatch(len(event_list), self.backlog)

        def start() -> None:
            task = asyncio.get_running_loop().create_task(
                run_batch(batch, event_list, self._gateway, per_second)
            )
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

        self._call(start)
        return batch

    def dispatch_raw(self, shard_id: int, frame: str | bytes | JSON) -> int | None:
        """Send any frame as is (e.g. a malformed MESSAGE_CREATE). A dict with op 0 and no
        ``s`` gets the session's next sequence number, which is returned."""
        return self._call(self._gateway.dispatch_raw, shard_id, copy.deepcopy(frame))

    def request_reconnect(self, shard_id: int = 0) -> None:
        """op 7 RECONNECT: discord.py closes and RESUMEs."""
        self._call(self._gateway.request_reconnect, shard_id)

    def drop_connection(self, shard_id: int = 0, code: int | None = 4000) -> None:
        """Close the shard's socket without op 7 (``code`` None: cut TCP, the client sees
        1006). discord.py reconnects and RESUMEs; nothing is lost."""
        self._call(self._gateway.drop_connection, shard_id, code)

    def invalidate_session(self, shard_id: int = 0) -> None:
        """op 9 with d=false: the session is gone and the client IDENTIFYs again."""
        self._call(self._gateway.invalidate_session, shard_id)

    def add_guild(self, guild: JSON) -> int | None:
        """The bot joins a guild: it is stored and its GUILD_CREATE dispatched."""
        return self._call(self._add_guild, copy.deepcopy(guild))

    def _add_guild(self, guild: JSON) -> int | None:
        stored = self._world.add_guild(guild)
        # No "unavailable" key: that is how a client tells a join from an outage's end.
        joined = {k: v for k, v in stored.items() if k != "unavailable"}
        return self._gateway.dispatch("GUILD_CREATE", joined)

    @property
    def connections(self) -> dict[int, ConnectionInfo]:
        """The current session of each shard."""
        return self._call(self._gateway.info)

    @property
    def identify_count(self) -> int:
        return self._gateway.identify_count

    @property
    def resume_count(self) -> int:
        return self._gateway.resume_count

    @property
    def gateway_commands(self) -> list[GatewayCommand]:
        """What clients sent besides heartbeats, IDENTIFY and RESUME (presence, voice, …)."""
        return self._call(lambda: list(self._gateway.commands))

    @property
    def cpu_seconds(self) -> float:
        """CPU time the fake's thread has used: a benchmark running its client in the same
        process subtracts it to see the client's own cost."""
        return self._call(time.thread_time)

    def backlog(self) -> int:
        """Gateway frames queued but not yet written to their sockets."""
        return self._call(self._gateway.backlog)

    async def wait_for_identify(self, count: int = 1, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Until ``count`` IDENTIFYs were accepted since the fake started."""
        identified = self._gateway
        await _wait_until(lambda: identified.identify_count >= count, timeout, f"{count} IDENTIFY")

    async def wait_for_resume(self, count: int = 1, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Until ``count`` RESUMEs were accepted since the fake started."""
        await _wait_until(lambda: self._gateway.resume_count >= count, timeout, f"{count} RESUME")

    async def wait_until_written(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Until every queued gateway frame was written to its socket."""
        await _wait_until(lambda: self.backlog() == 0, timeout, "the gateway backlog to drain")

    # -- REST ----------------------------------------------------------------------------------

    @property
    def calls(self) -> list[RestCall]:
        return self._calls.snapshot()

    def calls_to(self, method: str, pattern: PathPattern) -> list[RestCall]:
        """Calls with this method ("*": any) whose path starts with ``pattern`` (a str) or
        matches it (a compiled regex); paths are relative to /api/v10."""
        return self._calls.matching(method, pattern)

    @property
    def errors(self) -> list[str]:
        """Exceptions raised inside the fake (a bug in it); tests should expect none."""
        return list(self._calls.errors)

    def clear_calls(self) -> None:
        self._calls.clear()

    async def wait_for_call(
        self,
        method: str,
        pattern: PathPattern,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for the fake, not for the caller
        *,
        count: int = 1,
    ) -> RestCall:
        """The ``count``-th matching call, once it has been answered."""

        def found() -> RestCall | None:
            matching = self._calls.matching(method, pattern)
            return matching[count - 1] if len(matching) >= count else None

        return await _wait_until(found, timeout, f"{method} {pattern}")

    def rate_limit(
        self,
        method: str,
        pattern: PathPattern,
        *,
        times: int = 1,
        retry_after: float = 0.2,
        global_: bool = False,
        scope: str | None = None,
    ) -> None:
        """The next ``times`` matching calls get 429 with Discord's body and headers."""
        self._faults.rate_limit(
            method, pattern, times=times, retry_after=retry_after, global_=global_, scope=scope
        )

    def fail(
        self,
        method: str,
        pattern: PathPattern,
        *,
        status: int = 403,
        code: int = 50013,
        message: str = "Missing Permissions",
        times: int = 1,
    ) -> None:
        """The next ``times`` matching calls get ``status`` with ``{"message", "code"}``."""
        self._faults.fail(method, pattern, times=times, status=status, code=code, message=message)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def commands(self) -> dict[int | None, list[JSON]]:
        """Registered application commands: key None for global, else the guild id."""
        return self._call(lambda: copy.deepcopy(self._world.commands))

    def guild(self, guild_id: int) -> JSON | None:
        return self._call(lambda: copy.deepcopy(self._world.guilds.get(guild_id)))

    def member(self, guild_id: int, user_id: int) -> JSON | None:
        return self._call(lambda: copy.deepcopy(self._world.member(guild_id, user_id)))


async def _wait_until(predicate: Callable[[], T | None], timeout: float, what: str) -> T:  # noqa: ASYNC109
    """Poll ``predicate`` until it returns something truthy; polling works on any loop."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"the fake Discord saw no {what} within {timeout}s")
        await asyncio.sleep(0.005)
