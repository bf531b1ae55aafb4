"""``townsquare bench api``: the real server under load, figures in a table and as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg

from townsquare.bench.api_bench import ENDPOINTS
from townsquare.store.embedded import EmbeddedPostgres


def test_bench_api_prints_a_table_writes_the_figures_and_leaves_nothing_behind(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    report = tmp_path / "api.json"

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "townsquare",
            "bench",
            "api",
            "--members",
            "400",
            "--requests",
            "20",
            "--concurrency",
            "4",
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=cli_env,
    )

    assert result.returncode == 0, result.stderr
    assert "requests_per_s" in result.stdout
    figures = json.loads(report.read_text())
    assert figures["members"] == 400
    assert figures["requests"] == 20 * len(ENDPOINTS)
    assert figures["errors"] == 0  # every request was answered 200: no 429 from the limiter
    for prefix in ("", *(f"{name}_" for name in ENDPOINTS)):
        assert figures[f"{prefix}requests_per_s"] > 0
        assert 0 < figures[f"{prefix}p50_ms"] <= figures[f"{prefix}p99_ms"]
    # The scratch database is gone and the user's database was never touched.
    data_dir = Path(cli_env["TOWNSQUARE_EMBEDDED_DATA_DIR"])
    with EmbeddedPostgres(data_dir) as server, psycopg.connect(server.url) as conn:
        databases = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
    assert not [name for name in databases if name.startswith("townsquare_bench")]
