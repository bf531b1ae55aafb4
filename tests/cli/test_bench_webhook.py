"""``townsquare bench webhook`` runs end to end and writes the figures the issue names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_bench_webhook_writes_the_named_figures_and_leaves_nothing_behind(
    cli_env: dict[str, str], postgres_server: str, tmp_path: Path
) -> None:
    report = tmp_path / "webhook.json"
    env = {**cli_env, "TOWNSQUARE_DATABASE_URL": postgres_server, "TOWNSQUARE_LOG_LEVEL": "WARNING"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "townsquare",
            "bench",
            "webhook",
            "--rate",
            "100",
            "--seconds",
            "1",
            "--requests",
            "200",
            "--chats",
            "10",
            "--json",
            str(report),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(report.read_text())
    for key in ("requests_per_s", "p50_ms", "p99_ms"):
        assert figures[key] > 0, key
    assert figures["p50_ms"] <= figures["p99_ms"]
    assert figures["errors"] == 0
    assert figures["requests"] == 300  # 100 paced + 200 flat out
    assert figures["events_stored"] == 320  # and the warm-up's one per chat (10 + 10)
    with psycopg.connect(postgres_server) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'townsquare_bench_%'"
        ).fetchone()
    assert left == (0,)
