"""The FastAPI application. Built by the entrypoint with the settings and database URL; the
lifespan owns the engine (created on startup, disposed on shutdown)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from townsquare import __version__
from townsquare.api import health
from townsquare.api.deps import RateLimiter
from townsquare.api.metrics import install_metrics
from townsquare.api.problems import install_problem_handlers
from townsquare.api.routes import admin, auth, public
from townsquare.config.settings import Settings
from townsquare.pipeline.ingest import Pipeline
from townsquare.store.engine import create_db_engine, create_session_factory
from townsquare.store.migrate import head_revision

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings,
    database_url: str,
    *,
    pipeline: Pipeline | None = None,
    checks: Mapping[str, health.ReadinessCheck] | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The app; ``pipeline`` and further ``checks`` (owned by the caller) join ``/ready``.

    ``routers`` are mounted as they are, before the API's own (their paths must not
    overlap): platform adapters bring their own (the LINE webhook), so this module need not
    know about adapters (the layers forbid it)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_db_engine(database_url, settings.database)
        app.state.engine = engine
        app.state.session_factory = create_session_factory(engine)
        app.state.readiness["database"] = health.database_check(
            engine, database_url, settings.database, head_revision()
        )
        if pipeline is not None:
            app.state.readiness["pipeline"] = health.pipeline_check(pipeline)
            metrics.watch_pipeline(pipeline)
            if pipeline.config_cache is not None:
                app.state.readiness["config"] = health.config_check(pipeline.config_cache)
                metrics.watch_config_cache(pipeline.config_cache)
        app.state.readiness.update(checks or {})
        try:
            yield
        finally:
            await app.state.rate_limiter.close()
            await engine.dispose()

    app = FastAPI(
        title="Townsquare",
        version=__version__,
        description="Community engine for Discord and LINE: engagement economy and assistant.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database_url = database_url
    app.state.readiness = {}
    app.state.pipeline = pipeline
    app.state.rate_limiter = RateLimiter(settings.api.rate_limit_storage)
    install_problem_handlers(app)
    metrics = install_metrics(app)
    for router in routers:  # first: a webhook is the hottest path, and routes match in order
        app.include_router(router)
    app.include_router(health.router)
    app.include_router(auth.router, prefix=API_PREFIX)
    app.include_router(public.router, prefix=API_PREFIX)
    app.include_router(admin.router, prefix=API_PREFIX)
    return app
