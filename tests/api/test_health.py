from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from townsquare.api.app import create_app
from townsquare.api.deps import Session
from townsquare.config.settings import load_settings


@asynccontextmanager
async def _client(database_url: str, **database: object) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(database={"connect_timeout": 2, **database})
    app = create_app(settings, database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://app:hunter2@127.0.0.1:{port}/townsquare"


async def test_health_answers_without_touching_the_database() -> None:
    async with _client(_closed_port_url()) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_ready_reports_database_latency_pool_and_schema(database_url: str) -> None:
    async with _client(database_url) as client:
        response = await client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    database = body["checks"]["database"]
    assert database["ok"] is True
    assert database["schema_revision"] == database["schema_expected"]
    assert database["latency_ms"] >= 0
    assert set(database["pool"]) == {"size", "checked_out", "checked_in", "overflow"}


async def test_ready_is_503_when_the_database_is_unreachable() -> None:
    async with _client(_closed_port_url()) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    database = response.json()["checks"]["database"]
    assert database["ok"] is False
    assert database["code"] == "database_unavailable"
    assert "hunter2" not in response.text


async def test_ready_is_503_when_the_schema_is_not_migrated(fresh_database: str) -> None:
    async with _client(fresh_database) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert "townsquare db upgrade" in response.json()["checks"]["database"]["error"]


async def test_exhausted_pool_is_a_503_not_a_hang(database_url: str) -> None:
    async with _client(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2) as client:
        app: FastAPI = client.app  # type: ignore[attr-defined]
        async with app.state.engine.connect():
            response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["code"] == "database_pool_exhausted"


async def test_unexpected_errors_are_problem_json_without_internals(database_url: str) -> None:
    async with _client(database_url) as client:
        app: FastAPI = client.app  # type: ignore[attr-defined]

        async def crash() -> None:
            raise RuntimeError("secret internal detail")

        app.add_api_route("/crash", crash)
        response = await client.get("/crash")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    assert "secret internal detail" not in response.text


async def test_database_outage_inside_a_request_is_a_503_problem(database_url: str) -> None:
    async with _client(_closed_port_url()) as client:
        app: FastAPI = client.app  # type: ignore[attr-defined]
        engine = app.state.engine

        async def query() -> None:
            async with engine.connect():
                pass

        app.add_api_route("/query", query)
        response = await client.get("/query")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert "hunter2" not in response.text


async def test_exhausted_pool_inside_a_request_is_a_503_with_retry_after(
    database_url: str,
) -> None:
    async with _client(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2) as client:
        app: FastAPI = client.app  # type: ignore[attr-defined]

        async def query(session: Session) -> None:
            await session.execute(text("SELECT 1"))

        app.add_api_route("/query", query)
        async with app.state.engine.connect():
            response = await client.get("/query")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "database_pool_exhausted"
    assert int(response.headers["retry-after"]) > 0
