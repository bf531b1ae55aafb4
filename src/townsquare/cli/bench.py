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
