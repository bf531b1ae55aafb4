"""The admin routes of the API (see townsquare.api.app for where they are mounted).

Everything lives under ``/admin/communities/{community_id}``: the numeric id is what
`townsquare.api.deps.require` checks the caller's role or token against, on every route.
One module per area (configuration, items, grants, audit log, event lake, problems, access).
"""

from __future__ import annotations

from fastapi import APIRouter

from townsquare.api.routes.admin import (
    access,
    audit,
    config_catalog,
    config_multipliers,
    config_sections,
    grants,
    lake,
    problems,
)

PREFIX = "/admin/communities/{community_id}"

router = APIRouter(prefix=PREFIX)
for area in (
    config_sections,
    config_multipliers,
    config_catalog,
    grants,
    audit,
    lake,
    problems,
    access,
):
    router.include_router(area.router)

__all__ = ["PREFIX", "router"]
