"""``townsquare import``: backfill through the pipeline, exactly once even across kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.pipeline.test_pipeline import balances_by_user, ledger_by_user
from townsquare.core import CommunityConfig, compile_rules
from townsquare.pipeline.event_codec import encode_event
from townsquare.pipeline.simulator import SimulationSpec, Simulator, expected_outcome


def townsquare(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "townsquare", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def count_events(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    return int(row[0])


def test_kill_9_mid_import_then_import_again_counts_every_event_once(
    env: dict[str, str], migrated_database: str, tmp_path: Path
) -> None:
    simulator = Simulator(SimulationSpec(communities=1, members=300, seed=4))
    events = simulator.take(30_000)
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(encode_event(e)) + "\n" for e in events))

    process = subprocess.Popen(
        [sys.executable, "-m", "townsquare", "import", "events", str(history)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while count_events(migrated_database) < 2_000:  # some batches have committed
            assert process.poll() is None, "the import finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert 0 < count_events(migrated_database) < len(events)

    again = townsquare(env, "import", "events", str(history))
    assert again.returncode == 0, again.stderr
    assert "already present" in again.stdout
    assert count_events(migrated_database) == len(events)

    want = expected_outcome(events, CommunityConfig())
    balances = asyncio.run(balances_by_user(migrated_database))
    ledger = asyncio.run(ledger_by_user(migrated_database))
    for (_community, member), totals in want.members.items():
        life = totals.lifetime
        assert ledger.get(member, (0, 0, 0)) == (life.xp, life.stars, life.gold), member
        assert balances.get(member, (0, 0, 0, 0))[:3] == (life.xp, life.stars, life.gold)


def test_a_bad_line_is_named_with_its_file_and_number(
    env: dict[str, str], migrated_database: str, tmp_path: Path
) -> None:
    history = tmp_path / "bad.jsonl"
    good: dict[str, object] = {"event_id": "1", "kind": "message", "platform": "discord"}
    good |= {"community_id": "g", "member_id": "u", "at": 1_767_225_600}
    history.write_text(json.dumps(good) + "\n" + json.dumps({**good, "kind": "shout"}) + "\n")
    result = townsquare(env, "import", "events", str(history))
    assert result.returncode == 2
    assert "bad.jsonl:2: kind: 'shout' is not one of" in result.stderr
    assert "Traceback" not in result.stderr
    assert count_events(migrated_database) == 0  # the good first line was not imported either


def test_csv_events_import(env: dict[str, str], migrated_database: str, tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    history.write_text(
        "event_id,kind,platform,community_id,member_id,at,channel_id,length,links\n"
        "a,message,discord,g,u1,1767225600,c1,120,1\n"
        "b,message,discord,g,u2,1767225700,c1,40,0\n"
    )
    result = townsquare(env, "import", "events", str(history))
    assert result.returncode == 0, result.stderr
    assert count_events(migrated_database) == 2


def test_opening_balances_import_once_and_levels_follow_the_curve(
    env: dict[str, str], migrated_database: str, tmp_path: Path
) -> None:
    export = tmp_path / "mee6.csv"
    export.write_text("user_id,xp,level\n111,5000,99\n222,0,0\n333,120,1\n")
    for _ in range(2):
        result = townsquare(env, "import", "balances", str(export), "--community", "guild-9")
        assert result.returncode == 0, result.stderr
    balances = asyncio.run(balances_by_user(migrated_database))
    curve = compile_rules(CommunityConfig()).curve
    assert balances["111"][0] == 5000
    assert balances["111"][3] == curve.level_for(5000)  # not the export's 99
    assert balances["333"][:1] == (120,)
    ledger = asyncio.run(ledger_by_user(migrated_database))
    assert ledger["111"][0] == 5000  # imported twice, counted once


def test_opening_balances_need_the_right_columns(env: dict[str, str], tmp_path: Path) -> None:
    export = tmp_path / "wrong.csv"
    export.write_text("name,points\nann,5\n")
    result = townsquare(env, "import", "balances", str(export), "--community", "g")
    assert result.returncode == 2
    assert "needs member_id and xp columns" in result.stderr
