"""Manual grants in and out, and the error a grant that grants nothing raises."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from townsquare.errors import ConfigInvalid
from townsquare.services.audit import Actor

_MAX_AMOUNT = 10**12


class GrantAction(StrEnum):
    """Award adds to a member's balances (or unlocks); revoke takes away."""

    AWARD = "award"
    REVOKE = "revoke"


class GrantStatus(StrEnum):
    """``pending`` until the relay's event is in the event lake; then applied or failed."""

    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"


class GrantRequest(BaseModel):
    """An admin's award or revoke. Amounts are non-negative: ``action`` gives the sign.

    ``idempotency_key`` is chosen by the caller (a dashboard form id, a chat interaction
    id): retrying with the same key and the same request returns the first grant instead
    of granting twice.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    member_id: int = Field(ge=1)
    action: GrantAction
    xp: int = Field(default=0, ge=0, le=_MAX_AMOUNT)
    stars: int = Field(default=0, ge=0, le=_MAX_AMOUNT)
    gold: int = Field(default=0, ge=0, le=_MAX_AMOUNT)
    achievement_key: str | None = Field(default=None, min_length=1, max_length=100)
    reason: str | None = Field(default=None, max_length=500)
    idempotency_key: str = Field(min_length=1, max_length=128)


class GrantOut(BaseModel):
    """A grant and where it is in its life (pending → applied, or failed with an error)."""

    model_config = ConfigDict(frozen=True)

    id: int
    community_id: int
    member_id: int
    action: GrantAction
    xp: int
    stars: int
    gold: int
    achievement_key: str | None
    reason: str | None
    idempotency_key: str
    actor: Actor
    status: GrantStatus
    attempts: int
    event_id: int | None
    error: str | None
    created_at: datetime
    applied_at: datetime | None


class GrantPage(BaseModel):
    """Newest grants first; pass ``next_before_id`` back for the following page."""

    model_config = ConfigDict(frozen=True)

    grants: list[GrantOut]
    next_before_id: int | None


class GrantInvalid(ConfigInvalid):
    """A grant request that cannot be applied (nothing to grant, an unknown achievement).

    A `ConfigInvalid` (422 with field locations) whose message speaks of the grant, not of
    the configuration.
    """

    code = "grant_invalid"

    def __init__(self, errors: list[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__(errors)
        listed = "; ".join(f"{'.'.join(map(str, loc))}: {message}" for loc, message in errors)
        self.message = f"The grant is not valid: {listed}"
        self.args = (self.message,)
