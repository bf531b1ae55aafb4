"""What callers hand the audit log (the acting `Actor`) and what they get back."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ActorType(StrEnum):
    """Who can act on a community (the values ``audit_log.actor_type`` allows)."""

    USER = "user"
    API_TOKEN = "api_token"  # noqa: S105 - an actor kind, not a credential
    BOT = "bot"
    CLI = "cli"
    SYSTEM = "system"


class Actor(BaseModel):
    """The acting person or process, as the edge authenticated it.

    ``source_ip`` is checked here rather than left to the ``INET`` column, so a bad address
    from a proxy header is a validation error at the edge, not a failed transaction later.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ActorType
    id: str = Field(min_length=1, max_length=128)
    source_ip: str | None = None

    @field_validator("source_ip")
    @classmethod
    def _valid_ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return str(ipaddress.ip_address(value.strip()))


class AuditEntryOut(BaseModel):
    """One audit entry as the API, the dashboard and the CLI show it."""

    model_config = ConfigDict(frozen=True)

    id: int
    community_id: int
    occurred_at: datetime
    actor: Actor
    action: str
    target_type: str
    target_id: str | None
    before: Any
    after: Any
    reason: str | None


class AuditFilters(BaseModel):
    """Optional filters of `list_entries`; every one given must match (``until`` exclusive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor_type: ActorType | None = None
    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditPage(BaseModel):
    """Newest entries first; pass ``next_before_id`` back to get the following page."""

    model_config = ConfigDict(frozen=True)

    entries: list[AuditEntryOut]
    next_before_id: int | None
