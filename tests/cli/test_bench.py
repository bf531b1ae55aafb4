from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_core_prints_a_table_and_writes_the_named_figures(tmp_path: Path) -> None:
    report = tmp_path / "core.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "townsquare",
            "bench",
            "core",
            "--events",
            "2000",
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "events_per_s" in result.stdout
    figures = json.loads(report.read_text())
    assert figures["events"] == 2000
    assert figures["events_per_s"] > 0
