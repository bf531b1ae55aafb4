"""End-to-end throughput and latency of the ingest pipeline (``townsquare bench pipeline``).

Runs in scratch databases on the configured server (embedded by default) that are dropped
afterwards. Phases, each with fresh simulated events (`townsquare.pipeline.simulator`):

1. **Throughput**: N events pushed as fast as back-pressure allows, in the simulator's
   chunks through ``ingest_many`` (as a LINE webhook delivery or an import hands events
   over; ``ingest`` one at a time costs about a microsecond more per event); events/s
   from the first ingest to the last commit, SQL statements per event.
2. **Latency**: events paced at ``rate`` per second for a few seconds; ingest->commit
   p50/p95/p99 (the throughput phase measures queueing, not latency).
3. **Baseline** (optional): the same writer and rules, one event per transaction — what
   the predecessor did (it also used two transactions and a dozen statements per event, so
   the ratio printed is a conservative one).

Events are generated in chunks as they are pushed (the simulator makes 200,000+ events/s,
a few per cent of the time measured here), so peak RSS is the pipeline's and the
simulator's, not that of a list of pre-generated events.
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from townsquare.bench.scratch import scratch_database
from townsquare.config.settings import DatabaseSettings, PipelineSettings
from townsquare.core import Event
from townsquare.pipeline.demo import install_communities
from townsquare.pipeline.ingest import Pipeline
from townsquare.pipeline.simulator import SimulationSpec, Simulator


def _generate(simulator: Simulator, count: int) -> list[Event]:
    events: list[Event] = []
    while len(events) < count:
        events += simulator.take(min(5_000, count - len(events)))
    return events


async def _push(pipeline: Pipeline, simulator: Simulator, count: int) -> float:
    started = time.perf_counter()
    left = count
    while left:
        chunk = simulator.take(min(5_000, left))
        left -= len(chunk)
        await pipeline.ingest_many(chunk)
    await pipeline.flush()
    return time.perf_counter() - started


async def _paced(pipeline: Pipeline, events: list[Event], rate: int) -> None:
    started = time.perf_counter()
    for index, event in enumerate(events):
        due = started + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await pipeline.ingest(event)
    await pipeline.flush()


async def _run(
    url: str,
    spec: SimulationSpec,
    events: int,
    rate: int,
    latency_seconds: float,
    settings: PipelineSettings,
) -> dict[str, float]:
    simulator = Simulator(spec)
    install_communities(url, simulator)
    async with Pipeline(url, settings, DatabaseSettings()) as pipeline:
        await _push(pipeline, simulator, min(5_000, events))
        before = pipeline.figures.statements, pipeline.figures.committed_events
        elapsed = await _push(pipeline, simulator, events)
        statements = pipeline.figures.statements - before[0]
        committed = pipeline.figures.committed_events - before[1]
        pipeline.figures.latencies_ms.clear()
        await _paced(pipeline, _generate(simulator, int(rate * latency_seconds)), rate)
        figures = pipeline.figures
        return {
            "events": float(committed),
            "events_per_s": round(committed / elapsed, 1),
            "statements_per_event": round(statements / max(committed, 1), 4),
            "paced_rate": float(rate),
            "p50_ms": round(figures.percentile(0.50) or 0.0, 2),
            "p95_ms": round(figures.percentile(0.95) or 0.0, 2),
            "p99_ms": round(figures.percentile(0.99) or 0.0, 2),
        }


async def _baseline(url: str, spec: SimulationSpec, events: int, spool: Path) -> float:
    simulator = Simulator(spec)
    install_communities(url, simulator)
    settings = PipelineSettings(spool_dir=spool, batch_size=1, linger_ms=0, queue_size=1)
    async with Pipeline(url, settings, DatabaseSettings()) as pipeline:
        await _push(pipeline, simulator, 200)
        elapsed = await _push(pipeline, simulator, events)
    return events / elapsed


def run_pipeline_bench(
    server_url: str,
    *,
    communities: int = 4,
    members: int = 5_000,
    events: int = 200_000,
    rate: int = 5_000,
    latency_seconds: float = 10.0,
    baseline: bool = False,
    baseline_events: int = 3_000,
    batch_size: int = 5_000,
    seed: int = 1,
) -> dict[str, float]:
    """Run the phases and return the figures (keys as documented in the README)."""
    spec = SimulationSpec(communities=communities, members=members, seed=seed)
    with tempfile.TemporaryDirectory(prefix="townsquare-bench-") as scratch:
        spool = Path(scratch)
        settings = PipelineSettings(spool_dir=spool / "spool", batch_size=batch_size)
        with scratch_database(server_url) as url:
            figures: dict[str, Any] = asyncio.run(
                _run(url, spec, events, rate, latency_seconds, settings)
            )
        if baseline:
            with scratch_database(server_url) as url:
                per_event = asyncio.run(_baseline(url, spec, baseline_events, spool / "base"))
            figures["baseline_events_per_s"] = round(per_event, 1)
            figures["ratio"] = round(figures["events_per_s"] / per_event, 1)
    # Peak RSS of the whole process: pipeline, simulator (its members' state) and Python.
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    figures["members"] = float(members * communities)
    return figures
