"""``townsquare version``, ``serve``, ``run`` and ``demo``: the commands that run things."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import platform
import subprocess
import time
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare import __version__
from townsquare.adapters.protocol import ChatAdapter
from townsquare.api.app import create_app
from townsquare.api.health import maintenance_check, status_check
from townsquare.api.server import bind_socket, serve_http
from townsquare.cli.app import app
from townsquare.cli.common import out_console, sigterm_unwinds, state
from townsquare.cli.platforms import AdapterFactory, adapter_factories, webhook_routers
from townsquare.config.settings import Settings
from townsquare.errors import SchemaError, TownsquareError
from townsquare.log import get_logger
from townsquare.pipeline.demo import DemoTraffic, install_communities
from townsquare.pipeline.grants import GrantRelay
from townsquare.pipeline.ingest import Pipeline
from townsquare.pipeline.maintenance import Maintenance
from townsquare.pipeline.simulator import SimulationSpec, Simulator
from townsquare.store import migrate
from townsquare.store.database import DatabaseLocation, open_database
from townsquare.store.embedded import postgres_bin_dir
from townsquare.store.engine import (
    create_db_engine,
    create_sync_engine,
    display_url,
    translate_errors_sync,
)
from townsquare.store.leaderboards import leaderboard_page

log = get_logger(__name__)

HostOption = Annotated[
    str | None, typer.Option("--host", help="Interface to listen on [default: api.host setting].")
]
PortOption = Annotated[
    int | None,
    typer.Option("--port", help="TCP port, 0 for any free one [default: api.port setting]."),
]
DurationOption = Annotated[
    float | None,
    typer.Option(
        "--duration",
        min=0,
        help="Stop cleanly after this many seconds (default: run until Ctrl-C).",
    ),
]


@app.command()
def version() -> None:
    """Print the versions of Townsquare, Python and the embedded PostgreSQL."""
    embedded = "not available"
    try:
        out = subprocess.run(
            [str(postgres_bin_dir() / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        embedded = out.strip().rsplit(" ", 1)[-1]
    except (OSError, subprocess.SubprocessError, TownsquareError) as exc:
        embedded = f"not available: {exc}"
    python = platform.python_version()
    out_console.print(
        f"townsquare {__version__} (Python {python}, embedded PostgreSQL {embedded})",
        highlight=False,
    )


@app.command(
    epilog=(
        "Examples:\n\n"
        "  townsquare serve\n\n"
        "  townsquare serve --host 0.0.0.0 --port 8080\n\n"
        "  TOWNSQUARE_DATABASE_URL=postgresql://app@db/townsquare townsquare serve --migrate"
    )
)
def serve(
    ctx: typer.Context,
    host: HostOption = None,
    port: PortOption = None,
    migrate_schema: Annotated[
        bool,
        typer.Option("--migrate", help="Apply pending migrations to an external database first."),
    ] = False,
    duration: DurationOption = None,
) -> None:
    """Run the HTTP API (health at /health, readiness at /ready, docs at /docs).

    With LINE channels configured it also receives their webhooks into the inbox (a
    receiver only: `townsquare run` processes what it stores), so receivers can scale out.
    """
    settings = state(ctx).settings()
    with sigterm_unwinds(), open_database(settings) as location:
        prepare_schema(settings, location, apply=migrate_schema or location.kind == "embedded")
        _serve(settings, location, host, port, duration, banner=None)


@app.command(
    name="run",
    epilog=(
        "Examples:\n\n"
        "  TOWNSQUARE_DISCORD_TOKEN=... townsquare run\n\n"
        "  townsquare run --platform discord --port 8080\n\n"
        '  TOWNSQUARE_LINE_CHANNELS=\'[{"key": "clinic", "secret": "...", '
        '"access_token": "..."}]\' townsquare run --platform line\n\n'
        "  TOWNSQUARE_DISCORD_SHARD_COUNT=4 TOWNSQUARE_DISCORD_SHARD_IDS='[0,1]' townsquare run"
    ),
)
def run_bots(
    ctx: typer.Context,
    platform_name: Annotated[
        str,
        typer.Option(
            "--platform",
            help="Which platform adapters to start: all (every configured one), discord or line.",
        ),
    ] = "all",
    host: HostOption = None,
    port: PortOption = None,
    migrate_schema: Annotated[
        bool,
        typer.Option("--migrate", help="Apply pending migrations to an external database first."),
    ] = False,
    duration: DurationOption = None,
) -> None:
    """Run the bots: platform adapters, ingest pipeline, grant relay, maintenance and the API.

    One process serves every configured platform (or --platform one); /ready shows each
    adapter's state (per Discord shard; LINE's inbox depth). A missing or refused token, or
    a privileged intent the developer portal has not enabled, stops it at once with what to
    change. LINE webhooks arrive at /line/webhook/KEY, one URL per configured channel.
    """
    settings = state(ctx).settings()
    factories = adapter_factories(settings, platform_name)
    with sigterm_unwinds(), open_database(settings) as location:
        prepare_schema(settings, location, apply=migrate_schema or location.kind == "embedded")
        _serve(settings, location, host, port, duration, banner="Townsquare", adapters=factories)


@app.command(
    epilog=(
        "Examples:\n\n  townsquare demo\n\n  townsquare demo --port 8080 --duration 60\n\n"
        "  townsquare demo --rate 2000 --members 5000"
    )
)
def demo(
    ctx: typer.Context,
    host: HostOption = None,
    port: PortOption = None,
    duration: DurationOption = None,
    rate: Annotated[int, typer.Option(min=0, help="Simulated events per second (0: none).")] = 200,
    members: Annotated[int, typer.Option(min=2, help="Members per simulated community.")] = 500,
) -> None:
    """Run a simulated community end to end: embedded PostgreSQL, pipeline, API.

    Two Discord guilds and a LINE group chat, post, react and talk at --rate events/s;
    the terminal shows events/s, level-ups and unlocks as they are committed. Runs until
    Ctrl-C (or --duration seconds), then stops everything it started.
    """
    settings = state(ctx).settings()
    with sigterm_unwinds(), open_database(settings) as location:
        prepare_schema(settings, location, apply=True)
        simulator = None
        board = None
        if rate:
            spec = SimulationSpec(
                communities=2,
                line_communities=1,
                members=members,
                seed=int(time.time()),
                start=int(time.time()),
                events_per_day=max(1, rate * 86_400 // 3),
            )
            simulator = Simulator(spec)
            board = install_communities(location.url, simulator)["guild-1"]
        _serve(
            settings,
            location,
            host,
            port,
            duration,
            banner="Townsquare demo",
            traffic=(simulator, rate, board),
        )


def prepare_schema(settings: Settings, location: DatabaseLocation, *, apply: bool) -> None:
    engine = create_sync_engine(location.url, settings.database)
    try:
        with translate_errors_sync(location.url, settings.database):
            schema = migrate.upgrade(engine) if apply else migrate.status(engine)
    finally:
        engine.dispose()
    if not schema.up_to_date:
        raise SchemaError(
            f"The database schema is at {schema.current or 'base (empty)'} but this version "
            f"needs {schema.head}. Run `townsquare db upgrade` (or `serve --migrate`)."
        )


def _serve(
    settings: Settings,
    location: DatabaseLocation,
    host: str | None,
    port: int | None,
    duration: float | None,
    banner: str | None,
    traffic: tuple[Simulator | None, int, int | None] | None = None,
    adapters: Sequence[AdapterFactory] = (),
) -> None:
    sock = bind_socket(host or settings.api.host, settings.api.port if port is None else port)

    def started(base_url: str) -> None:
        # What exists now lives as long as the process: keep it out of the collector's full
        # passes (a 200 ms gen-2 pause under webhook load became 9 ms; bench webhook).
        gc.freeze()
        log.info("api_started", url=base_url, database=location.kind)
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_row("API", f"{base_url}  (interactive docs: {base_url}/docs)")
        table.add_row("Health", f"{base_url}/health   Ready: {base_url}/ready")
        where = f"embedded in {location.data_dir}" if location.data_dir else "external"
        table.add_row("Database", f"{where}: {display_url(location.url)}")
        if traffic is not None and traffic[0] is not None:
            table.add_row("Simulation", f"{traffic[1]} events/s into the ingest pipeline")
        for adapter in running:
            table.add_row("Platform", f"{adapter.name}: connected")
        for channel in settings.line.channels:
            table.add_row("LINE webhook", f"{base_url}/line/webhook/{channel.key}")
        table.add_row("Stop", "Ctrl-C" + (f" (or after {duration:g} s)" if duration else ""))
        out_console.print(Panel(table, title=banner or "Townsquare", expand=False))

    running: list[ChatAdapter] = []

    async def run() -> None:
        if traffic is None and not adapters:
            app = create_app(settings, location.url, routers=webhook_routers(settings, ()))
            await serve_http(app, sock, duration=duration, on_started=started)
            return
        simulator, rate, board = traffic or (None, 0, None)
        engine = create_db_engine(
            location.url, settings.database.model_copy(update={"pool_size": 2})
        )
        maintenance = Maintenance(
            engine,
            settings.pipeline,
            settings.database,
            session_retention_days=settings.auth.session_retention_days,
        )
        async with Pipeline(
            location.url, settings.pipeline, settings.database, cache_settings=settings.cache
        ) as pipeline:
            stop = asyncio.Event()
            failed = asyncio.Event()
            tasks = [asyncio.create_task(maintenance.run(stop), name="townsquare-maintenance")]
            # Admin grants (API, dashboard) are applied by the process that runs the pipeline.
            relay = GrantRelay(pipeline, engine)
            await relay.start()
            checks = {"maintenance": maintenance_check(maintenance)}
            try:
                for factory in adapters:
                    adapter = factory(pipeline, engine)
                    await adapter.start()
                    running.append(adapter)
                    checks[adapter.name] = status_check(adapter.readiness)
                    tasks.append(
                        asyncio.create_task(_watch(adapter, failed), name=f"watch-{adapter.name}")
                    )
                app = create_app(
                    settings,
                    location.url,
                    pipeline=pipeline,
                    checks=checks,
                    routers=webhook_routers(settings, running),
                )
                if simulator is not None:
                    feed = DemoTraffic(pipeline, simulator, rate)
                    tasks += [
                        asyncio.create_task(feed.run(stop), name="townsquare-demo-traffic"),
                        asyncio.create_task(
                            _progress(feed, pipeline, stop, engine, board),
                            name="townsquare-demo-progress",
                        ),
                    ]
                await serve_http(app, sock, duration=duration, on_started=started, stop=failed)
            finally:
                stop.set()
                for adapter in reversed(running):
                    await adapter.stop()
                await relay.stop()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await engine.dispose()
            for adapter in running:
                if adapter.failed is not None:
                    raise PlatformFailed(
                        f"The {adapter.name} adapter stopped: {adapter.failed}"
                    ) from adapter.failed

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    log.info("stopped")


class PlatformFailed(TownsquareError):
    """A platform adapter stopped on its own (its error says why)."""

    code = "platform_failed"


async def _watch(adapter: ChatAdapter, failed: asyncio.Event) -> None:
    """Stop the process when an adapter dies, so a supervisor restarts it."""
    await adapter.wait_stopped()
    if adapter.failed is None:
        return
    log.error("platform_adapter_failed", platform=adapter.name, error=str(adapter.failed))
    failed.set()


async def _progress(
    feed: DemoTraffic,
    pipeline: Pipeline,
    stop: asyncio.Event,
    engine: AsyncEngine,
    board: int | None,
) -> None:
    """Every few seconds: what was committed, level-ups and unlocks, and the top of a board."""
    last_time, last_committed = time.monotonic(), 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5)
        now, committed = time.monotonic(), pipeline.figures.committed_events
        rate = (committed - last_committed) / max(now - last_time, 1e-9)
        last_time, last_committed = now, committed
        figures = feed.figures
        out_console.print(
            f"[bold]{committed:,}[/] events committed ({rate:,.0f}/s), "
            f"{figures.level_ups:,} level-ups, {figures.unlocks:,} unlocks, "
            f"pipeline {pipeline.figures.state}",
            highlight=False,
        )
        while figures.recent:
            out_console.print(f"  {figures.recent.popleft()}", highlight=False)
        if board is not None:
            with contextlib.suppress(TownsquareError):
                async with engine.connect() as conn:
                    page = await leaderboard_page(conn, board, "xp", limit=3)
                top = ", ".join(
                    f"#{e.rank} {e.display_name} ({e.value:,} XP, level {e.level})"
                    for e in page.entries
                )
                if top:
                    out_console.print(f"  guild-1 leaderboard: {top}", highlight=False)
