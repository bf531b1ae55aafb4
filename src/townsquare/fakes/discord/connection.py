"""One gateway websocket and one gateway session, as the fake keeps them.

Why a writer task per connection: frames must leave in sequence order and be compressed by
one zlib stream in that same order, while dispatches arrive from tests, REST handlers and
batches. Everything is queued synchronously (the sequence number is fixed at that moment)
and a single task writes, so a batch of 100k events costs no round trip per event.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

# Frames written before the writer lets other tasks (REST, control calls) run.
_FRAMES_PER_TURN = 64
_WRITE_BUFFER_LIMIT = 256 * 1024
_TEXT, _BINARY = 0x1, 0x2


def _frame_header(opcode: int, length: int) -> bytes:
    """RFC 6455 header of a final, unmasked (server-to-client) frame."""
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length))
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def compact(frame: bytes) -> bytes:
    """A copy of exactly the frame's size: orjson's result keeps an ~8 KiB allocation,
    which made a 20k-frame resume buffer cost 160 MB instead of 16 MB."""
    return bytes(memoryview(frame))


@dataclass(frozen=True)
class _CloseRequest:
    code: int
    message: str


class Connection:
    """A websocket with an ordered outgoing queue; zlib-stream compressed when asked."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, *, zlib_stream: bool):
        self.ws = ws
        self._transport = request.transport
        # Level 1: Discord's clients accept any level, and the fake's CPU is the client's
        # when both run in one process.
        self._compressor = zlib.compressobj(1) if zlib_stream else None
        self._queue: deque[bytes | _CloseRequest] = deque()
        self._wakeup = asyncio.Event()
        self.session: Session | None = None
        self.identified = False
        self.closing = False  # the server started closing; no more frames are queued
        self.frames_written = 0

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def send(self, frame: bytes) -> None:
        """Queue one serialized gateway payload; dropped if the server is closing it."""
        if not self.closing:
            self._queue.append(frame)
            self._wakeup.set()

    def send_op(self, op: int, data: Any) -> None:
        self.send(orjson.dumps({"op": op, "d": data, "s": None, "t": None}))

    def close(self, code: int, message: str = "", *, flush: bool = True) -> None:
        """Close with ``code``: after the queued frames, or at once when not ``flush``."""
        if self.closing:
            return
        self.closing = True
        if not flush:
            self._queue.clear()
        self._queue.append(_CloseRequest(code, message))
        self._wakeup.set()

    def abort(self) -> None:
        """Cut the TCP connection without a close frame (the client sees 1006)."""
        self.closing = True
        self._queue.clear()
        if self._transport is not None:
            self._transport.abort()
        self._wakeup.set()

    def stop(self) -> None:
        """The socket is gone: let the writer finish without writing what is queued."""
        self.closing = True
        self._queue.clear()
        self._wakeup.set()

    async def write_loop(self) -> None:
        """Write queued frames in order; a close request ends the loop after its turn."""
        transport = self._transport
        while True:
            if self.ws.closed or transport is None or transport.is_closing():
                return
            if not self._queue:
                if self.closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            chunk, close_request = self._take_turn()
            if chunk:
                transport.write(chunk)
            if close_request is not None:
                await self._close_socket(close_request)
                return
            # Back-pressure: a slow client leaves the frames here, not in the kernel.
            while transport.get_write_buffer_size() > _WRITE_BUFFER_LIMIT:
                if transport.is_closing():
                    return
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)

    def _take_turn(self) -> tuple[bytearray, _CloseRequest | None]:
        """Up to a turn's frames, encoded back to back, so one write carries them all;
        the per-frame cost of a websocket library and a syscall each is what limited the
        fake when it shared a process with the client under test."""
        chunk = bytearray()
        taken = 0
        while self._queue and taken < _FRAMES_PER_TURN:
            item = self._queue.popleft()
            if isinstance(item, _CloseRequest):
                return chunk, item
            if self._compressor is None:
                chunk += _frame_header(_TEXT, len(item))
                chunk += item
            else:
                compressed = self._compressor.compress(item)
                compressed += self._compressor.flush(zlib.Z_SYNC_FLUSH)
                chunk += _frame_header(_BINARY, len(compressed))
                chunk += compressed
            taken += 1
        self.frames_written += taken
        if self.session is not None:
            self.session.frames_written += taken
        return chunk, None

    async def _close_socket(self, request: _CloseRequest) -> None:
        try:
            await self.ws.close(code=request.code, message=request.message.encode())
        except (ConnectionError, RuntimeError):
            self.abort()


@dataclass(eq=False)
class Session:
    """A gateway session: its sequence, and the dispatches a RESUME may replay."""

    session_id: str
    shard_id: int
    shard_count: int
    intents: int
    buffer_size: int
    seq: int = 0
    connection: Connection | None = None
    resumed_count: int = 0
    frames_written: int = 0
    ended: bool = False  # invalidated, or closed by the client with 1000/1001
    buffer: deque[tuple[int, bytes]] = field(init=False)

    def __post_init__(self) -> None:
        self.buffer = deque(maxlen=self.buffer_size)

    def frame(self, event_type: str, data: Any, *, buffered: bool = True) -> tuple[int, bytes]:
        """The next dispatch: a new sequence number, serialized, kept for a RESUME."""
        self.seq += 1
        frame = orjson.dumps({"op": 0, "t": event_type, "s": self.seq, "d": data})
        if buffered:
            frame = compact(frame)
            self.buffer.append((self.seq, frame))
        return self.seq, frame

    def dispatch(self, event_type: str, data: Any) -> int:
        seq, frame = self.frame(event_type, data)
        if self.connection is not None:
            self.connection.send(frame)
        return seq

    def replay_after(self, seq: int) -> list[bytes] | None:
        """Buffered dispatches after ``seq``; None when some of them were already evicted."""
        if seq > self.seq:
            return None
        if seq == self.seq:
            return []
        if not self.buffer or self.buffer[0][0] > seq + 1:
            return None
        return [frame for s, frame in self.buffer if s > seq]
