"""The maintenance schedule also deletes sign-in sessions that ended long ago (personal data)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from townsquare.config.settings import DatabaseSettings, PipelineSettings
from townsquare.pipeline.maintenance import Maintenance
from townsquare.store.engine import create_db_engine, libpq_url

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _session(conn: psycopg.Connection, user_id: int, name: str, **times: datetime) -> None:
    conn.execute(
        "INSERT INTO auth_sessions (id_hash, user_id, provider, csrf_token, created_at, "
        "last_seen_at, refreshed_at, expires_at, revoked_at, source_ip) "
        "VALUES (%s, %s, 'local', 'x', %s, %s, %s, %s, %s, '203.0.113.9')",
        (
            hashlib.sha256(name.encode()).digest(),
            user_id,
            NOW - timedelta(days=90),
            NOW - timedelta(days=90),
            NOW - timedelta(days=90),
            times["expires_at"],
            times.get("revoked_at"),
        ),
    )


async def test_sessions_that_ended_before_the_retention_are_deleted(
    migrated_database: str, tmp_path: Path
) -> None:
    with psycopg.connect(libpq_url(migrated_database)) as conn:
        row = conn.execute("INSERT INTO users (display_name) VALUES ('ada') RETURNING id")
        (user_id,) = row.fetchone() or (0,)
        _session(conn, user_id, "expired-long-ago", expires_at=NOW - timedelta(days=40))
        _session(
            conn,
            user_id,
            "revoked-long-ago",
            expires_at=NOW + timedelta(days=5),
            revoked_at=NOW - timedelta(days=31),
        )
        _session(conn, user_id, "expired-recently", expires_at=NOW - timedelta(days=10))
        _session(conn, user_id, "live", expires_at=NOW + timedelta(days=3))

    engine = create_db_engine(migrated_database, DatabaseSettings())
    try:
        maintenance = Maintenance(
            engine,
            PipelineSettings(spool_dir=tmp_path / "spool"),
            DatabaseSettings(),
            session_retention_days=30,
            now=lambda: NOW,
        )
        await maintenance.run_once()
    finally:
        await engine.dispose()

    with psycopg.connect(libpq_url(migrated_database)) as conn:
        left = {bytes(r[0]) for r in conn.execute("SELECT id_hash FROM auth_sessions")}
    assert left == {hashlib.sha256(n.encode()).digest() for n in ("expired-recently", "live")}
    assert maintenance.readiness()["purged_sessions"] == 2
