"""Property-based run over the whole OpenAPI: whatever schemathesis sends, never a 5xx.

The real app is served by uvicorn on 127.0.0.1 against a database holding a simulated
community, and every operation is called with generated inputs — anonymously and with
an API token that may read, grant and configure in that community (so admin routes are
exercised past their permission checks, not only refused). Any 5xx fails the test.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from sqlalchemy.engine import make_url

from townsquare.api.app import create_app
from townsquare.config.settings import load_settings
from townsquare.pipeline.demo import install_communities
from townsquare.pipeline.ingest import Pipeline
from townsquare.pipeline.simulator import SimulationSpec, Simulator
from townsquare.services.accounts import Permission, create_api_token
from townsquare.store.engine import create_db_engine, create_session_factory, libpq_url


async def _seed(url: str, spool: Path) -> str:
    """One simulated community with some history; an API token for it."""
    simulator = Simulator(SimulationSpec(communities=1, members=60, seed=3))
    community_id = install_communities(url, simulator)[simulator.community_ids[0]]
    config = load_settings(pipeline={"spool_dir": str(spool), "linger_ms": 5})
    async with Pipeline(url, config.pipeline, config.database) as pipeline:
        await pipeline.ingest_many(simulator.take(1500))
        await pipeline.flush()
    engine = create_db_engine(url, config.database)
    try:
        async with create_session_factory(engine)() as session:
            token = await create_api_token(
                session,
                community_id,
                "fuzz",
                [Permission.READ, Permission.GRANT, Permission.CONFIGURE],
                created_by=None,
            )
            await session.commit()
    finally:
        await engine.dispose()
    return token.token


@pytest.fixture(scope="module")
def served(
    migrated_template: str, postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(base URL, API token) of the app served on a free local port."""
    name = f"townsquare_fuzz_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    token = asyncio.run(_seed(url, tmp_path_factory.mktemp("spool")))
    app_settings = load_settings(
        api={"read_rate_limit": "100000/minute", "mutation_rate_limit": "100000/minute"}
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(app_settings, url),
            host="127.0.0.1",
            port=port,
            log_config=None,  # leave the process's logging alone (other tests depend on it)
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def api_schema(served: tuple[str, str]) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{served[0]}/openapi.json")


@pytest.mark.slow
def test_no_input_gives_a_server_error(
    api_schema: schemathesis.BaseSchema, served: tuple[str, str]
) -> None:
    base_url, token = served
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    assert operations
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            for headers in ({}, {"Authorization": f"Bearer {token}"}):
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:300]}"
                    )

        call()
    assert failures == []
