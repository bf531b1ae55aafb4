"""Gateway events through the real Discord adapter to commit (``townsquare bench discord``).

Set up as ``townsquare run`` runs it, in one process: a scratch database on the configured
server (embedded by default, dropped afterwards), the ingest pipeline, and the unmodified
discord.py bot (`DiscordAdapter`: ``shards`` shards in this process, no Message Content
intent). Discord is a `FakeDiscordProcess`, a child process — in production Discord is
another machine, and a fake in a thread would spend its CPU and hold the GIL in the very
process measured. Guilds get the default rules every new guild gets on first sight.

Phases: warm-up (every member posts once, then a short mix: members known to the writer,
caches and code paths warm, as in a bot that has been running) and the measured phase,
``events`` gateway events (the mix in `discord_traffic`) as fast as the sockets take
them, or paced at ``per_second``.

* ``events_per_s``: core events committed ÷ (last commit − first dispatch). A 5 ms
  ticker notices commits, so the end is known to 5 ms.
* ``loop_lag_*``: the same ticker, in this process's event loop, records how late each
  wake-up is over the measured window.
* Where the CPU went: this process per event, the fake's child, and the PostgreSQL
  backends serving the scratch database (when the server runs on this machine).

The bench checks itself and fails loudly otherwise: nothing dropped, skipped or failed,
the pipeline committed exactly the dispatched events that map to core events, and the
event lake holds exactly those, kind by kind.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from townsquare.adapters.discord.bot import TownsquareBot
from townsquare.adapters.discord.runner import DiscordAdapter
from townsquare.bench.discord_traffic import (
    MEASURE,
    WARMUP,
    PhaseCounts,
    TrafficSpec,
    TrafficSummary,
    build_traffic,
)
from townsquare.bench.leaderboard_bench import percentiles
from townsquare.bench.scratch import scratch_database
from townsquare.config.settings import DatabaseSettings, DiscordSettings, PipelineSettings
from townsquare.errors import TownsquareError
from townsquare.fakes.discord.process import FakeDiscordProcess, FakeProcessFailed, PhaseReport
from townsquare.pipeline.ingest import Pipeline
from townsquare.store.engine import create_db_engine, libpq_url

_TICK = 0.005
#: No progress for this long (nothing committed, no frame parsed) fails the run.
_STALL_SECONDS = 60.0
_VOICE = "voice_segment"

FakeProcess = FakeDiscordProcess[TrafficSpec, TrafficSummary]


class DiscordBenchFailed(TownsquareError):
    """The run did not commit what was dispatched, or the fake or the bot failed."""

    code = "discord_bench_failed"


@dataclass
class _Ticker:
    """One 5 ms ticker in the measured loop: how late each wake-up is, and when each
    watched value (events committed, frames parsed) last changed."""

    watched: dict[str, Callable[[], object]]
    samples: list[tuple[float, float]] = field(default_factory=list)
    last: dict[str, object] = field(default_factory=dict)
    changed_at: dict[str, float] = field(default_factory=dict)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for name, read in self.watched.items():
            self.last[name], self.changed_at[name] = read(), loop.time()
        while True:
            due = loop.time() + _TICK
            await asyncio.sleep(_TICK)
            now = loop.time()
            self.samples.append((now, now - due))
            for name, read in self.watched.items():
                value = read()
                if value != self.last[name]:
                    self.last[name], self.changed_at[name] = value, now

    def lags_ms(self, start: float, end: float) -> list[float]:
        return [lag * 1000 for at, lag in self.samples if start <= at <= end]


@dataclass
class _GcPauses:
    """Garbage-collector pauses (start, seconds), from ``gc.callbacks``: what part of the
    loop lag is the collector's."""

    pauses: list[tuple[float, float]] = field(default_factory=list)
    _started: float = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._started = now
        else:
            self.pauses.append((self._started, now - self._started))

    def within(self, start: float, end: float) -> list[float]:
        return [seconds for at, seconds in self.pauses if start <= at <= end]


@dataclass(frozen=True)
class _PhaseResult:
    report: PhaseReport
    started_at: float
    ended_at: float  # the last commit
    parsed_at: float  # the bot parsed the phase's last frame
    committed: int
    voice_segments: int
    statements: int
    cpu_seconds: float
    cpu_wait_seconds: float | None
    postgres_cpu_seconds: float | None
    lags_ms: list[float]
    gc_pauses: list[float]
    commit_p50_ms: float | None
    commit_p99_ms: float | None

    @property
    def seconds(self) -> float:
        return max(self.ended_at - self.started_at, 1e-9)


