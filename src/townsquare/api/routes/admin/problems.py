"""What a platform refused that admins must fix (a role above the bot's, a missing permission)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from townsquare.api.deps import Session
from townsquare.api.routes.admin.common import READ_ERRORS, Reader, example
from townsquare.services.communities import ProblemOut, list_problems

router = APIRouter(prefix="/problems", tags=["admin: problems"])


class ProblemsOut(BaseModel):
    problems: list[ProblemOut]


_PROBLEM = {
    "id": 3,
    "platform": "discord",
    "kind": "role_forbidden",
    "subject": "1100000000000000100",
    "detail": "Discord refused to change role 1100000000000000100 (403 Missing Permissions). "
    "Give the bot Manage Roles and move its role above the reward roles.",
    "occurrences": 41,
    "first_seen_at": "2026-03-01T12:00:00Z",
    "last_seen_at": "2026-03-02T08:30:00Z",
}


@router.get(
    "",
    response_model=ProblemsOut,
    summary="Open problems the bots met in this community, most recent first",
    description="Each problem is counted, not repeated; it closes when the thing works again.",
    responses={**READ_ERRORS, **example({"problems": [_PROBLEM]})},
)
async def read_problems(community_id: int, session: Session, _caller: Reader) -> ProblemsOut:
    return ProblemsOut(problems=await list_problems(session, community_id))
