"""The public read API: communities, leaderboards, member profiles, achievements, seasons.

Anonymous, cacheable (ETag + Cache-Control) and rate limited per client IP
(``api.read_rate_limit``). Mounted under ``/api/v1`` by `townsquare.api.app`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from townsquare.api.deps import rate_limited
from townsquare.api.routes.public import achievements, communities, leaderboards, members
from townsquare.api.routes.public.http import ProblemRoute

router = APIRouter(
    tags=["public"],
    route_class=ProblemRoute,
    dependencies=[Depends(rate_limited("read"))],
)
for area in (communities, leaderboards, members, achievements):
    router.include_router(area.router)

__all__ = ["router"]