def _shard_sequences(bot: TownsquareBot) -> dict[int, int]:
    """The last sequence number each shard has parsed (discord.py keeps it on the socket;
    a dispatch is parsed, and its handlers scheduled, before the next one is read)."""
    sequences = {}
    for shard_id, info in bot.shards.items():
        socket: Any = getattr(info._parent, "ws", None)
        sequences[shard_id] = int(getattr(socket, "sequence", None) or 0)
    return sequences


def _backend_pids(url: str) -> list[int]:
    """PostgreSQL backends serving this database, if the server runs on this machine."""
    host = make_url(url).host
    if host not in (None, "", "localhost", "127.0.0.1", "::1") and not str(host).startswith("/"):
        return []
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(pid) for (pid,) in rows]


def _cpu_of(pids: list[int]) -> dict[int, float]:
    """CPU seconds of processes from /proc (Linux); an empty map where that is unavailable."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    used = {}
    for pid in pids:
        with suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return used


def _run_queue_wait() -> float | None:
    """Seconds this thread (the event loop's) spent ready to run but waiting for a CPU
    (Linux schedstat): a loop that lags because the machine is busy, not because of it."""
    path = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
    try:
        return int(path.read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


async def _postgres_cpu(url: str) -> dict[int, float]:
    pids = await asyncio.to_thread(_backend_pids, url)
    return _cpu_of(pids)


@dataclass
class _Running:
    """What a phase runs against."""

    url: str
    fake: FakeProcess
    adapter: DiscordAdapter
    pipeline: Pipeline
    ticker: _Ticker
    gc_pauses: _GcPauses


async def _run_phase(run: _Running, phase: str, per_second: float | None) -> _PhaseResult:
    bot, pipeline, ticker = run.adapter.bot, run.pipeline, run.ticker
    expected = run.fake.summary.phases[phase]
    figures = pipeline.figures
    committed0, statements0 = figures.committed_events, figures.statements
    segments0 = bot.voice.segments_closed
    postgres0 = await _postgres_cpu(run.url)
    figures.latencies_ms.clear()
    loop = asyncio.get_running_loop()
    cpu0, wait0 = time.process_time(), _run_queue_wait()
    started = loop.time()
    # A generous deadline: the stall check below is what catches a stuck run.
    rate = min(per_second or 500.0, 500.0)
    report = await run.fake.dispatch(
        phase, per_second=per_second, timeout=120 + expected.total / rate
    )
    if report.dropped:
        raise DiscordBenchFailed(
            f"{phase}: the fake dropped {report.dropped} of {report.total} events "
            "(no shard session owned their guild)"
        )

    def target() -> int:
        return expected.core_total + bot.voice.segments_closed - segments0

    progress: tuple[int, dict[int, int]] = (-1, {})
    stalled_since = loop.time()
    while True:
        sequences = _shard_sequences(bot)
        caught_up = all(
            sequences.get(shard, 0) >= seq for shard, seq in report.shard_sequences.items()
        )
        done = figures.committed_events - committed0
        if caught_up and done >= target() and pipeline.queued == 0:
            break
        if run.adapter.failed is not None:
            raise DiscordBenchFailed(f"{phase}: the Discord adapter stopped: {run.adapter.failed}")
        if (done, sequences) != progress:
            progress, stalled_since = (done, sequences), loop.time()
        elif loop.time() - stalled_since > _STALL_SECONDS:
            raise DiscordBenchFailed(
                f"{phase}: stuck at {done:,} of {target():,} events committed "
                f"(shards parsed {sequences}, the fake sent {report.shard_sequences})"
            )
        await asyncio.sleep(_TICK)
    ended = ticker.changed_at["committed"]
    cpu, wait1 = time.process_time() - cpu0, _run_queue_wait()
    await pipeline.flush()
    postgres1 = await _postgres_cpu(run.url)
    postgres_cpu = None
    if postgres1:
        postgres_cpu = sum(used - postgres0.get(pid, 0.0) for pid, used in postgres1.items())
    return _PhaseResult(
        report=report,
        started_at=started,
        ended_at=ended,
        parsed_at=ticker.changed_at["parsed"],
        committed=figures.committed_events - committed0,
        voice_segments=bot.voice.segments_closed - segments0,
        statements=figures.statements - statements0,
        cpu_seconds=cpu,
        cpu_wait_seconds=None if wait0 is None or wait1 is None else wait1 - wait0,
        postgres_cpu_seconds=postgres_cpu,
        lags_ms=ticker.lags_ms(started, ended),
        gc_pauses=run.gc_pauses.within(started, ended),
        commit_p50_ms=figures.percentile(0.50),
        commit_p99_ms=figures.percentile(0.99),
    )


def _check_phase(phase: str, result: _PhaseResult, expected: PhaseCounts) -> None:
    wanted = expected.core_total + result.voice_segments
    if result.report.dispatched != expected.total:
        raise DiscordBenchFailed(
            f"{phase}: the fake dispatched {result.report.dispatched:,} of {expected.total:,}"
        )
    if result.committed != wanted:
        raise DiscordBenchFailed(
            f"{phase}: the pipeline committed {result.committed:,} events but the "
            f"{expected.total:,} dispatches map to {wanted:,} core events"
        )


async def _lake_counts(url: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(libpq_url(url)) as conn:
        cursor = await conn.execute(
            "SELECT kind, count(*) FROM events WHERE platform = 'discord' GROUP BY kind"
        )
        return {str(kind): int(count) for kind, count in await cursor.fetchall()}


def check_lake(lake: dict[str, int], summary: TrafficSummary, voice_segments: int) -> None:
    expected: dict[str, int] = {}
    for counts in summary.phases.values():
        for kind, count in counts.core.items():
            expected[kind] = expected.get(kind, 0) + count
    if voice_segments:
        expected[_VOICE] = voice_segments
    if lake != expected:
        raise DiscordBenchFailed(
            f"the event lake holds {lake} but the dispatched events map to {expected}"
        )


def _check_bot(adapter: DiscordAdapter, pipeline: Pipeline) -> None:
    bot, figures = adapter.bot.figures, pipeline.figures
    problems = {
        "dispatches skipped as malformed": bot.skipped_malformed,
        "handler errors": bot.handler_errors,
        "events failed in the rules": figures.failed_events,
        "events dead-lettered": figures.dead_lettered,
        "redeliveries": figures.duplicates,
        "batches spooled": figures.spooled_batches,
    }
    found = {what: count for what, count in problems.items() if count}
    if found:
        raise DiscordBenchFailed(f"the run was not clean: {found}")


async def _run(
    url: str, fake: FakeProcess, spec: TrafficSpec, spool: Path, per_second: float | None
) -> tuple[_PhaseResult, dict[str, int]]:
    engine = create_db_engine(url, DatabaseSettings(pool_size=2))
    settings = DiscordSettings(
        token=SecretStr(fake.token),
        api_url=fake.url,
        shard_count=spec.shards,
        sync_commands=False,
    )
    gc_pauses = _GcPauses()
    gc.callbacks.append(gc_pauses)
    try:
        with fake.redirect_discord_py():
            async with Pipeline(url, PipelineSettings(spool_dir=spool), DatabaseSettings()) as (
                pipeline
            ):
                adapter = DiscordAdapter(settings, pipeline, engine, ready_timeout=120.0)
                ticker = _Ticker(
                    {
                        "committed": lambda: pipeline.figures.committed_events,
                        "parsed": lambda: sum(_shard_sequences(adapter.bot).values()),
                    }
                )
                run = _Running(url, fake, adapter, pipeline, ticker, gc_pauses)
                tick = asyncio.create_task(ticker.run(), name="bench-discord-ticker")
                try:
                    await adapter.start()
                    await _until_guilds_set_up(adapter, len(fake.summary.guild_ids))
                    warm = await _run_phase(run, WARMUP, None)
                    _check_phase(WARMUP, warm, fake.summary.phases[WARMUP])
                    measured = await _run_phase(run, MEASURE, per_second)
                    _check_phase(MEASURE, measured, fake.summary.phases[MEASURE])
                    _check_bot(adapter, pipeline)
                finally:
                    tick.cancel()
                    with suppress(asyncio.CancelledError):
                        await tick
                    await adapter.stop()
                voice_segments = adapter.bot.voice.segments_closed
        lake = await _lake_counts(url)
    finally:
        gc.callbacks.remove(gc_pauses)
        await engine.dispose()
    check_lake(lake, fake.summary, voice_segments)
    return measured, lake


async def _until_guilds_set_up(adapter: DiscordAdapter, guilds: int) -> None:
    """Every guild's community exists (GUILD_CREATE handlers run after READY)."""
    deadline = time.monotonic() + 120
    while len(adapter.bot.communities) < guilds:
        if time.monotonic() > deadline:
            raise DiscordBenchFailed(
                f"only {len(adapter.bot.communities)} of {guilds} guilds were set up"
            )
        await asyncio.sleep(0.05)


def run_discord_bench(
    server_url: str,
    *,
    events: int = 100_000,
    guilds: int = 4,
    members: int = 2_000,
    shards: int = 2,
    per_second: float = 0,
    seed: int = 1,
) -> dict[str, float]:
    """Run both phases and return the measured phase's figures (keys in the README)."""
    spec = TrafficSpec(events=events, guilds=guilds, members=members, shards=shards, seed=seed)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="townsquare-bench-") as scratch,
            scratch_database(server_url) as url,
            FakeDiscordProcess(build_traffic, spec, shard_count=shards) as fake,
        ):
            measured, lake = asyncio.run(
                _run(url, fake, spec, Path(scratch) / "spool", per_second or None)
            )
            counts = fake.summary.phases[MEASURE]
    except FakeProcessFailed as error:
        raise DiscordBenchFailed(str(error)) from error
    return _figures(measured, counts, spec, lake)


