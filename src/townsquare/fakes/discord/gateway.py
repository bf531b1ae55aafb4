"""The gateway websocket protocol (API v10, JSON, zlib-stream or uncompressed).

HELLO on connect; heartbeats acknowledged; IDENTIFY checked (token, shard, privileged
intents: Discord's close codes 4004, 4010, 4014) and answered with READY and one
GUILD_CREATE per guild of the shard; RESUME replays every buffered dispatch after the
client's sequence, then RESUMED; an unknown session gets INVALID_SESSION. Events are routed
to the shard that owns their guild, ``(guild_id >> 22) % shard_count``, and filtered by the
session's intents as Discord does. Runs on the fake's event loop only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from townsquare.fakes.discord import intents, payloads
from townsquare.fakes.discord.connection import Connection, Session, compact
from townsquare.fakes.discord.payloads import JSON
from townsquare.fakes.discord.world import World

GATEWAY_PATH = "/gateway"
API_VERSION = 10

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11
_CLIENT_OPS = {
    HEARTBEAT,
    IDENTIFY,
    PRESENCE_UPDATE,
    VOICE_STATE_UPDATE,
    RESUME,
    REQUEST_GUILD_MEMBERS,
}
_TRACE = {"_trace": ["townsquare-fake-discord"]}
# Guild events that carry the guild in ``id`` rather than ``guild_id``.
_GUILD_ID_IN_ID = {"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"}


@dataclass(frozen=True)
class GatewayOptions:
    heartbeat_interval_ms: int
    allowed_privileged_intents: int
    filter_by_intents: bool
    resume_buffer_size: int


@dataclass(frozen=True)
class ConnectionInfo:
    """A shard's current session as tests see it."""

    shard_id: int
    shard_count: int
    session_id: str
    intents: int
    connected: bool
    resumable: bool
    resumed_count: int
    seq: int
    frames_written: int


@dataclass(frozen=True)
class GatewayCommand:
    """Something a client sent besides heartbeats, IDENTIFY and RESUME (e.g. op 4)."""

    shard_id: int | None
    op: int
    data: Any


