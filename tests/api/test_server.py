"""The listening socket `townsquare serve` binds."""

from __future__ import annotations

import asyncio
import socket

from townsquare.api.server import bind_socket


async def test_accepted_connections_have_nagle_off() -> None:
    # asyncio sets TCP_NODELAY only on sockets created as IPPROTO_TCP; with Nagle on, each
    # keep-alive response waited for the client's delayed ACK (~40 ms).
    listener = bind_socket("127.0.0.1", 0)
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("socket")
        accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=listener)
    try:
        port = listener.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            nodelay = await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
        assert nodelay != 0
    finally:
        server.close()
        await server.wait_closed()
