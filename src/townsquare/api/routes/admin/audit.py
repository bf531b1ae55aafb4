"""The community's audit log: who changed what, when, from where, before and after."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from townsquare.api.deps import Session
from townsquare.api.routes.admin.common import MAX_ID, READ_ERRORS, TEXT, Reader, example
from townsquare.services.audit import MAX_PAGE, ActorType, AuditFilters, AuditPage, list_entries

router = APIRouter(prefix="/audit", tags=["admin: audit log"])

_ENTRY = {
    "id": 981,
    "community_id": 1,
    "occurred_at": "2026-03-01T12:00:00Z",
    "actor": {"type": "user", "id": "7", "source_ip": "203.0.113.7"},
    "action": "config.channel_rule.put",
    "target_type": "channel_rule",
    "target_id": "100/message",
    "before": None,
    "after": {"target_id": "100", "kind": "message", "multiplier": 1.5},
    "reason": "events channel",
}


@router.get(
    "",
    response_model=AuditPage,
    summary="Audit entries, newest first, filtered (keyset pages)",
    description="Every filter given must match; `until` is exclusive. Pass `next_before_id` "
    "back as `before_id` for the following page.",
    responses={**READ_ERRORS, **example({"entries": [_ENTRY], "next_before_id": 981})},
)
async def read_audit_log(
    community_id: int,
    session: Session,
    _caller: Reader,
    actor_type: ActorType | None = None,
    actor_id: Annotated[str | None, Query(max_length=128, pattern=TEXT)] = None,
    action: Annotated[
        str | None, Query(max_length=64, pattern=TEXT, examples=["config.channel_rule.put"])
    ] = None,
    target_type: Annotated[str | None, Query(max_length=64, pattern=TEXT)] = None,
    target_id: Annotated[str | None, Query(max_length=128, pattern=TEXT)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> AuditPage:
    filters = AuditFilters(
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
    )
    return await list_entries(session, community_id, filters, before_id=before_id, limit=limit)
