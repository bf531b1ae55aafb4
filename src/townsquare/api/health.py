"""``/health`` (is the process alive?) and ``/ready`` (can it do its work right now?).

Liveness never touches the database, so an orchestrator does not restart a healthy process
because PostgreSQL blinked. Readiness runs every registered check — the database now; the
config listener, the outage spool and the platform adapters register theirs as they land —
and answers 503 if any fails, with the figures that explain why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare import __version__
from townsquare.pipeline.ingest import Pipeline
from townsquare.pipeline.maintenance import Maintenance
from townsquare.store.config_cache import ConfigCache
from townsquare.store.engine import is_unavailable, unavailable_error

router = APIRouter(tags=["health"])
# A check that hangs must not hang the probe that called it.
CHECK_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)


ReadinessCheck = Callable[[], Awaitable[CheckResult]]


class HealthResponse(BaseModel):
    status: str
    version: str


class ReadyResponse(BaseModel):
    status: str
    checks: dict[str, dict[str, Any]]


@router.get("/health", response_model=HealthResponse, summary="Liveness")
async def health() -> HealthResponse:
    return HealthResponse(status="ok", version=__version__)


@router.get(
    "/ready",
    response_model=ReadyResponse,
    summary="Readiness",
    responses={503: {"model": ReadyResponse, "description": "A check failed"}},
)
async def ready(request: Request) -> JSONResponse:
    checks: dict[str, ReadinessCheck] = request.app.state.readiness
    names = list(checks)
    results = await asyncio.gather(*(_run(checks[name]) for name in names))
    body = ReadyResponse(
        status="ready" if all(result.ok for result in results) else "unavailable",
        checks={
            name: {"ok": result.ok, **result.detail}
            for name, result in zip(names, results, strict=True)
        },
    )
    return JSONResponse(
        status_code=200 if body.status == "ready" else 503, content=body.model_dump()
    )


async def _run(check: ReadinessCheck) -> CheckResult:
    timeout = CHECK_TIMEOUT_S
    try:
        async with asyncio.timeout(timeout):
            return await check()
    except TimeoutError:
        return CheckResult(ok=False, detail={"error": f"check did not finish within {timeout:g} s"})


def database_check(
    engine: AsyncEngine, url: str, settings: Any, expected_revision: str
) -> ReadinessCheck:
    """Ping PostgreSQL through the pool; report latency, pool figures and schema revision."""

    async def check() -> CheckResult:
        pool = engine.pool
        started = time.perf_counter()
        detail: dict[str, Any] = {}
        try:
            async with engine.connect() as conn:
                revision = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar()
            detail["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        except ProgrammingError:
            revision = None
        except (DBAPIError, PoolTimeoutError) as exc:
            if not is_unavailable(exc):
                raise
            error = unavailable_error(exc, url, settings)
            return CheckResult(
                ok=False, detail={"error": error.message, "code": error.code, **_pool(pool)}
            )
        detail.update(_pool(pool))
        detail["schema_revision"] = revision
        detail["schema_expected"] = expected_revision
        if revision != expected_revision:
            detail["error"] = (
                "schema is not at the revision this code expects; run `townsquare db upgrade`"
            )
            return CheckResult(ok=False, detail=detail)
        return CheckResult(ok=True, detail=detail)

    return check


def pipeline_check(pipeline: Pipeline) -> ReadinessCheck:
    """The ingest pipeline: ready while it takes events (writing, replaying or spooling).

    An outage alone does not make it unready — batches are spooled, nothing is lost and the
    database check already reports the outage — but a full spool does: ingest is then
    waiting, and a load balancer should send new work elsewhere.
    """

    async def check() -> CheckResult:
        detail = pipeline.readiness()
        full = detail["spool_full"]
        ok = detail["state"] in ("running", "replaying", "outage") and not full
        if full:
            detail["error"] = "the outage spool is full; ingest is waiting for PostgreSQL"
        return CheckResult(ok=ok, detail=detail)

    return check


def config_check(cache: ConfigCache) -> ReadinessCheck:
    """The live config cache: listening, or (breaker open) polling recently enough.

    Unready only when the configuration this process uses may be older than a few poll
    intervals — then rewards could follow settings an admin has already changed.
    """

    async def check() -> CheckResult:
        detail = cache.readiness()
        ok = detail["state"] == "listening" or cache.is_fresh_enough()
        if not ok:
            detail["error"] = (
                "the configuration may be stale: the listener is down and polling has not "
                "reached PostgreSQL recently"
            )
        return CheckResult(ok=ok, detail=detail)

    return check


def status_check(readiness: Callable[[], dict[str, Any]]) -> ReadinessCheck:
    """A component that reports its own figures; ready while its ``status`` is ``ok``."""

    async def check() -> CheckResult:
        detail = readiness()
        return CheckResult(ok=detail.get("status") == "ok", detail=detail)

    return check


def maintenance_check(maintenance: Maintenance) -> ReadinessCheck:
    """Event-lake housekeeping: informative only (a postponed run is retried, not fatal)."""

    async def check() -> CheckResult:
        return CheckResult(ok=True, detail=maintenance.readiness())

    return check


def _pool(pool: Any) -> dict[str, Any]:
    return {
        "pool": {
            "size": pool.size(),
            "checked_out": pool.checkedout(),
            "checked_in": pool.checkedin(),
            "overflow": pool.overflow(),
        }
    }
