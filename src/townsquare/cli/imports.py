"""``townsquare import``: backfill events and opening balances through the pipeline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from townsquare.cli.app import app
from townsquare.cli.common import out_console, sigterm_unwinds, state
from townsquare.cli.run import prepare_schema
from townsquare.config.settings import Settings
from townsquare.core import Event, Platform
from townsquare.pipeline.importer import (
    opening_balance_events,
    read_events,
    read_opening_balances,
)
from townsquare.pipeline.ingest import Pipeline
from townsquare.store.database import open_database

import_app = typer.Typer(
    help="Backfill the event lake and the ledger from files (safe to run again).",
    no_args_is_help=True,
    epilog=(
        "Examples:\n\n  townsquare import events history.jsonl\n\n"
        "  townsquare import balances mee6.csv --community 123456789012345678"
    ),
)
app.add_typer(import_app, name="import")


def _run(settings: Settings, read: Callable[[], Iterator[Event]]) -> None:
    """Check the whole file first, then import it: a bad line anywhere writes nothing."""
    for _event in read():
        pass
    events = read()

    async def feed() -> tuple[int, float]:
        started = time.perf_counter()
        count = 0
        async with Pipeline(
            location_url, settings.pipeline, settings.database, cache_settings=settings.cache
        ) as pipeline:
            for event in events:
                await pipeline.ingest(event)
                count += 1
            await pipeline.flush()
            figures = pipeline.figures
        out_console.print(
            f"Imported {count:,} events: {figures.committed_events:,} new, "
            f"{figures.duplicates:,} already present, {figures.failed_events:,} rejected by "
            f"the rules, {figures.dead_lettered:,} dead-lettered, "
            f"{figures.spooled_batches:,} batches spooled (database unreachable)."
        )
        return count, time.perf_counter() - started

    with sigterm_unwinds(), open_database(settings) as location:
        prepare_schema(settings, location, apply=location.kind == "embedded")
        location_url = location.url
        count, elapsed = asyncio.run(feed())
    out_console.print(f"{count / max(elapsed, 1e-9):,.0f} events/s")


@import_app.command("events")
def events(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A .jsonl file (one event per line) or a .csv.")],
) -> None:
    """Import activity events; each is rewarded by the rules as if it arrived live.

    Fields (README, "Importing history"): event_id, kind, platform, community_id,
    member_id, at (Unix seconds), channel_id, message {length, links, ...}, ... Events
    already in the lake are skipped, so a file can be imported again after an interruption.
    """
    settings = state(ctx).settings()
    _run(settings, lambda: read_events(path))


@import_app.command("balances")
def balances(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV with member_id,xp[,stars][,gold][,level].")],
    community: Annotated[str, typer.Option(help="The Discord guild id or LINE group id.")],
    platform: Annotated[Platform, typer.Option(help="Where the member ids come from.")] = (
        Platform.DISCORD
    ),
    at: Annotated[
        int | None,
        typer.Option(help="Unix time of the opening balances [default: the file's mtime]."),
    ] = None,
) -> None:
    """Import opening balances (e.g. exported from a MEE6-style bot) as manual awards.

    Levels are recomputed from XP with the community's curve. Importing the same file
    again changes nothing.
    """
    settings = state(ctx).settings()
    when = at if at is not None else int(path.stat().st_mtime) if path.is_file() else 0
    _run(
        settings,
        lambda: opening_balance_events(
            path, read_opening_balances(path), platform, community, when
        ),
    )
