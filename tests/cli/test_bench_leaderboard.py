from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg

from townsquare.bench.leaderboard_bench import run_leaderboard_bench
from townsquare.store.embedded import EmbeddedPostgres
from townsquare.store.engine import libpq_url


def test_bench_leaderboard_prints_a_table_writes_the_figures_and_leaves_nothing_behind(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    report = tmp_path / "leaderboard.json"

    def townsquare(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "townsquare", *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env=cli_env,
        )

    result = townsquare("bench", "leaderboard", "--members", "3000", "--json", str(report))

    assert result.returncode == 0, result.stderr
    assert "deep_page_p50_ms" in result.stdout
    figures = json.loads(report.read_text())
    assert figures["members"] == 3000
    assert 2000 < figures["ranked"] < 3000  # bots, leavers and zeros are not ranked
    for name in ("first_page", "deep_page", "rank_top", "rank_median", "rank_bottom"):
        assert 0 < figures[f"{name}_p50_ms"] <= figures[f"{name}_p99_ms"]
    assert figures["load_s"] > 0
    # The scratch database is gone and the user's database was never touched.
    data_dir = Path(cli_env["TOWNSQUARE_EMBEDDED_DATA_DIR"])
    with EmbeddedPostgres(data_dir) as server, psycopg.connect(server.url) as conn:
        databases = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
    assert not [name for name in databases if name.startswith("townsquare_bench")]


def test_bench_in_an_existing_database_deletes_its_scratch_community(database_url: str) -> None:
    figures = run_leaderboard_bench(database_url, members=300, repeats=3)

    assert figures["rank_median_p50_ms"] > 0
    with psycopg.connect(libpq_url(database_url)) as conn:
        left = conn.execute("SELECT count(*) FROM communities WHERE slug LIKE 'bench-%'")
        assert left.fetchone() == (0,)
