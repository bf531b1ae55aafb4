"""Running the API under uvicorn inside our own event loop, on a socket we bind ourselves.

Binding first means "port in use" is our clear error, not uvicorn calling ``sys.exit``;
running ``Server.serve()`` ourselves lets ``--duration`` and the demo share the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from townsquare.errors import TownsquareError


class ServerStartFailed(TownsquareError):
    code = "server_start_failed"


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
    # say they are TCP. Without it every keep-alive response waited ~40 ms for the
    # client's delayed ACK (measured: 48 ms vs 6 ms per leaderboard page).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerStartFailed(
            f"Cannot listen on {host}:{port}: {exc.strerror}. Choose another address with "
            "--host/--port (or TOWNSQUARE_API_HOST / TOWNSQUARE_API_PORT)."
        ) from None
    sock.set_inheritable(True)
    return sock


async def serve_http(
    app: FastAPI,
    sock: socket.socket,
    *,
    duration: float | None = None,
    on_started: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles both gracefully), ``duration`` seconds,
    or until ``stop`` is set (a component the process depends on has failed)."""
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    # uvicorn offers no "started" event to wait on.
    while not server.started and not serving.done():  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    if not server.started:
        await serving
        raise ServerStartFailed("The API did not start; see the log above.")
    host, port = sock.getsockname()[:2]
    if on_started is not None:
        on_started(f"http://{host}:{port}")
    timer = (
        asyncio.get_running_loop().call_later(duration, _request_exit, server)
        if duration is not None
        else None
    )
    watcher = asyncio.create_task(_exit_on(stop, server)) if stop is not None else None
    try:
        await serving
    finally:
        if timer is not None:
            timer.cancel()
        if watcher is not None:
            watcher.cancel()
        if not serving.done():
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving


async def _exit_on(stop: asyncio.Event, server: uvicorn.Server) -> None:
    await stop.wait()
    server.should_exit = True


def _request_exit(server: uvicorn.Server) -> None:
    server.should_exit = True
