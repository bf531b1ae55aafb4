"""RFC 9457 problem+json: the one place where errors become HTTP responses.

Expected failures are ``TownsquareError`` subclasses and carry their status and a stable
``code``; a database that went away is a 503, never a 500; anything unexpected is a 500
whose body says nothing about our internals (the log has the details, not the user).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from townsquare.errors import ConfigConflict, ConfigInvalid, TownsquareError
from townsquare.store.engine import is_unavailable, unavailable_error

log = structlog.get_logger(__name__)
PROBLEM_JSON = "application/problem+json"


# Seconds a client should wait before retrying when the database is unavailable.
UNAVAILABLE_RETRY_AFTER = 5


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
        content={
            "type": f"urn:townsquare:problem:{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            **(extra or {}),
        },
    )


def _headers(exc: TownsquareError) -> dict[str, str] | None:
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return {"Retry-After": str(retry_after)}
    if exc.status == 503:
        return {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}
    return None


def _extra(exc: TownsquareError) -> dict[str, Any] | None:
    """Field-level problems of a validation error, for editors to show next to fields."""
    if isinstance(exc, ConfigInvalid):
        return {"errors": [{"loc": list(loc), "message": message} for loc, message in exc.errors]}
    if isinstance(exc, ConfigConflict):
        return {"current_version": exc.current_version}
    return None


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(TownsquareError)
    async def _known(request: Request, exc: TownsquareError) -> JSONResponse:
        log.warning("request_failed", code=exc.code, status=exc.status)
        _count(request, exc.code)
        response = problem(
            exc.status,
            exc.code,
            _title(exc.code),
            exc.message,
            headers=_headers(exc),
            extra=_extra(exc),
        )
        cookie = getattr(exc, "clears_cookie", None)
        if cookie:
            response.delete_cookie(
                cookie,
                path="/",
                secure=request.app.state.settings.auth.cookie_secure,
                httponly=True,
                samesite="lax",
            )
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        _count(request, "request_invalid")
        errors = [
            {"loc": [str(part) for part in error.get("loc", ())], "message": error.get("msg", "")}
            for error in exc.errors()
        ]
        listed = "; ".join(f"{'.'.join(e['loc'])}: {e['message']}" for e in errors[:10])
        return problem(
            422,
            "request_invalid",
            "Request invalid",
            f"The request is not valid: {listed}",
            extra={"errors": errors},
        )

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeoutError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):
            error = unavailable_error(
                exc, request.app.state.database_url, request.app.state.settings.database
            )
            log.warning("request_failed", code=error.code, status=error.status)
            _count(request, error.code)
            return problem(
                error.status, error.code, _title(error.code), error.message, headers=_headers(error)
            )
        log.exception("request_crashed")
        _count(request, "internal_error")
        return _internal()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _exc: Exception) -> JSONResponse:
        log.exception("request_crashed")
        _count(request, "internal_error")
        return _internal()


def _count(request: Request, code: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(code).inc()


def _internal() -> JSONResponse:
    return problem(500, "internal_error", "Internal error", "Something went wrong on our side.")


def _title(code: str) -> str:
    return code.replace("_", " ").capitalize()
