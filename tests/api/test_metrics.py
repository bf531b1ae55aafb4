"""``/metrics``: Prometheus text with the pipeline, config cache, requests and errors."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.core.builders import T0, message
from townsquare.api.app import create_app
from townsquare.config.settings import load_settings
from townsquare.pipeline.ingest import Pipeline


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_show_the_pipeline_the_cache_requests_and_errors(
    migrated_database: str, tmp_path: Path
) -> None:
    settings = load_settings(pipeline={"spool_dir": str(tmp_path / "spool"), "linger_ms": 5})
    async with Pipeline(
        migrated_database, settings.pipeline, settings.database, cache_settings=settings.cache
    ) as pipeline:
        for i in range(3):
            await pipeline.ingest(message(f"m{i}", member=f"u{i}", at=T0 + i))
        await pipeline.flush()
        app = create_app(settings, migrated_database, pipeline=pipeline)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                await client.get("/ready")
                await client.get("/api/v1/no-such-route")
                response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    assert samples[("townsquare_pipeline_events_committed_total", ())] == 3
    assert samples[("townsquare_pipeline_batches_total", ())] >= 1
    assert samples[("townsquare_config_listening", ())] == 1
    ready = (("method", "GET"), ("route", "/ready"), ("status", "200"))
    assert samples[("townsquare_http_requests_total", ready)] == 1
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert samples[("townsquare_http_requests_total", unmatched)] == 1
    assert ("townsquare_http_request_seconds_count", (("route", "/ready"),)) in samples


async def test_problem_codes_are_counted(database_url: str) -> None:
    app = create_app(load_settings(), database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(2):
                refused = await client.get(
                    "/api/v1/auth/me", headers={"Authorization": "Bearer tsq_wrong"}
                )
                assert refused.status_code == 401
            text = (await client.get("/metrics")).text
    assert _samples(text)[("townsquare_errors_total", (("code", "not_authenticated"),))] == 2
