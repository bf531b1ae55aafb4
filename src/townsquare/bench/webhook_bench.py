"""LINE webhook acknowledgement under load (``townsquare bench webhook``).

What is timed is what LINE waits for: a signed webhook POSTed until its 200 arrives — body
read with the size limit, signature checked, events validated with line-bot-sdk's models,
stored in the inbox in one transaction (deduplicated), committed. The receiver is the real
thing: ``townsquare serve`` in a process of its own with one LINE channel configured, on a
scratch database (created, migrated and dropped here). No worker runs in it, so the figures
are the acknowledgement path alone; ``townsquare run`` adds the workers to the same process.

Load: one text-message event per request (LINE's usual delivery), in ``chats`` group chats
and as many one-to-one chats, every body signed before the clock starts. A warm-up sends a
message to every chat first (a chat's first message creates its community, once). Then:

- **paced**: ``rate`` requests/s for ``seconds``, open loop (each request leaves on its
  schedule, whatever the answers before it): ``p50_ms``/``p99_ms``;
- **flat out**: ``requests`` more with ``concurrency`` in flight: ``requests_per_s``.

The client is a few lines of HTTP/1.1 over keep-alive sockets rather than a full client
library, so that on a small machine (client and server share the cores) the client's own
CPU does not crowd out the server. Latencies still include the client; ``client_lag_p99_ms``
says how late the paced requests left, ``other_processes_cores`` how many cores processes
outside the bench kept busy meanwhile (quote it with the figures). The bench fails unless
every acknowledged event is in the inbox exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import orjson
import psycopg

from townsquare.bench.leaderboard_bench import percentiles
from townsquare.bench.scratch import scratch_database
from townsquare.config.settings import DatabaseSettings
from townsquare.errors import TownsquareError
from townsquare.fakes.line import ids, webhooks
from townsquare.store.engine import libpq_url, translate_errors_sync

CHANNEL = "benchmark"
_PATH = f"/line/webhook/{CHANNEL}"


class WebhookBenchFailed(TownsquareError):
    code = "webhook_bench_failed"


def _bodies(count: int, chats: int, secret: str, rng: random.Random) -> list[bytes]:
    """``count`` signed HTTP requests (head and body), one message event each."""
    sources = [webhooks.group_source(ids.group_id(), ids.user_id()) for _ in range(chats)]
    sources += [webhooks.user_source(ids.user_id()) for _ in range(chats)]
    requests = []
    for n in range(count):
        source = sources[n] if n < len(sources) else rng.choice(sources)
        text = "x" * rng.randint(5, 200)
        body = webhooks.body("U" + "b" * 32, [webhooks.text_message(source, text)])
        head = (
            f"POST {_PATH} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"User-Agent: {webhooks.USER_AGENT}\r\n"
            f"X-Line-Signature: {webhooks.sign(secret, body)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


class _Connection:
    """One keep-alive HTTP/1.1 connection that POSTs prepared requests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


