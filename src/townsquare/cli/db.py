"""``townsquare db``: where the database is and which schema revision it is at."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from townsquare.cli.app import app
from townsquare.cli.common import err_console, out_console, sigterm_unwinds, state
from townsquare.store import migrate
from townsquare.store.database import open_database
from townsquare.store.embedded import socket_url
from townsquare.store.engine import create_sync_engine, display_url, translate_errors_sync

db_app = typer.Typer(
    help="Inspect and migrate the database.",
    no_args_is_help=True,
    epilog=(
        "Examples:\n\n"
        "  townsquare db status\n\n"
        "  townsquare db upgrade\n\n"
        "  townsquare db downgrade -1\n\n"
        '  psql "$(townsquare db url)"'
    ),
)
app.add_typer(db_app, name="db")


@db_app.command("url")
def url(
    ctx: typer.Context,
    show_password: Annotated[
        bool, typer.Option("--show-password", help="Print the password instead of ***.")
    ] = False,
) -> None:
    """Print the database URL (for psql, pg_dump or another tool)."""
    settings = state(ctx).settings()
    if settings.database.url:
        out_console.print(
            settings.database.url if show_password else display_url(settings.database.url),
            soft_wrap=True,
            highlight=False,
        )
        return
    from townsquare.store.embedded import EmbeddedPostgres

    running = EmbeddedPostgres.running(settings.embedded.data_dir)
    if running is not None:
        out_console.print(running.url, soft_wrap=True, highlight=False)
        return
    out_console.print(
        socket_url(settings.embedded.data_dir.expanduser().resolve() / "run"),
        soft_wrap=True,
        highlight=False,
    )
    err_console.print(
        "(the embedded PostgreSQL is not running now; `townsquare demo` or `serve` starts it)"
    )


@db_app.command("status")
def status(ctx: typer.Context) -> None:
    """Show the server, the current schema revision and the migrations still to apply."""
    settings = state(ctx).settings()
    with sigterm_unwinds(), open_database(settings, attach=True) as location:
        engine = create_sync_engine(location.url, settings.database)
        try:
            with translate_errors_sync(location.url, settings.database):
                with engine.connect() as conn:
                    version = conn.exec_driver_sql("SHOW server_version").scalar()
                schema = migrate.status(engine)
        finally:
            engine.dispose()
    table = Table(show_header=False, box=None)
    table.add_row("database", f"{location.kind}: {display_url(location.url)}")
    table.add_row("server", f"PostgreSQL {version}")
    table.add_row("schema", schema.current or "(empty: run `townsquare db upgrade`)")
    table.add_row("head", schema.head)
    table.add_row("pending", ", ".join(schema.pending) or "none")
    out_console.print(table)


@db_app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = state(ctx).settings()
    with sigterm_unwinds(), open_database(settings, attach=True) as location:
        engine = create_sync_engine(location.url, settings.database)
        try:
            with translate_errors_sync(location.url, settings.database):
                result = migrate.upgrade(engine, revision)
        finally:
            engine.dispose()
    out_console.print(f"Schema is at {result.current}.")


@db_app.command("downgrade")
def downgrade(
    ctx: typer.Context,
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, -1 for one step, or base.")
    ],
) -> None:
    """Revert migrations down to REVISION. Data in dropped tables is lost."""
    settings = state(ctx).settings()
    with sigterm_unwinds(), open_database(settings, attach=True) as location:
        engine = create_sync_engine(location.url, settings.database)
        try:
            with translate_errors_sync(location.url, settings.database):
                result = migrate.downgrade(engine, revision)
        finally:
            engine.dispose()
    out_console.print(f"Schema is at {result.current or 'base (empty)'}.")
