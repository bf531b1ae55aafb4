"""What every admin route shares: who acts, which version an edit is based on, error docs.

* `Reader`, `Configurer`, `Granter`, …: the caller checked by `require` (401/403, CSRF
  for cookie changes). The mutation ones also count the request against the mutation rate
  limit and give the audit `Actor` (the principal plus the client IP), so no mutation can
  forget either.
* `expected_version`: optimistic concurrency takes the version from the body or from
  ``If-Match`` (``"3"``, ``W/"3"`` or ``3``), so both form posts and HTTP-minded clients
  work; a change that quotes none is refused (428) rather than applied blindly.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the annotations of
# `acting`'s inner dependency, which name its local ``guard`` and ``limit``.

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.api.deps import client_ip, rate_limited, require
from townsquare.errors import TownsquareError
from townsquare.services.accounts import Permission, Principal
from townsquare.services.audit import Actor
from townsquare.services.community_config import ConfigSectionOut, ItemEdit, apply_edit

PROBLEM_JSON = "application/problem+json"
#: Ids are BIGINTs; a larger number names nothing and must not reach PostgreSQL.
MAX_ID = 2**63 - 1
#: Text that PostgreSQL can store (it refuses NUL in text and JSONB alike).
TEXT = r"^[^\x00]*$"


class VersionRequired(TownsquareError):
    """A change that does not say which version it was based on."""

    status = 428
    code = "expected_version_required"


class VersionMismatch(TownsquareError):
    """``If-Match`` and the body's ``expected_version`` disagree, or ``If-Match`` is not a
    version this API issued."""

    status = 422
    code = "expected_version_invalid"


class AdminProblem(BaseModel):
    """An RFC 9457 problem, as every admin error is returned (with ``errors`` for invalid
    configuration and ``current_version`` for a conflict).

    Named apart from the public routes' ``Problem``: two schemas of one name would both be
    renamed in the OpenAPI document, breaking references to either.
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:townsquare:problem:config_conflict"])
    title: str = Field(examples=["Config conflict"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["The multipliers settings changed since version 3."])
    code: str = Field(examples=["config_conflict"])


_PROBLEM_DESCRIPTIONS = {
    401: "Not signed in, or the API token is unknown, revoked or expired.",
    403: "The caller lacks the permission in this community, or the CSRF header is missing.",
    404: "The community or the item does not exist.",
    409: "A conflict: a stale version (with `current_version`), a reused idempotency key, "
    "or a community busy with a running writer.",
    422: "The request or the resulting configuration is invalid (field-level `errors`).",
    428: "The change did not say which version it was based on.",
    429: "Too many changes; retry after `Retry-After` seconds.",
    503: "The database is unreachable, or became so during the job; retry later.",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting the problem+json errors a route can return."""
    return {
        status: {
            "model": AdminProblem,
            "description": _PROBLEM_DESCRIPTIONS[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/AdminProblem"}}},
        }
        for status in statuses
    }


READ_ERRORS = problems(401, 403, 404)
CHANGE_ERRORS = problems(401, 403, 404, 409, 422, 428, 429)


def example(value: Any, status: int = 200, description: str = "OK") -> dict[int | str, Any]:
    """An OpenAPI ``responses`` entry with a JSON example of the success body."""
    return {
        status: {"description": description, "content": {"application/json": {"example": value}}}
    }


def acting(permission: Permission) -> Callable[..., Awaitable[Actor]]:
    """A dependency: an authorized, rate-limited caller, as the audit log names it.

    The permission is checked first, so denied requests do not use up the caller's quota.
    """
    guard = require(permission)
    limit = rate_limited("mutation")

    async def dependency(
        request: Request,
        principal: Annotated[Principal, Depends(guard)],
        _limited: Annotated[None, Depends(limit)],
    ) -> Actor:
        return principal.actor(client_ip(request))

    return dependency


#: Callers of reads (READ) and of access reads (MANAGE_ACCESS).
Reader = Annotated[Principal, Depends(require(Permission.READ))]
AccessReader = Annotated[Principal, Depends(require(Permission.MANAGE_ACCESS))]
#: Callers of changes, by the permission each area needs.
Configurer = Annotated[Actor, Depends(acting(Permission.CONFIGURE))]
Granter = Annotated[Actor, Depends(acting(Permission.GRANT))]
AccessManager = Annotated[Actor, Depends(acting(Permission.MANAGE_ACCESS))]


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The version the change is based on (the ETag of the last read).",
        examples=['"3"'],
    ),
]


def expected_version(body_version: int | None, if_match: str | None) -> int:
    """The version a change is based on, from the body or ``If-Match`` (428 if neither)."""
    header_version = parse_if_match(if_match)
    if body_version is not None and header_version is not None and body_version != header_version:
        raise VersionMismatch(
            f"If-Match says version {header_version} but expected_version says "
            f"{body_version}; send one of them."
        )
    version = body_version if body_version is not None else header_version
    if version is None:
        raise VersionRequired(
            "Say which version your change is based on: expected_version in the body or an "
            "If-Match header with the ETag you read."
        )
    return version


def parse_if_match(if_match: str | None) -> int | None:
    if if_match is None or not if_match.strip():
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise VersionMismatch(f"If-Match {if_match!r} is not a version this API issued.")
    return int(tag)


def etag(version: int) -> str:
    return f'"{version}"'


class ChangeBody(BaseModel):
    """Fields every configuration change carries."""

    model_config = ConfigDict(extra="forbid")

    expected_version: int | None = Field(
        default=None,
        ge=0,
        description="The section version the change is based on (or send If-Match).",
    )
    reason: str | None = Field(default=None, max_length=500, description="Why, for the audit log.")


@dataclass(frozen=True, slots=True)
class Removal:
    """The precondition of a DELETE, which has no body: ``If-Match`` or query parameters.

    Raw on purpose: the version is checked in the route (after authorization), so an
    anonymous caller gets 401, not 428.
    """

    if_match: str | None
    expected_version: int | None
    reason: str | None

    def version(self) -> int:
        return expected_version(self.expected_version, self.if_match)


def _removal(
    if_match: IfMatch = None,
    version: Annotated[
        int | None,
        Query(alias="expected_version", ge=0, description="Or send If-Match."),
    ] = None,
    reason: Annotated[
        str | None, Query(max_length=500, pattern=TEXT, description="Why, for the audit log.")
    ] = None,
) -> Removal:
    return Removal(if_match, version, reason)


RemovalPrecondition = Annotated[Removal, Depends(_removal)]


async def run_edit(
    session: AsyncSession,
    actor: Actor,
    community_id: int,
    edit: ItemEdit,
    version: int,
    reason: str | None,
    response: Response,
) -> ConfigSectionOut:
    """Apply one item edit and hand back the section with its new ``ETag``."""
    changed = await apply_edit(
        session, actor, community_id, edit, expected_version=version, reason=reason
    )
    response.headers["ETag"] = etag(changed.section_version)
    return changed


def storable(value: Any, loc: tuple[str | int, ...] = ()) -> Any:
    """``value`` unchanged, or ValueError naming where a string holds a NUL character.

    Configuration values are free-form JSON checked by the document's own validation,
    which allows any text; PostgreSQL's JSONB does not store NUL, so it is refused here
    as a validation error instead of failing the transaction later.
    """
    if isinstance(value, str) and "\x00" in value:
        where = ".".join(map(str, loc)) or "value"
        raise ValueError(f"{where}: text must not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            storable(key, loc)
            storable(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            storable(item, (*loc, index))
    return value