class _Load:
    def __init__(self, host: str, port: int, connections: int) -> None:
        self.host, self.port, self.size = host, port, connections
        self.pool: asyncio.Queue[_Connection] = asyncio.Queue()
        self.errors = 0

    async def __aenter__(self) -> _Load:
        for _ in range(self.size):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.pool.put_nowait(_Connection(reader, writer))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        while not self.pool.empty():
            self.pool.get_nowait().writer.close()

    async def send(self, request: bytes) -> float:
        """Milliseconds from send (waiting for a free connection included) to the answer."""
        started = time.perf_counter()
        connection = await self.pool.get()
        try:
            status = await connection.send(request)
        finally:
            self.pool.put_nowait(connection)
        self.errors += status != 200
        return (time.perf_counter() - started) * 1000

    async def paced(self, requests: list[bytes], rate: float) -> tuple[list[float], list[float]]:
        """Open loop at ``rate``/s: latencies and how late each request left (ms)."""
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        lags: list[float] = []
        sending: list[asyncio.Task[float]] = []
        for index, request in enumerate(requests):
            due = start + index / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            lags.append(max(0.0, (loop.time() - due) * 1000))
            sending.append(asyncio.create_task(self.send(request)))
        return list(await asyncio.gather(*sending)), lags

    async def flat_out(self, requests: list[bytes]) -> tuple[list[float], float]:
        """Closed loop: each connection sends its next request as soon as it has its answer.
        Latencies (ms, on the connection) and the wall time (s)."""
        queue = list(reversed(requests))
        latencies: list[float] = []

        async def client() -> None:
            while queue:
                latencies.append(await self.send(queue.pop()))

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(self.size)))
        return latencies, time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _receiver(url: str, secret: str, settings: DatabaseSettings) -> Iterator[int]:
    """``townsquare serve`` with one LINE channel, on a free local port (yielded)."""
    port = _free_port()
    channels = [{"key": CHANNEL, "secret": secret, "access_token": "bench"}]
    env = {
        **os.environ,
        "TOWNSQUARE_DATABASE_URL": url,
        "TOWNSQUARE_DATABASE_POOL_SIZE": str(settings.pool_size),
        "TOWNSQUARE_DATABASE_MAX_OVERFLOW": str(settings.max_overflow),
        "TOWNSQUARE_API_HOST": "127.0.0.1",
        "TOWNSQUARE_API_PORT": str(port),
        "TOWNSQUARE_LINE_CHANNELS": orjson.dumps(channels).decode(),
        "TOWNSQUARE_LOG_LEVEL": "WARNING",
    }
    with tempfile.TemporaryFile("w+") as errors:  # a pipe nobody reads would fill and block
        process = subprocess.Popen(
            [sys.executable, "-m", "townsquare", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            text=True,
        )
        try:
            _wait_healthy(process, port, errors)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(process: subprocess.Popen[str], port: int, errors: IO[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            errors.seek(0)
            tail = errors.read().strip()[-500:]
            raise WebhookBenchFailed(f"The receiver exited at start: {tail}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise WebhookBenchFailed("The receiver did not answer /health within 60 s.")
        time.sleep(0.1)


async def _drive(
    port: int, batches: dict[str, list[bytes]], rate: float, concurrency: int
) -> dict[str, float]:
    async with _Load("127.0.0.1", port, concurrency) as load:
        for request in batches["warmup"]:
            await load.send(request)
        before = _cpu_sample()
        paced, lags = await load.paced(batches["paced"], rate)
        others = _other_cores(before, _cpu_sample())
        seconds = (len(paced) - 1) / rate if len(paced) > 1 else 1.0
        flat, wall = await load.flat_out(batches["flat"])
        errors = load.errors
    p50, p99 = percentiles(paced)
    flat_p50, flat_p99 = percentiles(flat)
    return {
        "rate": float(rate),
        "requests": float(len(paced) + len(flat)),
        "errors": float(errors),
        "requests_per_s": len(flat) / wall,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": max(paced),
        "paced_requests_per_s": len(paced) / seconds,
        "client_lag_p99_ms": percentiles(lags)[1],
        "flat_out_p50_ms": flat_p50,
        "flat_out_p99_ms": flat_p99,
        **({} if others is None else {"other_processes_cores": others}),
    }


_CpuSample = tuple[int, int, float]  # machine busy jiffies, all jiffies, our tree's CPU s


def _cpu_sample() -> _CpuSample | None:
    """What the machine and this bench (this process and its children: the receiver, an
    embedded PostgreSQL) have used so far; None where /proc cannot tell (not Linux)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        parents: dict[int, int] = {}
        used: dict[int, float] = {}
        ticks = os.sysconf("SC_CLK_TCK")
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    parents[int(entry.name)] = int(stat[1])
                    used[int(entry.name)] = (int(stat[11]) + int(stat[12])) / ticks
    except (OSError, ValueError):
        return None
    ours, grew = {os.getpid()}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in ours} - ours
        ours |= found
        grew = bool(found)
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields), sum(used.get(pid, 0.0) for pid in ours)


def _other_cores(before: _CpuSample | None, after: _CpuSample | None) -> float | None:
    """Cores other processes kept busy between the samples (the machine's load apart from
    this bench: what to quote next to the figures)."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    cpus = os.cpu_count() or 1
    busy = (after[0] - before[0]) / (after[1] - before[1]) * cpus
    wall_seconds = (after[1] - before[1]) / os.sysconf("SC_CLK_TCK") / cpus
    ours = (after[2] - before[2]) / wall_seconds if wall_seconds > 0 else 0.0
    return max(0.0, busy - ours)


def run_webhook_bench(
    server_url: str,
    settings: DatabaseSettings,
    *,
    rate: int = 500,
    seconds: float = 10.0,
    requests: int = 5_000,
    concurrency: int = 32,
    chats: int = 200,
    seed: int = 1,
) -> dict[str, Any]:
    """Measure on a scratch database of the server at ``server_url`` (dropped afterwards)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic load, not secrets
    secret = f"{rng.getrandbits(128):032x}"
    paced = max(2, int(rate * seconds))
    prepared = _bodies(2 * chats + paced + requests, chats, secret, rng)
    batches = {
        "warmup": prepared[: 2 * chats],
        "paced": prepared[2 * chats : 2 * chats + paced],
        "flat": prepared[2 * chats + paced :],
    }
    load_before = os.getloadavg()[0]
    with translate_errors_sync(server_url, settings), ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_database(server_url, settings))
        except psycopg.errors.InsufficientPrivilege:
            raise WebhookBenchFailed(
                "The webhook bench needs the right to create a scratch database on the server."
            ) from None
        port = stack.enter_context(_receiver(url, secret, settings))
        figures = asyncio.run(_drive(port, batches, rate, concurrency))
        with psycopg.connect(libpq_url(url)) as conn:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT webhook_event_id) FROM webhook_inbox"
            )
            stored, distinct = row.fetchone() or (0, 0)
    sent = len(prepared)
    if figures["errors"] or stored != sent or distinct != sent:
        raise WebhookBenchFailed(
            f"{sent} events sent, {figures['errors']:.0f} not acknowledged, {stored} stored "
            f"({distinct} distinct): every acknowledged event must be stored exactly once."
        )
    return {
        **figures,
        "events_stored": float(stored),
        "load_avg_1m_before": load_before,
        "load_avg_1m_after": os.getloadavg()[0],
        "cpus": float(os.cpu_count() or 1),
    }
