"""The event lake: browse events (metadata and reward breakdowns, never content), and run
retention, reconciliation and backfill on demand.

Browsing needs READ; the jobs need CONFIGURE. Retention is instance-wide and always uses
the operator's ``pipeline.retention_days`` (a community admin cannot shorten it for every
community). A backfill is the request body itself (JSONL or CSV, chosen by Content-Type),
so uploads need no multipart parser; it is validated whole before anything is imported.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from townsquare.api.deps import Now, Session
from townsquare.api.routes.admin.common import (
    CHANGE_ERRORS,
    MAX_ID,
    READ_ERRORS,
    TEXT,
    Configurer,
    Reader,
    example,
    problems,
)
from townsquare.core import EventKind
from townsquare.services.lake import (
    MAX_BACKFILL_BYTES,
    MAX_PAGE,
    BackfillInvalid,
    BackfillOut,
    LakeFilters,
    LakePage,
    ReconcileOut,
    RetentionOut,
    backfill,
    browse_events,
    read_upload,
    run_reconcile,
    run_retention,
)
from townsquare.services.lake.backfill import FileFormat
from townsquare.store.models.activity import EVENT_STATUSES

router = APIRouter(prefix="/lake", tags=["admin: event lake"])

_FORMATS: dict[str, FileFormat] = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-seq": "jsonl",
    "text/csv": "csv",
}
_EVENT = {
    "id": 5012,
    "occurred_at": "2026-03-01T12:00:00Z",
    "received_at": "2026-03-01T12:00:00.120Z",
    "platform": "discord",
    "platform_event_id": "1213141516",
    "kind": "message",
    "channel_id": 3,
    "member_id": 345,
    "target_member_id": None,
    "status": "rewarded",
    "metadata": {"length": 142, "links": 1},
    "breakdowns": [
        {
            "member_id": "345",
            "reward_kind": "message",
            "base": {"xp": 15, "stars": 0, "gold": 1},
            "units": 1,
            "channel_multiplier": 1.5,
            "channel_source": "channel:100/message",
            "role_multiplier": 1.0,
            "role_source": "default",
            "quality_multiplier": 1.2,
            "diminishing_position": None,
            "computed": {"xp": 27, "stars": 0, "gold": 1},
            "caps": [],
            "granted": {"xp": 27, "stars": 0, "gold": 1},
            "blocked_by": None,
            "notes": [],
            "explanation": ["message: base 15 xp, 1 gold", "x 1.5 channel (channel:100/message)"],
        }
    ],
    "counters": [{"member_id": 345, "counter": "messages", "delta": 1}],
    "blocked_by": None,
    "error": None,
}


class JobBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        default=None, max_length=500, pattern=TEXT, description="For the audit log."
    )


class ReconcileBody(JobBody):
    correct: bool = Field(
        default=False,
        description="Also correct the drift found (409 while a running writer owns the "
        "community); otherwise only report it.",
    )


@router.get(
    "/events",
    response_model=LakePage,
    summary="Events of the lake, newest first, filtered (keyset pages)",
    description="Metadata and reward breakdowns only; the lake never holds message content.",
    responses={
        **READ_ERRORS,
        **problems(422),
        **example({"events": [_EVENT], "next_cursor": None}),
    },
)
async def read_events(
    community_id: int,
    session: Session,
    _caller: Reader,
    kind: EventKind | None = None,
    member_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Member id.")] = None,
    channel_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Channel id.")] = None,
    status: Annotated[
        str | None, Query(pattern=f"^({'|'.join(EVENT_STATUSES)})$", examples=["rewarded"])
    ] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> LakePage:
    filters = LakeFilters(
        kind=kind,
        member_id=member_id,
        channel_id=channel_id,
        status=status,
        since=since,
        until=until,
    )
    return await browse_events(session, community_id, filters, cursor=cursor, limit=limit)


@router.post(
    "/retention",
    response_model=RetentionOut,
    summary="Apply the instance's retention now (drops old days, keeps their counters)",
    responses={
        **CHANGE_ERRORS,
        **example(
            {
                "keep_days": 90,
                "cutoff": "2025-12-01T00:00:00Z",
                "partitions_dropped": ["events_20251130"],
                "partitions_skipped": [],
                "events_removed": 18211,
                "rollup_rows": 904,
                "bytes_freed": 5242880,
                "day_counters_removed": 311,
                "partitions_created": ["2026-03-01"],
            }
        ),
    },
)
async def trigger_retention(
    community_id: int,
    request: Request,
    body: Annotated[JobBody, Body(openapi_examples={"run": {"value": {"reason": "disk"}}})],
    session: Session,
    actor: Configurer,
    now: Now,
) -> RetentionOut:
    settings = request.app.state.settings
    return await run_retention(
        request.app.state.engine,
        session,
        actor,
        community_id,
        keep_days=settings.pipeline.retention_days,
        now=now,
        settings=settings.database,
        reason=body.reason,
    )


@router.post(
    "/reconcile",
    response_model=ReconcileOut,
    summary="Check balances and counters against the ledger and the lake; optionally correct",
    responses={
        **CHANGE_ERRORS,
        **example(
            {
                "community_id": 1,
                "balances": {"count": 0, "examples": []},
                "counters": {"count": 0, "examples": []},
                "state_balances": {"count": 0, "examples": []},
                "state_counters": {"count": 0, "examples": []},
                "total": 0,
                "corrected": False,
            }
        ),
    },
)
async def trigger_reconcile(
    community_id: int,
    request: Request,
    body: Annotated[
        ReconcileBody, Body(openapi_examples={"correct": {"value": {"correct": True}}})
    ],
    session: Session,
    actor: Configurer,
) -> ReconcileOut:
    return await run_reconcile(
        session,
        actor,
        community_id,
        correct=body.correct,
        settings=request.app.state.settings.database,
        reason=body.reason,
    )


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"The events file itself, at most {MAX_BACKFILL_BYTES >> 20} MiB: one "
        "event object per line (JSONL) or a CSV with a header (README, 'Importing history').",
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": '{"event_id": "m1", "kind": "message", "platform": "discord", '
                '"community_id": "123456789", "member_id": "42", "at": 1767225600}\n',
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": "event_id,kind,platform,community_id,member_id,at\n"
                "m1,message,discord,123456789,42,1767225600\n",
            },
        },
    }
}


@router.post(
    "/backfill",
    response_model=BackfillOut,
    summary="Import an events file through the pipeline (validated whole first; idempotent)",
    openapi_extra=_UPLOAD_BODY,
    responses={
        **CHANGE_ERRORS,
        **problems(503),
        **example({"events": 1200, "new": 1180, "duplicates": 20, "failed": 0}),
    },
)
async def trigger_backfill(
    community_id: int,
    request: Request,
    session: Session,
    actor: Configurer,
    reason: Annotated[
        str | None, Query(max_length=500, pattern=TEXT, description="For the audit log.")
    ] = None,
) -> BackfillOut:
    file_format = _format(request.headers.get("content-type"))
    events = await read_upload(await _bounded_body(request), file_format)
    state = request.app.state
    return await backfill(
        session,
        state.engine,
        actor,
        community_id,
        events,
        settings=state.settings,
        database_url=state.database_url,
        pipeline=getattr(state, "pipeline", None),
        reason=reason,
    )


def _format(content_type: str | None) -> FileFormat:
    media_type = (content_type or "").split(";")[0].strip().lower()
    found = _FORMATS.get(media_type)
    if found is None:
        raise BackfillInvalid(
            "Send the file as the request body with Content-Type application/x-ndjson "
            f"(JSONL) or text/csv (got {media_type or 'none'})."
        )
    return found


async def _bounded_body(request: Request) -> bytes:
    """The body, refused as soon as it passes the limit (never buffered beyond it)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BACKFILL_BYTES:
            raise BackfillInvalid(
                f"The file is larger than {MAX_BACKFILL_BYTES >> 20} MiB; split it, or import "
                "it with `townsquare import events`."
            )
        chunks.append(chunk)
    return b"".join(chunks)
