"""A `FakeDiscord` in a child process, so a benchmark's process runs only the client.

Why a process: as a thread, the fake shares the GIL with the client it serves and spends
its CPU (≈19 µs an event) in the process being measured. In production Discord is another
machine; here it is another process. The child builds its guilds and traffic itself from
a small picklable spec — no list of 100k events crosses the boundary — then, told a
phase's name, dispatches it and reports when every frame was written to its socket.

Control protocol over a `multiprocessing` pipe (spawn context; every message a tuple):

    child -> parent    ("ready", FakeAddress, summary) | ("failed", reason)
    parent -> child    ("dispatch", phase, per_second | None) | ("stop",)
    child -> parent    ("written", PhaseReport) | ("failed", reason)

The child ends when told to stop or when the pipe closes (its parent died); ``stop()``
terminates it if it does not, so no orphan outlives a failed run. The builder must be a
module-level function (the spawn context pickles it by name).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Generic, TypeVar

from townsquare.fakes.discord.batch import DispatchBatch
from townsquare.fakes.discord.payloads import JSON
from townsquare.fakes.discord.redirect import discord_py_redirected
from townsquare.fakes.discord.server import DEFAULT_TOKEN, FakeDiscord

SpecT = TypeVar("SpecT")
SummaryT = TypeVar("SummaryT")

#: How often the child checks a running phase for completion (it costs a thread hop).
_POLL_SECONDS = 0.002
_STOP_SECONDS = 10.0


class FakeProcessFailed(RuntimeError):
    """The child could not start, refused a command, or exited."""


@dataclass
class Traffic(Generic[SummaryT]):
    """What the child serves: guilds (in GUILD_CREATE at IDENTIFY) and named phases of
    dispatches; ``summary`` (small, picklable) is handed to the parent when it is ready."""

    guilds: list[JSON]
    phases: dict[str, list[tuple[str, JSON]]]
    summary: SummaryT


@dataclass(frozen=True)
class FakeAddress:
    url: str
    api_url: str
    gateway_url: str
    token: str


@dataclass(frozen=True)
class PhaseReport:
    """One dispatched phase, as the child saw it.

    Times are ``time.monotonic()`` in the child: the same system-wide clock as the
    parent's on Linux (CLOCK_MONOTONIC), so they may be compared on one machine.
    """

    phase: str
    total: int
    dispatched: int  # given a sequence number by the session owning the guild
    dropped: int  # no session owned it, or its intent was not asked for
    started_at: float
    written_at: float  # every frame of the phase written to its socket
    shard_sequences: dict[int, int] = field(default_factory=dict)  # last seq per shard
    cpu_seconds: float = 0.0  # the child process's CPU (fake + traffic) during the phase

    @property
    def seconds(self) -> float:
        return self.written_at - self.started_at


@dataclass(frozen=True)
class _Options:
    shard_count: int
    token: str
    heartbeat_interval_ms: int


class FakeDiscordProcess(Generic[SpecT, SummaryT]):
    """``with FakeDiscordProcess(build, spec) as fake:`` — Discord on ``fake.url`` in a
    child process that runs ``build(spec)`` first; stopped (or killed) on exit."""

    def __init__(
        self,
        build: Callable[[SpecT], Traffic[SummaryT]],
        spec: SpecT,
        *,
        shard_count: int = 1,
        token: str = DEFAULT_TOKEN,
        heartbeat_interval_ms: int = 41_250,
        start_timeout: float = 300.0,
    ) -> None:
        self._build = build
        self._spec = spec
        self._options = _Options(shard_count, token, heartbeat_interval_ms)
        self._start_timeout = start_timeout
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._address: FakeAddress | None = None
        self._summary: SummaryT | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeDiscordProcess[SpecT, SummaryT]:
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
        """Spawn the child and wait until its traffic is built and its server listens."""
        context = multiprocessing.get_context("spawn")
        parent_conn, child_conn = context.Pipe(duplex=True)
        self._conn = parent_conn
        self._process = context.Process(
            target=_child_main,
            args=(child_conn, self._build, self._spec, self._options),
            name="fake-discord",
            daemon=True,
        )
        try:
            self._process.start()
            child_conn.close()
            if not parent_conn.poll(self._start_timeout):
                raise FakeProcessFailed(
                    f"the fake Discord process was not ready within {self._start_timeout:g}s"
                )
            reply = self._receive_now()
            if reply[0] != "ready":
                raise FakeProcessFailed(f"the fake Discord process failed: {reply[1]}")
            self._address, self._summary = reply[1], reply[2]
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Ask the child to stop; terminate, then kill it if it does not (bounded)."""
        process, conn = self._process, self._conn
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("stop",))
        if process is not None and process.pid is not None:
            process.join(_STOP_SECONDS)
            if process.is_alive():
                process.terminate()
                process.join(_STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
        if conn is not None:
            conn.close()
        self._process = self._conn = None

    # -- what the parent uses ----------------------------------------------------------------

    @property
    def address(self) -> FakeAddress:
        if self._address is None:
            raise FakeProcessFailed("the fake Discord process is not running")
        return self._address

    @property
    def url(self) -> str:
        return self.address.url

    @property
    def token(self) -> str:
        return self.address.token

    @property
    def summary(self) -> SummaryT:
        if self._summary is None:
            raise FakeProcessFailed("the fake Discord process is not running")
        return self._summary

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def redirect_discord_py(self) -> AbstractContextManager[None]:
        """Point this process's discord.py at the child (REST base and default gateway)."""
        return discord_py_redirected(self.address.api_url, self.address.gateway_url)

    async def dispatch(
        self,
        phase: str,
        *,
        per_second: float | None = None,
        timeout: float = 600.0,  # noqa: ASYNC109 - the child's deadline, not the caller's
    ) -> PhaseReport:
        """Dispatch a phase (each at most once) and return when every frame was written.

        Waits on the pipe through the event loop (no thread, no blocking call), so the
        client under test keeps running meanwhile.
        """
        conn = self._live()
        conn.send(("dispatch", phase, per_second))
        reply = await self._receive(timeout)
        if reply[0] != "written":
            raise FakeProcessFailed(f"the fake Discord process failed: {reply[1]}")
        report: PhaseReport = reply[1]
        return report

    def _live(self) -> Connection:
        if self._conn is None:
            raise FakeProcessFailed("the fake Discord process is not running")
        return self._conn

    def _receive_now(self) -> tuple[Any, ...]:
        try:
            reply: tuple[Any, ...] = self._live().recv()
        except EOFError:
            exitcode = None if self._process is None else self._process.exitcode
            raise FakeProcessFailed(
                f"the fake Discord process exited (exit code {exitcode})"
            ) from None
        return reply

    async def _receive(self, timeout: float) -> tuple[Any, ...]:  # noqa: ASYNC109
        conn = self._live()
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(conn.fileno(), readable.set)
        try:
            async with asyncio.timeout(timeout):
                while not conn.poll():
                    readable.clear()
                    await readable.wait()
        except TimeoutError:
            raise FakeProcessFailed(
                f"the fake Discord process did not finish within {timeout:g}s"
            ) from None
        finally:
            loop.remove_reader(conn.fileno())
        return self._receive_now()


# -- the child ---------------------------------------------------------------------------------


@dataclass
class _Running:
    phase: str
    batch: DispatchBatch
    cpu_at_start: float


def _child_main(
    conn: Connection,
    build: Callable[[Any], Traffic[Any]],
    spec: Any,
    options: _Options,
) -> None:
    # Ctrl-C reaches the whole process group: the parent decides when the fake stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        traffic = build(spec)
        fake = FakeDiscord(
            guilds=traffic.guilds,
            token=options.token,
            shard_count=options.shard_count,
            heartbeat_interval_ms=options.heartbeat_interval_ms,
        )
        fake.start()
    except Exception as error:  # noqa: BLE001 - reported to the parent, which raises
        _send(conn, ("failed", f"{type(error).__name__}: {error}"))
        conn.close()
        return
    try:
        address = FakeAddress(fake.url, fake.api_url, fake.gateway_url, options.token)
        _send(conn, ("ready", address, traffic.summary))
        _serve(conn, fake, traffic.phases)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which raises
        _send(conn, ("failed", f"{type(error).__name__}: {error}"))
    finally:
        fake.stop()
        conn.close()


def _serve(conn: Connection, fake: FakeDiscord, phases: dict[str, list[tuple[str, JSON]]]) -> None:
    """Answer commands until "stop" or the parent's end of the pipe closes."""
    running: _Running | None = None
    while True:
        if running is not None and running.batch.done and fake.backlog() == 0:
            _send(conn, ("written", _report(running, fake)))
            running = None
        if not conn.poll(_POLL_SECONDS if running is not None else None):
            continue
        try:
            command = conn.recv()
        except EOFError:
            return  # the parent is gone
        if command[0] == "stop":
            return
        if command[0] != "dispatch":
            _send(conn, ("failed", f"unknown command {command[0]!r}"))
            continue
        _, phase, per_second = command
        events = phases.pop(phase, None)  # dispatched once; the batch frees it when done
        if running is not None or events is None:
            why = "a phase is still running" if running else f"no phase {phase!r} left"
            _send(conn, ("failed", why))
            continue
        cpu = time.process_time()
        running = _Running(phase, fake.dispatch_many(events, per_second=per_second), cpu)


def _report(running: _Running, fake: FakeDiscord) -> PhaseReport:
    batch = running.batch
    return PhaseReport(
        phase=running.phase,
        total=batch.total,
        dispatched=batch.dispatched,
        dropped=batch.dropped,
        started_at=batch.started_at,
        written_at=time.monotonic(),
        shard_sequences={shard: info.seq for shard, info in fake.connections.items()},
        cpu_seconds=time.process_time() - running.cpu_at_start,
    )


def _send(conn: Connection, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError, ValueError):  # the parent is gone: nobody to tell
        conn.send(message)
