"""What the event-lake use cases take and return: browse filters, events, job reports.

An event as the admin API shows it is metadata plus how its reward was computed; nothing
here can carry message content (the lake never stores it, and `LakeEventOut.metadata` is
cut down to the known metadata keys in case an older row holds more).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from townsquare.core import EventKind
from townsquare.errors import TownsquareError


class LakeQueryInvalid(TownsquareError):
    """A browse request that cannot be answered as asked (a cursor we did not issue)."""

    status = 422
    code = "lake_query_invalid"


class CommunityBusy(TownsquareError):
    """A running writer owns the community, so a job that needs its lock must wait."""

    status = 409
    code = "community_busy"


class BackfillInvalid(TownsquareError):
    """An uploaded events file was refused as a whole; nothing of it was imported."""

    status = 422
    code = "backfill_invalid"


class BackfillIncomplete(TownsquareError):
    """The import started but not every event reached the database; re-upload the file
    (events already imported are recognised and skipped)."""

    status = 503
    code = "backfill_incomplete"


class LakeFilters(BaseModel):
    """Optional filters of `browse_events`; every one given must match (``until`` exclusive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: EventKind | None = None
    member_id: int | None = None
    channel_id: int | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class Amounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    xp: int = 0
    stars: int = 0
    gold: int = 0


class CapHitOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    currency: str
    requested: int
    granted: int


class RewardBreakdownOut(BaseModel):
    """How one member's reward for an event was computed, step by step."""

    model_config = ConfigDict(frozen=True)

    member_id: str
    reward_kind: str | None
    base: Amounts
    units: int
    channel_multiplier: float
    channel_source: str
    role_multiplier: float
    role_source: str
    quality_multiplier: float | None
    diminishing_position: int | None
    computed: Amounts
    caps: list[CapHitOut]
    granted: Amounts
    blocked_by: str | None
    notes: list[str]
    #: The same breakdown as readable lines, as chat's ``/rank --explain`` shows it.
    explanation: list[str]


class CounterDeltaOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    member_id: int
    counter: str
    delta: int


class LakeEventOut(BaseModel):
    """One event of the lake: who, where, when, what the rules made of it. Never content."""

    model_config = ConfigDict(frozen=True)

    id: int
    occurred_at: datetime
    received_at: datetime
    platform: str
    platform_event_id: str
    kind: str
    channel_id: int | None
    member_id: int | None
    target_member_id: int | None
    status: str
    metadata: dict[str, object]
    breakdowns: list[RewardBreakdownOut]
    counters: list[CounterDeltaOut]
    blocked_by: str | None = None
    error: str | None = None


class LakePage(BaseModel):
    """Newest events first; pass ``next_cursor`` back as ``cursor`` for the next page."""

    model_config = ConfigDict(frozen=True)

    events: list[LakeEventOut]
    next_cursor: str | None


class RetentionOut(BaseModel):
    """What a retention run removed and created (it covers the whole instance)."""

    model_config = ConfigDict(frozen=True)

    keep_days: int
    cutoff: datetime
    partitions_dropped: list[str]
    partitions_skipped: list[str]
    events_removed: int
    rollup_rows: int
    bytes_freed: int
    day_counters_removed: int
    partitions_created: list[date]


class DriftOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    count: int
    examples: list[dict[str, object]]


class ReconcileOut(BaseModel):
    """Derived data that disagreed with the ledger and the lake, and whether it was fixed."""

    model_config = ConfigDict(frozen=True)

    community_id: int
    balances: DriftOut
    counters: DriftOut
    state_balances: DriftOut
    state_counters: DriftOut
    total: int
    corrected: bool


class BackfillOut(BaseModel):
    """What became of an uploaded file's events."""

    model_config = ConfigDict(frozen=True)

    events: int = Field(description="Events in the file.")
    new: int = Field(description="Events newly recorded in the lake.")
    duplicates: int = Field(description="Events the lake already had (skipped).")
    failed: int = Field(description="Events the rules rejected (recorded as failed).")
