"""HTTP concerns shared by the public routes: caching headers, problem+json for bad
parameters, the documented error responses, and the community every route starts from.

Caching
    Public reads are the same for every caller, so each response carries a strong ETag
    (a hash of the exact body bytes: equal bodies, equal tags, whatever produced them)
    and ``Cache-Control: public, max-age=N``; a request whose ``If-None-Match`` names the
    current tag gets a bodiless 304. The body is still computed (a hash of the body needs
    the body), but nothing is sent, and browsers and CDNs can skip asking within max-age.

Bad parameters
    FastAPI answers a parameter that fails its schema with its own 422 JSON; the public
    routes use `ProblemRoute`, which answers it as problem+json (code ``invalid_request``)
    like every other error of the API.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from townsquare.api.deps import Session, utc_now
from townsquare.api.problems import PROBLEM_JSON, problem
from townsquare.services.engagement import CommunityContext, ConfigDocuments, community_context

#: Seconds a client or CDN may reuse a response without asking again: short for what moves
#: with every event (boards, profiles), longer for what moves with configuration.
LIVE_MAX_AGE = 15
CONFIG_MAX_AGE = 60


class Problem(BaseModel):
    """An RFC 9457 problem document; ``code`` is stable, the text is for people."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:townsquare:problem:not_found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "No community with slug or id 'nowhere'.",
                    "code": "not_found",
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    code: str


def _problem_response(description: str) -> dict[str, Any]:
    schema = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {"model": Problem, "description": description, "content": {PROBLEM_JSON: schema}}


#: The error responses every public route documents.
PROBLEMS: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: ``If-None-Match`` named the current ETag."},
    404: _problem_response("Unknown community or member (code ``not_found``)."),
    422: _problem_response(
        "A parameter is malformed (code ``invalid_request``, ``invalid_cursor`` or "
        "``invalid_query``)."
    ),
    429: _problem_response("Too many reads from this address; see ``Retry-After``."),
}


class ProblemRoute(APIRoute):
    """An APIRoute answering parameter validation errors as problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = [
                    {"loc": [str(part) for part in error["loc"]], "message": error["msg"]}
                    for error in exc.errors()
                ]
                listed = "; ".join(f"{'.'.join(e['loc'])}: {e['message']}" for e in errors)
                return problem(
                    422,
                    "invalid_request",
                    "Invalid request",
                    f"The request is not valid: {listed}",
                    extra={"errors": errors},
                )

        return route


def _matches(if_none_match: str, etag: str) -> bool:
    """``If-None-Match`` compares weakly (RFC 9110 13.1.2): ``W/`` prefixes are ignored."""
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def cached(request: Request, body: BaseModel, max_age: int) -> Response:
    """``body`` as JSON with its ETag and Cache-Control, or a 304 if the client has it."""
    content = body.model_dump_json().encode()
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content=content, media_type="application/json", headers=headers)


async def config_documents(request: Request) -> ConfigDocuments:
    """The app's cache of compiled community configurations, made on first use.

    (``async`` like every dependency here: FastAPI runs a plain ``def`` dependency in a
    worker thread, a hop that costs more than the work.)"""
    documents: ConfigDocuments | None = getattr(request.app.state, "public_documents", None)
    if documents is None:
        documents = request.app.state.public_documents = ConfigDocuments()
    return documents


Documents = Annotated[ConfigDocuments, Depends(config_documents)]


async def _community(
    request: Request,
    session: Session,
    documents: Documents,
    community: Annotated[
        str,
        Path(
            pattern=r"^[a-z0-9][a-z0-9-]{0,63}$",
            description="The community's slug or numeric id.",
            examples=["pixel-garden"],
        ),
    ],
) -> CommunityContext:
    return await community_context(session, community, documents, utc_now(request))


#: The path's ``{community}``, resolved (404 ``not_found`` if there is none).
Community = Annotated[CommunityContext, Depends(_community)]

MemberRef = Annotated[
    str,
    Path(
        pattern=r"^([0-9]{1,19}|(discord|line):[A-Za-z0-9_.-]{1,128})$",
        description="A member id, or a platform account such as ``discord:<user id>``.",
        examples=["42"],
    ),
]
