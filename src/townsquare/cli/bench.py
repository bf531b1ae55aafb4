"""``townsquare bench``: performance figures, measured, printed as a table and as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from townsquare.cli.app import app
from townsquare.cli.common import out_console

bench_app = typer.Typer(
    help="Measure performance; --json PATH also writes the figures for comparison.",
    no_args_is_help=True,
    epilog=(
        "Examples:\n\n  townsquare bench core\n\n"
        "  townsquare bench core --events 500000 --json core.json"
    ),
)
app.add_typer(bench_app, name="bench")

JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")
]


def report(title: str, figures: dict[str, float], json_path: Path | None) -> None:
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, f"{value:,.2f}" if isinstance(value, float) else f"{value:,}")
    out_console.print(table)
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2) + "\n")


@bench_app.command("core")
def core(
    events: Annotated[int, typer.Option(min=1000, help="Message events to run.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic community.")] = 1,
    json_path: JsonOption = None,
) -> None:
    """Message events through the rules engine per second, on one core (target >= 100,000).

    A realistic config: 10 channel rules, 20 achievements, role multipliers, cooldowns.
    """
    from townsquare.bench.core_bench import run_core_bench

    report("rules engine (one core)", run_core_bench(events=events, seed=seed), json_path)


@bench_app.command("pipeline")
def pipeline(
    ctx: typer.Context,
    communities: Annotated[int, typer.Option(min=1, help="Simulated communities.")] = 4,
    members: Annotated[int, typer.Option(min=2, help="Members per community.")] = 5_000,
    events: Annotated[
        int, typer.Option(min=1000, help="Events in the throughput phase.")
    ] = 200_000,
    rate: Annotated[int, typer.Option(min=1, help="Events/s of the paced latency phase.")] = 5_000,
    latency_seconds: Annotated[
        float, typer.Option(min=1, help="Length of the paced latency phase.")
    ] = 10.0,
    baseline: Annotated[
        str | None,
        typer.Option(help="'per-event': also run one event per transaction and print the ratio."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Events per transaction.")] = 5_000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated communities.")] = 1,
    json_path: JsonOption = None,
) -> None:
    """End-to-end ingest: events/s, ingest->commit latency, statements/event, peak RSS.

    Runs in scratch databases on the configured PostgreSQL (embedded by default) and drops
    them afterwards. Targets: >= 25,000 events/s; p99 <= 250 ms at 5,000 events/s; >= 50x
    the per-event baseline.

    Example: townsquare bench pipeline --events 300000 --baseline per-event --json p.json
    """
    from townsquare.bench.pipeline_bench import run_pipeline_bench
    from townsquare.cli.common import sigterm_unwinds, state
    from townsquare.store.database import open_database

    if baseline not in (None, "per-event"):
        raise typer.BadParameter("the only baseline is 'per-event'", param_hint="--baseline")
    settings = state(ctx).settings()
    with sigterm_unwinds(), open_database(settings) as location:
        figures = run_pipeline_bench(
            location.url,
            communities=communities,
            members=members,
            events=events,
            rate=rate,
            latency_seconds=latency_seconds,
            baseline=baseline is not None,
            batch_size=batch_size,
            seed=seed,
        )
    report("ingest pipeline (end to end)", figures, json_path)


@bench_app.command("leaderboard")
def leaderboard(
    ctx: typer.Context,
    members: Annotated[int, typer.Option(min=100, help="Members in the scratch community.")] = (
        1_000_000
    ),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic balances.")] = 1,
    json_path: JsonOption = None,
) -> None:
    """Leaderboard read latency (p50/p99 ms) on one community of --members members.

    Loads Zipf-like balances with many ties into a scratch database (created on the
    configured or embedded server, dropped afterwards), then times the first page, a page
    half-way down and member_rank of a top, a median and a bottom member.
    """
    from townsquare.bench.leaderboard_bench import run_in_scratch_database
    from townsquare.cli.common import sigterm_unwinds, state
    from townsquare.store.database import open_database

    settings = state(ctx).settings()
    with sigterm_unwinds(), open_database(settings, attach=True) as location:
        figures = run_in_scratch_database(location.url, settings.database, members, seed)
    report(f"leaderboard reads ({members:,} members)", figures, json_path)


@bench_app.command("config")
def config(
    ctx: typer.Context,
    changes: Annotated[int, typer.Option(min=10, help="Changes timed with the listener up.")] = 300,
    poll_changes: Annotated[
        int, typer.Option(min=5, help="Changes timed with listening off (polling only).")
    ] = 40,
    poll_seconds: Annotated[
        float, typer.Option(min=0.05, help="Poll interval of the polling phase.")
    ] = 1.0,
    json_path: JsonOption = None,
) -> None:
    """Config change -> visible in another process's cache: p50/p99 latency in ms.

    A watcher process runs the live config cache; this one commits changes the way the
    admin services do. Targets: p99 < 100 ms with the listener up; < poll interval +
    100 ms when the cache can only poll. Runs in a scratch database, dropped afterwards.
    """
    from townsquare.bench.config_bench import run_config_bench
    from townsquare.bench.scratch import scratch_database
    from townsquare.cli.common import sigterm_unwinds, state
    from townsquare.store.database import open_database

    settings = state(ctx).settings()
    with (
        sigterm_unwinds(),
        open_database(settings) as location,
        scratch_database(location.url, settings.database) as url,
    ):
        figures = run_config_bench(url, changes, poll_changes, poll_seconds)
    report("config change -> visible in another process", figures, json_path)


@bench_app.command("api")
def api(
    ctx: typer.Context,
    members: Annotated[int, typer.Option(min=100, help="Members in the scratch community.")] = (
        1_000_000
    ),
    requests: Annotated[int, typer.Option(min=10, help="Timed requests per endpoint.")] = 2_000,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 32,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic community and load.")] = 1,
    json_path: JsonOption = None,
) -> None:
    """Public read API under concurrency: requests/s, p50/p99 ms, overall and per endpoint.

    Loads --members members into a scratch database (created on the configured or embedded
    server, dropped afterwards), serves the real API on a local port with the read rate
    limit raised, and drives leaderboard pages (first and deep), a member's neighbourhood
    and member profiles with --concurrency clients.
    """
    from townsquare.bench.api_bench import run_in_scratch_database
    from townsquare.cli.common import sigterm_unwinds, state
    from townsquare.store.database import open_database

    settings = state(ctx).settings()
    with sigterm_unwinds(), open_database(settings, attach=True) as location:
        figures = run_in_scratch_database(
            location.url,
            settings.database,
            members,
            seed,
            requests=requests,
            concurrency=concurrency,
        )
    report(f"public API reads ({members:,} members, {concurrency} clients)", figures, json_path)


@bench_app.command("discord")
def discord_gateway(
    ctx: typer.Context,
    events: Annotated[
        int, typer.Option(min=100, help="Gateway events in the measured phase.")
    ] = 100_000,
    guilds: Annotated[int, typer.Option(min=1, help="Guilds, spread over the shards.")] = 4,
    members: Annotated[int, typer.Option(min=2, help="Members per guild.")] = 2_000,
    shards: Annotated[int, typer.Option(min=1, help="Shards, all run by this one process.")] = 2,
    per_second: Annotated[
        int, typer.Option(min=0, help="Pace the gateway at this many events/s (0: flat out).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic traffic.")] = 1,
    json_path: JsonOption = None,
) -> None:
    """Gateway events/s one process handles through to commit, and its event-loop lag.

    The real bot (discord.py, --shards shards, no Message Content intent) and ingest
    pipeline in this process; a fake Discord in a child process sends a realistic mix
    (messages with replies and threads, reactions added and removed, voice joins and
    leaves) after a warm-up. Runs in a scratch database on the configured PostgreSQL
    (embedded by default), dropped afterwards, and fails unless the event lake holds
    exactly the events dispatched. Targets: >= 5,000 events/s; loop lag p99 <= 50 ms.

    Example: townsquare bench discord --events 200000 --json discord.json
    """
    from townsquare.bench.discord_bench import run_discord_bench
    from townsquare.cli.common import sigterm_unwinds, state
    from townsquare.store.database import open_database

    settings = state(ctx).settings()
    with sigterm_unwinds(), open_database(settings) as location:
        figures = run_discord_bench(
            location.url,
            events=events,
            guilds=guilds,
            members=members,
            shards=shards,
            per_second=per_second,
            seed=seed,
        )
    report("Discord gateway -> commit", figures, json_path)


@bench_app.command("webhook")
def webhook(
    ctx: typer.Context,
    rate: Annotated[int, typer.Option(min=1, help="Requests/s of the paced phase.")] = 500,
    seconds: Annotated[float, typer.Option(min=0.1, help="Length of the paced phase.")] = 10.0,
    requests: Annotated[int, typer.Option(min=10, help="Requests of the flat-out phase.")] = 5_000,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Connections (requests in flight at most).")
    ] = 32,
    chats: Annotated[int, typer.Option(min=1, help="Group chats (and as many 1:1 chats).")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic traffic.")] = 1,
    json_path: JsonOption = None,
) -> None:
    """LINE webhook acknowledgement: p50/p99 ms at --rate requests/s, and requests/s flat out.

    Signed one-event webhooks to a real receiver (`townsquare serve` with one LINE channel,
    in its own process) on a scratch database (created on the configured or embedded
    server, dropped afterwards); a request is timed until its 200, i.e. until its event is
    committed to the inbox. Fails unless every event is stored exactly once.
    Target: p99 <= 50 ms at 500 requests/s.

    Example: townsquare bench webhook --rate 500 --seconds 20 --json webhook.json
    """
    from townsquare.bench.webhook_bench import run_webhook_bench
    from townsquare.cli.common import sigterm_unwinds, state
    from townsquare.store.database import open_database

    settings = state(ctx).settings()
    with sigterm_unwinds(), open_database(settings, attach=True) as location:
        figures = run_webhook_bench(
            location.url,
            settings.database,
            rate=rate,
            seconds=seconds,
            requests=requests,
            concurrency=concurrency,
            chats=chats,
            seed=seed,
        )
    report(f"LINE webhook acknowledgement ({rate}/s paced, then flat out)", figures, json_path)