class Gateway:
    """All gateway connections and sessions of one fake Discord."""

    def __init__(
        self,
        world: World,
        options: GatewayOptions,
        url: Callable[[], str],
        on_error: Callable[[str, BaseException], None],
    ) -> None:
        self._world = world
        self._on_error = on_error
        self._options = options
        self._url = url
        self._connections: set[Connection] = set()
        self._sessions: dict[str, Session] = {}
        self.shard_sessions: dict[int, Session] = {}
        self.identify_count = 0
        self.resume_count = 0
        self.commands: list[GatewayCommand] = []

    # -- the websocket endpoint --------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("encoding", "json") != "json":
            raise web.HTTPBadRequest(text="only encoding=json is supported by the fake")
        # A client asking for zstd-stream gets uncompressed text frames, which discord.py
        # (and Discord's own clients) accept whatever compression was requested.
        zlib_stream = request.query.get("compress") == "zlib-stream"
        ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 20, timeout=5.0)
        await ws.prepare(request)
        connection = Connection(ws, request, zlib_stream=zlib_stream)
        self._connections.add(connection)
        writer = asyncio.create_task(connection.write_loop())
        connection.send_op(HELLO, {"heartbeat_interval": self._options.heartbeat_interval_ms})
        try:
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    self._on_payload(connection, message.data)
                except Exception as error:  # noqa: BLE001 - a bug in the fake, kept for the test
                    self._on_error("gateway", error)
        finally:
            self._connections.discard(connection)
            self._forget(connection, client_code=None if connection.closing else ws.close_code)
            connection.stop()
            await writer
        return ws

    def _forget(self, connection: Connection, *, client_code: int | None) -> None:
        session = connection.session
        if session is None or session.connection is not connection:
            return
        session.connection = None
        if client_code in (1000, 1001):
            # Discord: a client that closes with 1000/1001 ends its session for good.
            self._end_session(session)

    def _end_session(self, session: Session) -> None:
        """Not resumable any more; still listed for the shard until the next IDENTIFY."""
        session.ended = True
        self._sessions.pop(session.session_id, None)

    def _on_payload(self, connection: Connection, raw: str | bytes) -> None:
        try:
            payload = orjson.loads(raw)
            op, data = payload["op"], payload.get("d")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            connection.close(4002, "Error while decoding payload.")
            return
        if op not in _CLIENT_OPS:
            connection.close(4001, "Unknown opcode.")
        elif op == HEARTBEAT:
            connection.send_op(HEARTBEAT_ACK, None)
        elif op == IDENTIFY:
            self._identify(connection, data)
        elif op == RESUME:
            self._resume(connection, data)
        elif not connection.identified:
            connection.close(4003, "Not authenticated.")
        else:
            shard_id = connection.session.shard_id if connection.session else None
            self.commands.append(GatewayCommand(shard_id, op, data))
            if op == REQUEST_GUILD_MEMBERS and connection.session is not None:
                self._send_member_chunk(connection.session, data)

    def _token_ok(self, token: Any) -> bool:
        return isinstance(token, str) and token.removeprefix("Bot ") == self._world.token

    def _identify(self, connection: Connection, data: Any) -> None:
        if connection.identified:
            connection.close(4005, "Already authenticated.")
            return
        if not isinstance(data, dict) or not self._token_ok(data.get("token")):
            connection.close(4004, "Authentication failed.")
            return
        shard = data.get("shard", [0, 1])
        if not (isinstance(shard, list) and len(shard) == 2 and 0 <= shard[0] < shard[1]):
            connection.close(4010, "Invalid shard.")
            return
        wanted = data.get("intents")
        if not isinstance(wanted, int) or wanted < 0 or wanted >= 1 << 26:
            connection.close(4013, "Invalid intent(s).")
            return
        if wanted & intents.PRIVILEGED & ~self._options.allowed_privileged_intents:
            connection.close(4014, "Disallowed intent(s).")
            return
        shard_id, shard_count = shard
        session = Session(
            session_id=uuid.uuid4().hex,
            shard_id=shard_id,
            shard_count=shard_count,
            intents=wanted,
            buffer_size=self._options.resume_buffer_size,
            connection=connection,
        )
        connection.session = session
        connection.identified = True
        self._sessions[session.session_id] = session
        self.shard_sessions[shard_id] = session
        self.identify_count += 1
        guilds = self._world.guilds_of_shard(shard_id, shard_count)
        session.dispatch("READY", self._ready(session, guilds))
        for guild in guilds:
            session.dispatch("GUILD_CREATE", guild)

    def _ready(self, session: Session, guilds: list[JSON]) -> JSON:
        return {
            "v": API_VERSION,
            "user": self._world.bot_user,
            "guilds": [{"id": g["id"], "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self._url(),
            "shard": [session.shard_id, session.shard_count],
            "application": {
                "id": str(self._world.application_id),
                "flags": intents.application_flags(self._options.allowed_privileged_intents),
            },
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "user_settings": {},
            "_trace": ["townsquare-fake-discord"],
        }

    def _resume(self, connection: Connection, data: Any) -> None:
        if not isinstance(data, dict) or not self._token_ok(data.get("token")):
            connection.close(4004, "Authentication failed.")
            return
        session = self._sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        replay = session.replay_after(seq) if session and isinstance(seq, int) else None
        if session is None or replay is None:
            connection.send_op(INVALID_SESSION, False)
            return
        if session.connection is not None and session.connection is not connection:
            session.connection.close(4000, "Session resumed elsewhere.", flush=False)
        session.connection = connection
        connection.session = session
        connection.identified = True
        for frame in replay:
            connection.send(frame)
        _, resumed = session.frame("RESUMED", _TRACE, buffered=False)
        connection.send(resumed)
        session.resumed_count += 1
        self.resume_count += 1

    def _send_member_chunk(self, session: Session, request: Any) -> None:
        if not isinstance(request, dict):
            return
        guild_id = int(request.get("guild_id") or 0)
        guild = self._world.guilds.get(guild_id)
        members = guild["members"] if guild else []
        if request.get("user_ids"):
            wanted = {str(u) for u in request["user_ids"]}
            members = [m for m in members if m["user"]["id"] in wanted]
        elif request.get("query"):
            prefix = str(request["query"]).lower()
            members = [
                m
                for m in members
                if m["user"]["username"].lower().startswith(prefix)
                or (m.get("nick") or "").lower().startswith(prefix)
            ]
        if request.get("limit"):
            members = members[: int(request["limit"])]
        chunk: JSON = {
            "guild_id": str(guild_id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if request.get("nonce") is not None:
            chunk["nonce"] = request["nonce"]
        session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    # -- control, called by FakeDiscord on the loop ------------------------------------------

    def session_for(self, event_type: str, data: Any, shard_id: int | None) -> Session | None:
        """The live session that receives this event, if any."""
        if shard_id is None:
            guild_id = data.get("guild_id") if isinstance(data, dict) else None
            if guild_id is None and event_type in _GUILD_ID_IN_ID and isinstance(data, dict):
                guild_id = data.get("id")
            if guild_id is None:
                shard_id = 0  # Discord sends DMs to shard 0
            else:
                shard_id = next(
                    (
                        s.shard_id
                        for s in self.shard_sessions.values()
                        if payloads.shard_of(int(guild_id), s.shard_count) == s.shard_id
                    ),
                    None,
                )
        session = None if shard_id is None else self.shard_sessions.get(shard_id)
        return None if session is None or session.ended else session

    def dispatch(self, event_type: str, data: Any, shard_id: int | None = None) -> int | None:
        """Send one event to the shard that owns it; its sequence number, or None when no
        session owns it or the session's intents exclude it."""
        if isinstance(data, dict):
            self._world.apply(event_type, data)
            if event_type == "INTERACTION_CREATE":
                self._world.remember_interaction(data)
        session = self.session_for(event_type, data, shard_id)
        if session is None:
            return None
        if self._options.filter_by_intents:
            if not intents.receives(session.intents, event_type, data):
                return None
            data = intents.shaped_for(session.intents, self._world.bot_user["id"], event_type, data)
        return session.dispatch(event_type, data)

    def dispatch_raw(self, shard_id: int, frame: str | bytes | JSON) -> int | None:
        """Send an arbitrary frame; a dict dispatch without ``s`` gets the next sequence."""
        session = self.shard_sessions.get(shard_id)
        if session is None or session.ended:
            return None
        seq: int | None = None
        if isinstance(frame, dict) and frame.get("op") == DISPATCH and "s" not in frame:
            session.seq += 1
            seq = session.seq
            encoded = compact(orjson.dumps({**frame, "s": seq}))
            session.buffer.append((seq, encoded))
        elif isinstance(frame, dict):
            encoded = orjson.dumps(frame)
        else:
            encoded = frame.encode() if isinstance(frame, str) else frame
        if session.connection is not None:
            session.connection.send(encoded)
        return seq

    def _live(self, shard_id: int) -> Session:
        session = self.shard_sessions.get(shard_id)
        if session is None or session.ended:
            raise LookupError(f"shard {shard_id} has no live gateway session")
        return session

    def request_reconnect(self, shard_id: int) -> None:
        """op 7: the client closes and RESUMEs; later dispatches wait in the buffer."""
        session = self._live(shard_id)
        if session.connection is not None:
            session.connection.send_op(RECONNECT, None)
            session.connection = None

    def drop_connection(self, shard_id: int, code: int | None) -> None:
        """Close abruptly (no op 7); frames not yet written stay in the resume buffer."""
        session = self._live(shard_id)
        connection, session.connection = session.connection, None
        if connection is None:
            return
        if code is None:
            connection.abort()
        else:
            connection.close(code, "Dropped by the fake.", flush=False)

    def invalidate_session(self, shard_id: int) -> None:
        """op 9 (not resumable): the client must IDENTIFY again; buffered events are lost."""
        session = self._live(shard_id)
        self._end_session(session)
        if session.connection is not None:
            session.connection.send_op(INVALID_SESSION, False)
            session.connection = None

    def info(self) -> dict[int, ConnectionInfo]:
        return {
            shard_id: ConnectionInfo(
                shard_id=shard_id,
                shard_count=s.shard_count,
                session_id=s.session_id,
                intents=s.intents,
                connected=s.connection is not None and not s.connection.closing,
                resumable=not s.ended,
                resumed_count=s.resumed_count,
                seq=s.seq,
                frames_written=s.frames_written,
            )
            for shard_id, s in self.shard_sessions.items()
        }

    def backlog(self) -> int:
        """Frames queued but not yet written, over all connections."""
        return sum(c.backlog for c in self._connections)

    def close_all(self) -> None:
        for connection in list(self._connections):
            connection.close(1001, "The fake is stopping.", flush=False)
