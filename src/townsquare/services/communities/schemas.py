"""What adapters hand the community services and get back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True, slots=True)
class SpaceRef:
    """A platform space (Discord guild, LINE group) and the community it belongs to."""

    community_id: int
    platform: str
    external_id: str
    created: bool


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A channel as the platform describes it; ``parent_id`` is its category or parent."""

    external_id: str
    name: str
    type: str  # the ``channels.type`` vocabulary (text, voice, category, thread, …)
    parent_id: str | None = None


class ProblemOut(BaseModel):
    """Something the platform refused that an admin must fix."""

    model_config = ConfigDict(frozen=True)

    id: int
    platform: str
    kind: str
    subject: str
    detail: str
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
