"""Handle one user's trigger: lock their session, expire it if idle, dispatch, save.

`handle` is what an adapter calls for each message, postback or command, inside the
transaction it owns (one per platform event; flush, never commit):

1. `open_session` locks the user's row (``SELECT … FOR UPDATE``), creating it in the
   machine's initial state when there is none. Two workers handling the same user are
   serialized by PostgreSQL — the second waits, then sees what the first saved; workers
   handling different users never wait for each other. The common case (the row exists)
   is one statement; only a first message inserts (``ON CONFLICT DO NOTHING``, then locks
   the row a concurrent first message created).
2. An expired session is ended first (`Router.expire`): the user hears that it timed out
   and the conversation starts afresh, without the old data.
3. `Router.dispatch` runs the handler for (state, trigger) and moves the machine.
4. `save_session` writes the new state and data only if the version read is still current
   (else `SessionConflict`: nothing was lost, the caller rolls back) and pushes the expiry
   ``idle_timeout`` past ``now``.

The lock is held until the caller's transaction ends, including during a handler's
provider calls; that is what makes two messages of one user take turns.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import structlog
from pydantic import ValidationError

from townsquare.core.kinds import Platform
from townsquare.services.conversations.machine import Machine, ReplySink, Router, Turn
from townsquare.services.conversations.schemas import (
    ConversationSession,
    DataT,
    SessionConflict,
    SessionKey,
    Trigger,
)
from townsquare.store import conversation_sessions as store
from townsquare.store.conversation_sessions import Database, SessionRow

log = structlog.get_logger(__name__)

#: How long a session may stay idle before it expires (and its data is deleted).
DEFAULT_IDLE_TIMEOUT: Final = timedelta(hours=24)


async def handle(
    db: Database,
    key: SessionKey,
    trigger: Trigger,
    router: Router[DataT],
    replies: ReplySink,
    *,
    now: datetime,
    idle_timeout: timedelta = DEFAULT_IDLE_TIMEOUT,
    member_id: int | None = None,
) -> Turn[DataT]:
    """Handle ``trigger`` in the user's conversation and save it (flushed, not committed).

    Returns the saved session and the steps taken (an expiry first, if the session had
    expired). Raises `SessionConflict` if the session changed without its lock, and lets
    a handler's errors (and `TransitionRejected`) through with nothing saved.
    """
    session = await open_session(
        db, key, router.machine, now=now, idle_timeout=idle_timeout, member_id=member_id
    )
    expiry: Turn[DataT] | None = None
    if session.is_expired(now):
        expiry = await router.expire(session, replies, now)
        session = expiry.session
    turn = await router.dispatch(session, trigger, replies, now)
    saved = await save_session(
        db, turn.session, now=now, idle_timeout=idle_timeout, member_id=member_id
    )
    steps = (*(expiry.steps if expiry else ()), *turn.steps)
    log.debug(
        "conversation_turn",
        community=key.community_id,
        platform=key.platform.value,
        session=saved.id,
        trigger=trigger.key,
        source=session.state,
        state=saved.state,
        handled=turn.handled,
        expired=expiry is not None,
    )
    return Turn(saved, steps, expired=expiry is not None)


async def open_session(
    db: Database,
    key: SessionKey,
    machine: Machine[DataT],
    *,
    now: datetime,
    idle_timeout: timedelta = DEFAULT_IDLE_TIMEOUT,
    member_id: int | None = None,
) -> ConversationSession[DataT]:
    """The user's session, locked until the caller's transaction ends; created in the
    machine's initial state if the user has none.

    A stored state the machine no longer declares, or data its model no longer reads (a
    deploy changed the flow), starts the conversation afresh instead of failing on every
    message the user sends.
    """
    _check_time(now, idle_timeout)
    platform = key.platform.value
    row = await store.lock_session(db, key.community_id, platform, key.user_key)
    if row is None:
        row = await store.insert_session(
            db,
            community_id=key.community_id,
            platform=platform,
            user_key=key.user_key,
            state=machine.initial,
            data=machine.initial_data().model_dump(mode="json"),
            member_id=member_id,
            now=now,
            expires_at=now + idle_timeout,
        )
    if row is None:  # a concurrent first message created it: wait for it, then lock it
        row = await store.lock_session(db, key.community_id, platform, key.user_key)
    if row is None:  # only under REPEATABLE READ or stricter, whose snapshot predates it
        raise SessionConflict(
            "A concurrent first message created this conversation session; retry."
        )
    return _session(row, machine)


async def save_session(
    db: Database,
    session: ConversationSession[DataT],
    *,
    now: datetime,
    idle_timeout: timedelta = DEFAULT_IDLE_TIMEOUT,
    member_id: int | None = None,
) -> ConversationSession[DataT]:
    """Write the session if its version is still the one read; it then expires
    ``idle_timeout`` after ``now``. Raises `SessionConflict` when it changed since."""
    _check_time(now, idle_timeout)
    row = await store.update_session(
        db,
        community_id=session.community_id,
        session_id=session.id,
        read_version=session.version,
        state=session.state,
        data=session.data.model_dump(mode="json"),
        member_id=member_id,
        now=now,
        expires_at=now + idle_timeout,
    )
    if row is None:
        log.warning(
            "conversation_session_conflict",
            community=session.community_id,
            session=session.id,
            version=session.version,
        )
        raise SessionConflict(
            f"Conversation session {session.id} changed since version {session.version} "
            "was read; nothing was saved."
        )
    return session.model_copy(
        update={
            "version": row.version,
            "member_id": row.member_id,
            "updated_at": row.updated_at,
            "expires_at": row.expires_at,
        }
    )


async def forget_session(db: Database, key: SessionKey) -> bool:
    """Delete the user's session now (they blocked the bot or asked to be forgotten)."""
    return await store.delete_session(db, key.community_id, key.platform.value, key.user_key)


async def purge_expired(db: Database, now: datetime, *, limit: int = store.PURGE_BATCH) -> int:
    """Delete sessions idle past their expiry, in every community; how many were deleted.

    For the maintenance job (which may call `townsquare.store.conversation_sessions`
    directly, being below services). Sessions held by a worker right now are skipped.
    """
    purged = await store.purge_expired(db, now=now, limit=limit)
    if purged:
        log.info("conversation_sessions_purged", count=purged)
    return purged


def _check_time(now: datetime, idle_timeout: timedelta) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if idle_timeout <= timedelta(0):
        raise ValueError("idle_timeout must be positive")


def _session(row: SessionRow, machine: Machine[DataT]) -> ConversationSession[DataT]:
    state = row.state
    try:
        data = machine.data_model.model_validate(row.data)
    except ValidationError:
        log.warning("conversation_data_unreadable", community=row.community_id, session=row.id)
        state, data = machine.initial, machine.initial_data()
    if not machine.accepts(state):
        log.warning(
            "conversation_state_unknown",
            community=row.community_id,
            session=row.id,
            state=state,
        )
        state, data = machine.initial, machine.initial_data()
    return ConversationSession(
        id=row.id,
        community_id=row.community_id,
        platform=Platform(row.platform),
        user_key=row.user_key,
        member_id=row.member_id,
        state=state,
        data=data,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
    )
