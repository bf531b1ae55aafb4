"""RFC 9457 problem+json: the one place where errors become HTTP responses.

Expected failures are ``TownsquareError`` subclasses and carry their status and a stable
``code``; a database that went away is a 503, never a 500; anything unexpected is a 500
whose body says nothing about our internals (the log has the details, not the user).
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from townsquare.errors import TownsquareError
from townsquare.store.engine import is_unavailable, unavailable_error

log = structlog.get_logger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem(status: int, code: str, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        media_type=PROBLEM_JSON,
        content={
            "type": f"urn:townsquare:problem:{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
        },
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(TownsquareError)
    async def _known(_request: Request, exc: TownsquareError) -> JSONResponse:
        log.warning("request_failed", code=exc.code, status=exc.status)
        return problem(exc.status, exc.code, _title(exc.code), exc.message)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeoutError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):
            error = unavailable_error(
                exc, request.app.state.database_url, request.app.state.settings.database
            )
            log.warning("request_failed", code=error.code, status=error.status)
            return problem(error.status, error.code, _title(error.code), error.message)
        log.exception("request_crashed")
        return _internal()

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        log.exception("request_crashed")
        return _internal()


def _internal() -> JSONResponse:
    return problem(500, "internal_error", "Internal error", "Something went wrong on our side.")


def _title(code: str) -> str:
    return code.replace("_", " ").capitalize()
