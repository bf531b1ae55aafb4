"""``townsquare lake``: retention and reconciliation of the event lake, on demand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from townsquare.cli.app import app
from townsquare.cli.common import out_console, sigterm_unwinds, state
from townsquare.cli.run import prepare_schema
from townsquare.errors import TownsquareError
from townsquare.pipeline.reconcile import DriftReport, reconcile, try_lock_community
from townsquare.pipeline.retention import apply_retention
from townsquare.store.communities import get_community
from townsquare.store.database import open_database
from townsquare.store.engine import create_db_engine

lake_app = typer.Typer(
    help="Maintain the event lake: drop old days, prove derived data matches the ledger.",
    no_args_is_help=True,
    epilog=(
        "Examples:\n\n  townsquare lake retention --keep-days 30\n\n"
        "  townsquare lake reconcile my-community\n\n"
        "  townsquare lake reconcile my-community --correct"
    ),
)
app.add_typer(lake_app, name="lake")


class CommunityBusy(TownsquareError):
    code = "community-busy"


@lake_app.command("retention")
def retention(
    ctx: typer.Context,
    keep_days: Annotated[
        int | None,
        typer.Option(min=1, help="Whole days to keep [default: pipeline.retention_days]."),
    ] = None,
) -> None:
    """Drop event-lake days older than the retention, rolling their counters up first.

    Lifetime counters are unchanged by this (they are rebuilt from the rollups plus the
    remaining events). Also creates the coming days' partitions. Safe to run any time.
    """
    settings = state(ctx).settings()
    days = keep_days or settings.pipeline.retention_days

    async def run(url: str) -> None:
        engine = create_db_engine(url, settings.database)
        try:
            report = await apply_retention(
                engine, keep_days=days, now=datetime.now(UTC), settings=settings.database
            )
        finally:
            await engine.dispose()
        out_console.print(
            f"Kept events since {report.cutoff:%Y-%m-%d} ({days} days); dropped "
            f"{len(report.dropped)} day partitions ({report.events_rolled_up:,} events, "
            f"{report.bytes_freed / 1e6:,.1f} MB), {report.default_events_removed:,} old rows "
            f"of the default partition; created {len(report.partitions_created)} partitions."
            + (f" Busy, left for next time: {', '.join(report.skipped)}." if report.skipped else "")
        )

    with sigterm_unwinds(), open_database(settings, attach=True) as location:
        prepare_schema(settings, location, apply=False)
        asyncio.run(run(location.url))


@lake_app.command("reconcile")
def reconcile_command(
    ctx: typer.Context,
    community: Annotated[str, typer.Argument(help="The community's slug or numeric id.")],
    correct: Annotated[
        bool, typer.Option("--correct", help="Also correct the drift found (atomically).")
    ] = False,
) -> None:
    """Recompute balances and counters from the ledger and the lake; report (and fix) drift.

    Exit code 1 when drift was found and not corrected. Correcting needs the community's
    lock, so it refuses while a running writer owns the community.
    """
    settings = state(ctx).settings()

    async def run(url: str) -> DriftReport:
        engine = create_db_engine(url, settings.database)
        try:
            async with engine.connect() as conn, conn.begin():
                community_id = (await get_community(conn, community)).id
                if correct and not await try_lock_community(conn, community_id):
                    raise CommunityBusy(
                        f"Community {community!r} is being written by a running Townsquare "
                        "process; stop it (or run without --correct for a report) and retry."
                    )
                return await reconcile(
                    conn, community_id, correct=correct, settings=settings.database
                )
        finally:
            await engine.dispose()

    with sigterm_unwinds(), open_database(settings, attach=True) as location:
        prepare_schema(settings, location, apply=False)
        report = asyncio.run(run(location.url))
    table = Table(title=f"reconciliation of community {report.community_id}")
    table.add_column("derived data")
    table.add_column("rows drifted", justify="right")
    table.add_column("examples (member: expected -> actual)")
    for name, drift in (
        ("balances", report.balances),
        ("counters", report.counters),
        ("member state balances", report.state_balances),
        ("member state counters", report.state_counters),
    ):
        examples = "; ".join(_example(e) for e in drift.examples[:3])
        table.add_row(name, f"{drift.count:,}", examples)
    out_console.print(table)
    if report.has_drift:
        out_console.print("Corrected." if report.corrected else "Drift found; run with --correct.")
        if not report.corrected:
            raise typer.Exit(1)
    else:
        out_console.print("No drift: derived data matches the ledger and the event lake.")


def _example(example: object) -> str:
    member = getattr(example, "member_id", "?")
    expected, actual = getattr(example, "expected", None), getattr(example, "actual", None)
    return f"{member}: {expected} -> {actual}"