def _figures(
    result: _PhaseResult, counts: PhaseCounts, spec: TrafficSpec, lake: dict[str, int]
) -> dict[str, float]:
    seconds = result.seconds
    parsed = max(result.parsed_at - result.started_at, 1e-9)
    lags = result.lags_ms or [0.0]
    p50, p99 = percentiles(lags)
    committed = result.committed
    gateway = counts.total
    figures: dict[str, Any] = {
        "events_per_s": round(committed / seconds, 1),
        "loop_lag_p99_ms": round(p99, 2),
        "loop_lag_p50_ms": round(p50, 2),
        "loop_lag_max_ms": round(max(lags), 2),
        "events": committed,
        "gateway_events": gateway,
        "voice_segments": result.voice_segments,
        "gateway_events_per_s": round(gateway / seconds, 1),
        "seconds": round(seconds, 3),
        # The adapter alone: gateway events parsed and handed on, per second of the phase
        # until the bot had parsed its last frame (the pipeline may still be behind).
        "adapter_events_per_s": round(gateway / parsed, 1),
        "parsed_seconds": round(parsed, 3),
        "fake_write_seconds": round(result.report.seconds, 3),
    }
    for kind, count in sorted(_by_kind(counts, result).items()):
        figures[f"{kind}_per_s"] = round(count / seconds, 1)
    figures["voice_updates_per_s"] = round(counts.gateway.get("VOICE_STATE_UPDATE", 0) / seconds, 1)
    figures |= {
        "commit_latency_p50_ms": round(result.commit_p50_ms or 0.0, 2),
        "commit_latency_p99_ms": round(result.commit_p99_ms or 0.0, 2),
        "statements_per_event": round(result.statements / max(committed, 1), 4),
        "cpu_s": round(result.cpu_seconds, 2),
        "cpu_us_per_event": round(result.cpu_seconds / max(gateway, 1) * 1e6, 1),
        "cpu_share": round(result.cpu_seconds / seconds, 3),
        "fake_cpu_s": round(result.report.cpu_seconds, 2),
        "gc_s": round(sum(result.gc_pauses), 3),
        "gc_pause_max_ms": round(max(result.gc_pauses, default=0.0) * 1000, 2),
    }
    if result.cpu_wait_seconds is not None:
        # The loop was ready to run but another process had the CPU: a busy machine.
        figures["cpu_wait_s"] = round(result.cpu_wait_seconds, 2)
    if result.postgres_cpu_seconds is not None:
        figures["postgres_cpu_s"] = round(result.postgres_cpu_seconds, 2)
    figures |= {
        # This process only: the fake runs in a child of its own.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "shards": spec.shards,
        "guilds": spec.guilds,
        "members": spec.members * spec.guilds,
        "lake_events": sum(lake.values()),
    }
    return figures


def _by_kind(counts: PhaseCounts, result: _PhaseResult) -> dict[str, int]:
    """Core events of the measured phase by kind (voice segments as the adapter closed them)."""
    kinds = dict(counts.core)
    if result.voice_segments:
        kinds[_VOICE] = result.voice_segments
    return {_PLURAL.get(kind, kind): count for kind, count in kinds.items()}


_PLURAL = {
    "message": "messages",
    "reaction_added": "reactions_added",
    "reaction_removed": "reactions_removed",
    _VOICE: "voice_segments",
}
