"""The ``townsquare`` command as a user runs it: a real subprocess, real signals."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from townsquare.store.embedded import EmbeddedPostgres

pytestmark = pytest.mark.slow
COMMAND = [sys.executable, "-m", "townsquare"]


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def postgres_processes(data_dir: Path) -> list[int]:
    """PIDs of postgres servers whose command line names ``data_dir``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"postgres" in cmdline.split(b"\0")[0] and str(data_dir).encode() in cmdline:
            pids.append(int(entry.name))
    return pids


@contextmanager
def running_demo(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``townsquare demo`` and yield it with its base URL once it serves."""
    process = subprocess.Popen(
        [*COMMAND, "demo", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = None
        deadline = time.monotonic() + 60
        while base_url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            match = re.search(r"(http://127\.0\.0\.1:\d+)/health", line)
            if match:
                base_url = match.group(1)
        assert base_url is not None, "demo did not print where it serves"
        yield process, base_url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


def test_help_lists_every_command_with_examples(cli_env: dict[str, str]) -> None:
    result = run_cli("--help", env=cli_env)
    assert result.returncode == 0
    for command in ("version", "db", "serve", "demo"):
        assert command in result.stdout
    for group in ("serve", "demo", "db"):
        assert "Examples" in run_cli(group, "--help", env=cli_env).stdout


def test_version_names_the_embedded_postgres(cli_env: dict[str, str]) -> None:
    result = run_cli("version", env=cli_env)
    assert result.returncode == 0
    assert re.search(r"townsquare \d+\.\d+\.\d+ .*embedded PostgreSQL 1\d\.\d+", result.stdout)


def test_invalid_setting_exits_2_with_one_clear_message(cli_env: dict[str, str]) -> None:
    cli_env["TOWNSQUARE_DATABASE_POOL_TIMEOUT"] = "soon"
    result = run_cli("db", "status", env=cli_env)
    assert result.returncode == 2
    assert "database.pool_timeout" in result.stderr
    assert "'soon'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_typo_in_config_file_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "townsquare.toml"
    config.write_text("[api]\nprot = 8080\n")
    result = run_cli("--config", str(config), "serve", env=cli_env)
    assert result.returncode == 2
    assert "Unknown setting api.prot" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_exits_2_without_traceback(cli_env: dict[str, str]) -> None:
    cli_env["TOWNSQUARE_DATABASE_URL"] = "postgresql://app:hunter2@127.0.0.1:1/townsquare"
    result = run_cli("db", "status", env=cli_env)
    assert result.returncode == 2
    assert "Cannot use PostgreSQL at postgresql://app:***@127.0.0.1:1/townsquare" in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_db_commands_migrate_an_external_database(
    cli_env: dict[str, str], fresh_database: str
) -> None:
    cli_env["TOWNSQUARE_DATABASE_URL"] = fresh_database
    assert "pending" in run_cli("db", "status", env=cli_env).stdout
    upgraded = run_cli("db", "upgrade", env=cli_env)
    assert upgraded.returncode == 0, upgraded.stderr
    status = run_cli("db", "status", env=cli_env)
    assert re.search(r"pending\s+none", status.stdout)
    downgraded = run_cli("db", "downgrade", "base", env=cli_env)
    assert downgraded.returncode == 0, downgraded.stderr
    assert "base (empty)" in downgraded.stdout
    bad = run_cli("db", "downgrade", "not-a-revision", env=cli_env)
    assert bad.returncode == 2
    assert "not-a-revision" in bad.stderr


def test_serve_refuses_an_unmigrated_external_database(
    cli_env: dict[str, str], fresh_database: str
) -> None:
    cli_env["TOWNSQUARE_DATABASE_URL"] = fresh_database
    result = run_cli("serve", "--port", "0", "--duration", "1", env=cli_env)
    assert result.returncode == 2
    assert "townsquare db upgrade" in result.stderr


def test_db_url_hides_the_password(cli_env: dict[str, str]) -> None:
    cli_env["TOWNSQUARE_DATABASE_URL"] = "postgresql://app:hunter2@db.internal/ts"
    assert run_cli("db", "url", env=cli_env).stdout.strip() == "postgresql://app:***@db.internal/ts"
    shown = run_cli("db", "url", "--show-password", env=cli_env).stdout.strip()
    assert shown == "postgresql://app:hunter2@db.internal/ts"


def test_unusable_data_directory_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cli_env["TOWNSQUARE_EMBEDDED_DATA_DIR"] = str(blocker / "pg")
    result = run_cli("demo", "--duration", "1", env=cli_env)
    assert result.returncode == 2
    assert "not usable" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_serves_then_stops_cleanly_after_duration(cli_env: dict[str, str]) -> None:
    data_dir = Path(cli_env["TOWNSQUARE_EMBEDDED_DATA_DIR"])
    with running_demo(cli_env, "--duration", "8") as (process, base_url):
        assert httpx.get(f"{base_url}/health").json()["status"] == "ok"
        ready = httpx.get(f"{base_url}/ready")
        assert ready.status_code == 200, ready.text
        # The simulated community is live: its events reach PostgreSQL through the pipeline.
        deadline = time.monotonic() + 20
        pipeline = ready.json()["checks"]["pipeline"]
        while pipeline["committed_events"] == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            pipeline = httpx.get(f"{base_url}/ready").json()["checks"]["pipeline"]
        assert pipeline["committed_events"] > 0
        assert pipeline["state"] == "running"
        assert pipeline["spool_records"] == 0
        attached = run_cli("db", "status", env=cli_env)
        assert "attached" in attached.stdout
        assert process.wait(30) == 0
    assert postgres_processes(data_dir) == []


def test_second_demo_on_the_same_data_is_refused(cli_env: dict[str, str]) -> None:
    with running_demo(cli_env) as (first, _):
        second = run_cli("demo", "--port", "0", "--duration", "1", env=cli_env)
        assert second.returncode == 2
        assert f"in use by another Townsquare process (pid {first.pid})" in second.stderr
        assert first.poll() is None, "the first demo must keep running"


def test_sigterm_while_serving_stops_everything(cli_env: dict[str, str]) -> None:
    data_dir = Path(cli_env["TOWNSQUARE_EMBEDDED_DATA_DIR"])
    with running_demo(cli_env) as (process, base_url):
        assert httpx.get(f"{base_url}/health").status_code == 200
        assert postgres_processes(data_dir) != []
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert postgres_processes(data_dir) == []


def test_sigterm_during_startup_leaves_no_server_and_a_usable_directory(
    cli_env: dict[str, str],
) -> None:
    data_dir = Path(cli_env["TOWNSQUARE_EMBEDDED_DATA_DIR"])
    process = subprocess.Popen(
        [*COMMAND, "demo", "--port", "0"],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "embedded_postgres_initdb" in line:
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    assert postgres_processes(data_dir) == []
    with EmbeddedPostgres(data_dir, durable=False) as server:
        assert server.pid is not None
    assert any(data_dir.iterdir())
