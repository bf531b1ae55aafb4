"""What the webhook/inbox side and the event-handling side of the LINE adapter agree on.

The webhook stores each verified event in the inbox and acknowledges LINE; inbox workers
hand each stored event to an `EventHandler`, one at a time per chat (in order), retrying
with backoff when it raises and dead-lettering after ``line.max_attempts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from townsquare.errors import TownsquareError


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One stored webhook event, as a worker hands it to the handler."""

    community_id: int
    id: int
    channel_key: str  # which configured official account received it
    webhook_event_id: str
    event_type: str
    payload: dict[str, Any]  # the event object exactly as LINE sent it (personal data)
    is_redelivery: bool
    attempts: int  # failed attempts before this one
    received_at: datetime


class PermanentFailure(TownsquareError):
    """Retrying cannot help (a malformed event, a blocked user): dead-letter at once."""

    code = "line_event_failed"


class EventHandler(Protocol):
    """Processes one inbox event; raises to have it retried (or `PermanentFailure`)."""

    async def __call__(self, item: InboxItem) -> None: ...
