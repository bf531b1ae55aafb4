"""``townsquare bench discord``: the real bot against a fake Discord in a child process."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from townsquare.bench.discord_bench import DiscordBenchFailed, check_lake
from townsquare.bench.discord_traffic import MEASURE, WARMUP, TrafficSpec, build_traffic
from townsquare.fakes.discord.process import FakeDiscordProcess, FakeProcessFailed, Traffic

pytestmark = pytest.mark.timeout(300)

SPEC = TrafficSpec(events=2_000, guilds=2, members=40, shards=2)


def _processes_marked(marker: str) -> list[int]:
    """Processes (of any parent) whose environment carries ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            found.append(int(proc.name))
    return found


def test_bench_discord_commits_every_dispatched_event_and_leaves_nothing_behind(
    cli_env: dict[str, str], postgres_server: str, tmp_path: Path
) -> None:
    report = tmp_path / "discord.json"
    marker = f"BENCH_DISCORD_TEST_MARK={uuid.uuid4().hex}"
    env = {
        **cli_env,
        "TOWNSQUARE_DATABASE_URL": postgres_server,
        "TOWNSQUARE_LOG_LEVEL": "WARNING",
        marker.split("=")[0]: marker.split("=")[1],
    }
    options = [
        f"--{name}={getattr(SPEC, name)}" for name in ("events", "guilds", "members", "shards")
    ]
    result = subprocess.run(
        [sys.executable, "-m", "townsquare", "bench", "discord", *options, "--json", str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Discord gateway -> commit" in result.stdout
    assert "loop_lag_p99_ms" in result.stdout
    figures = json.loads(report.read_text())
    for key in ("events_per_s", "loop_lag_p99_ms", "loop_lag_p50_ms", "seconds", "peak_rss_mb"):
        assert figures[key] >= 0, key
    assert figures["events_per_s"] > 0
    assert (figures["shards"], figures["guilds"], figures["members"]) == (2, 2, 80)
    # The traffic is seeded: what the fake sent, and the core events it maps to, are known.
    summary = build_traffic(SPEC).summary
    measured, warmup = summary.phases[MEASURE], summary.phases[WARMUP]
    assert figures["gateway_events"] == measured.total == SPEC.events
    # Voice updates become core events only for stretches of 30 s or more: counted apart.
    assert figures["events"] == measured.core_total + figures["voice_segments"]
    assert figures["lake_events"] >= measured.core_total + warmup.core_total
    assert figures["messages_per_s"] > figures["reactions_added_per_s"] > 0
    # Nothing left: no fake Discord process, no scratch database.
    assert _processes_marked(marker) == []
    with psycopg.connect(postgres_server) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'townsquare_bench_%'"
        ).fetchone()
    assert left == (0,)


def test_a_lake_short_of_the_dispatched_events_fails_the_bench() -> None:
    summary = build_traffic(TrafficSpec(events=300, guilds=1, members=10, shards=1)).summary
    expected: dict[str, int] = {}
    for counts in summary.phases.values():
        for kind, count in counts.core.items():
            expected[kind] = expected.get(kind, 0) + count
    check_lake(dict(expected), summary, voice_segments=0)
    short = {**expected, "message": expected["message"] - 1}
    with pytest.raises(DiscordBenchFailed, match="event lake"):
        check_lake(short, summary, voice_segments=0)
    with pytest.raises(DiscordBenchFailed, match="event lake"):
        check_lake(dict(expected), summary, voice_segments=1)


def _no_traffic(spec: int) -> Traffic[None]:
    raise ValueError(f"no traffic for spec {spec}")


def test_a_fake_discord_process_that_cannot_start_says_why_and_is_gone() -> None:
    fake = FakeDiscordProcess(_no_traffic, 7)
    with pytest.raises(FakeProcessFailed, match="no traffic for spec 7"):
        fake.start()
    assert [p for p in multiprocessing.active_children() if p.name == "fake-discord"] == []
