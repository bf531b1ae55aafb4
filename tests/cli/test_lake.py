"""``townsquare lake``: reconciliation reports and corrects drift; retention keeps lifetimes."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.cli.test_import import townsquare
from townsquare.pipeline.event_codec import encode_event
from townsquare.pipeline.simulator import SimulationSpec, Simulator


def _import(env: dict[str, str], tmp_path: Path) -> None:
    simulator = Simulator(SimulationSpec(communities=1, members=80, seed=12))
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(encode_event(e)) + "\n" for e in simulator.take(3000)))
    result = townsquare(env, "import", "events", str(history))
    assert result.returncode == 0, result.stderr


def test_reconcile_reports_then_corrects_drift(
    env: dict[str, str], migrated_database: str, tmp_path: Path
) -> None:
    _import(env, tmp_path)
    clean = townsquare(env, "lake", "reconcile", "discord-guild-1")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No drift" in clean.stdout

    with psycopg.connect(migrated_database) as conn:
        victim = "SELECT min(member_id) FROM balances"
        conn.execute(f"UPDATE balances SET xp = xp + 7 WHERE member_id IN ({victim})")
    drifted = townsquare(env, "lake", "reconcile", "discord-guild-1")
    assert drifted.returncode == 1
    assert "Drift found" in drifted.stdout

    fixed = townsquare(env, "lake", "reconcile", "discord-guild-1", "--correct")
    assert fixed.returncode == 0, fixed.stderr
    assert "Corrected" in fixed.stdout
    assert "No drift" in townsquare(env, "lake", "reconcile", "discord-guild-1").stdout


def test_reconcile_of_an_unknown_community_is_a_clear_error(env: dict[str, str]) -> None:
    result = townsquare(env, "lake", "reconcile", "nowhere")
    assert result.returncode == 2
    assert "No community with slug or id 'nowhere'" in result.stderr


def test_retention_drops_old_events_and_lifetimes_survive(
    env: dict[str, str], migrated_database: str, tmp_path: Path
) -> None:
    _import(env, tmp_path)
    with psycopg.connect(migrated_database) as conn:
        before = conn.execute(
            "SELECT sum(value) FROM counters WHERE period = 'lifetime'"
        ).fetchone()
    result = townsquare(env, "lake", "retention", "--keep-days", "1")
    assert result.returncode == 0, result.stderr
    assert "dropped" in result.stdout
    with psycopg.connect(migrated_database) as conn:
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone() or (None,)
    assert events == 0  # the simulated history is from January 2026
    reconciled = townsquare(env, "lake", "reconcile", "discord-guild-1")
    assert "No drift" in reconciled.stdout, reconciled.stdout
    with psycopg.connect(migrated_database) as conn:
        after = conn.execute("SELECT sum(value) FROM counters WHERE period = 'lifetime'").fetchone()
    assert after == before
