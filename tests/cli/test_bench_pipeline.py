"""``townsquare bench pipeline`` runs end to end and writes the figures the issue names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg


def test_bench_pipeline_writes_the_named_figures_and_leaves_nothing_behind(
    cli_env: dict[str, str], postgres_server: str, tmp_path: Path
) -> None:
    report = tmp_path / "pipeline.json"
    env = {**cli_env, "TOWNSQUARE_DATABASE_URL": postgres_server, "TOWNSQUARE_LOG_LEVEL": "WARNING"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "townsquare",
            "bench",
            "pipeline",
            "--communities",
            "1",
            "--members",
            "60",
            "--events",
            "1000",
            "--rate",
            "300",
            "--latency-seconds",
            "1",
            "--baseline",
            "per-event",
            "--json",
            str(report),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(report.read_text())
    for key in (
        "events_per_s",
        "p50_ms",
        "p99_ms",
        "statements_per_event",
        "peak_rss_mb",
        "baseline_events_per_s",
        "ratio",
    ):
        assert figures[key] > 0, key
    assert figures["events"] == 1000
    assert figures["statements_per_event"] < 1  # batched, not a statement chain per event
    with psycopg.connect(postgres_server) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'townsquare_bench_%'"
        ).fetchone()
    assert left == (0,)


def test_an_unknown_baseline_is_refused(cli_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "townsquare", "bench", "pipeline", "--baseline", "per-day"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "per-event" in result.stderr
