"""Transactional NOTIFY: a notification fires exactly when its transaction commits.

The predecessor sent NOTIFY after commit on another connection, so a listener could reload
before the change was visible, and a crash between the two lost the notification. Here a
change queues its notification on the session that makes the change; a ``before_commit``
hook sends all of them with ``pg_notify`` inside that same transaction. PostgreSQL delivers
notifications only when the transaction commits (and discards those of a rolled-back
savepoint), so a listener never hears of a change it cannot yet see, nor of one that was
rolled back.

Only allowlisted channels are accepted, and payloads are checked against PostgreSQL's
8000-byte limit when queued — where the caller can still do something about it — instead of
failing the whole commit later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from townsquare.errors import NotifyRejected

# PostgreSQL: "the payload must be shorter than 8000 bytes" (default configuration).
MAX_PAYLOAD_BYTES = 7999
_QUEUE_KEY = "townsquare.notify_queue"


class NotifyChannel(StrEnum):
    """Every channel anything in Townsquare may NOTIFY on."""

    CONFIG = "townsquare_config"
    OUTCOMES = "townsquare_outcomes"


ALLOWED_CHANNELS = frozenset(channel.value for channel in NotifyChannel)


class TownsquareSession(Session):
    """The sync session under every ``AsyncSession`` we create; carries the NOTIFY hooks."""


def queue_notify(
    session: AsyncSession | Session, channel: str, payload: str | Mapping[str, Any] = ""
) -> None:
    """Queue a notification to be sent when ``session``'s transaction commits.

    ``payload`` may be a string or a JSON-serialisable mapping. Identical notifications in
    one transaction are sent once (PostgreSQL would fold them anyway).
    """
    if channel not in ALLOWED_CHANNELS:
        allowed = ", ".join(sorted(ALLOWED_CHANNELS))
        raise NotifyRejected(f"NOTIFY channel {channel!r} is not allowed; allowed: {allowed}.")
    body = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    size = len(body.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise NotifyRejected(
            f"NOTIFY payload on {channel!r} is {size} bytes; PostgreSQL accepts at most "
            f"{MAX_PAYLOAD_BYTES}. Send an identifier and let listeners load the rest."
        )
    sync_session = session.sync_session if isinstance(session, AsyncSession) else session
    if not isinstance(sync_session, TownsquareSession):
        raise TypeError("queue_notify needs a session from townsquare.store.engine")
    # Remember the (sub)transaction it belongs to: a rolled-back savepoint takes its
    # notifications with it, the rest of the transaction keeps its own.
    owner = sync_session.get_nested_transaction() or sync_session.get_transaction()
    queue: dict[tuple[str, str], SessionTransaction | None] = sync_session.info.setdefault(
        _QUEUE_KEY, {}
    )
    queue.setdefault((channel, body), owner)


def pending_notifications(session: AsyncSession | Session) -> list[tuple[str, str]]:
    """What would be sent if ``session`` committed now (for tests and diagnostics)."""
    sync_session = session.sync_session if isinstance(session, AsyncSession) else session
    return list(sync_session.info.get(_QUEUE_KEY, {}))


@event.listens_for(TownsquareSession, "before_commit")
def _send_queued(session: Session) -> None:
    queue: dict[tuple[str, str], SessionTransaction | None] = session.info.pop(_QUEUE_KEY, {})
    for channel, body in queue:
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": body}
        )


@event.listens_for(TownsquareSession, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    queue: dict[tuple[str, str], SessionTransaction | None] = session.info.get(_QUEUE_KEY, {})
    for key, owner in list(queue.items()):
        # No owner: queued before the transaction began, so it belongs to the outermost one.
        rolled_back = (
            previous_transaction.parent is None
            if owner is None
            else _within(owner, previous_transaction)
        )
        if rolled_back:
            del queue[key]


def _within(transaction: SessionTransaction, ancestor: SessionTransaction) -> bool:
    current: SessionTransaction | None = transaction
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent
    return False
