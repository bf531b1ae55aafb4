from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from townsquare.errors import EmbeddedServerBusy, EmbeddedServerError
from townsquare.store.embedded import EmbeddedPostgres

pytestmark = pytest.mark.slow


def _pid_gone(pid: int, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.05)
    return False


def test_data_survives_a_restart_and_the_server_stops_with_its_owner(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path, durable=False) as server:
        first_pid = server.pid
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (value text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
    assert first_pid is not None
    assert _pid_gone(first_pid)
    with EmbeddedPostgres(tmp_path, durable=False) as server, psycopg.connect(server.url) as conn:
        assert conn.execute("SELECT value FROM kept").fetchone() == ("still here",)


def test_a_second_owner_is_refused_and_may_attach_instead(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path, durable=False) as server:
        with pytest.raises(EmbeddedServerBusy) as caught:
            EmbeddedPostgres(tmp_path, durable=False).start()
        assert f"pid {os.getpid()}" in caught.value.message
        assert "TOWNSQUARE_EMBEDDED_DATA_DIR" in caught.value.message
        running = EmbeddedPostgres.running(tmp_path)
        assert running is not None
        assert running.url == server.url
        with psycopg.connect(running.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert EmbeddedPostgres.running(tmp_path) is None


def test_unusable_data_directory_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(EmbeddedServerError) as caught:
        EmbeddedPostgres(blocker / "postgres").start()
    assert str(blocker / "postgres") in caught.value.message
    assert "not usable" in caught.value.message


def test_leftovers_of_an_interrupted_first_start_are_replaced(tmp_path: Path) -> None:
    (tmp_path / "pgdata").mkdir()
    (tmp_path / "pgdata.initdb").mkdir()
    (tmp_path / "pgdata.initdb" / "half-written").write_text("x")
    with EmbeddedPostgres(tmp_path, durable=False) as server, psycopg.connect(server.url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("townsquare",)
    assert not (tmp_path / "pgdata.initdb").exists()


def test_server_dies_with_an_owner_killed_by_sigkill(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from townsquare.store.embedded import EmbeddedPostgres
        server = EmbeddedPostgres(Path({str(tmp_path)!r}), durable=False)
        server.start()
        print("PID", server.pid, flush=True)
        time.sleep(120)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        line = ""
        while not line.startswith("PID "):
            line = owner.stdout.readline()
            assert line, "the owner exited before starting the server"
        postgres_pid = int(line.split()[1])
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        assert _pid_gone(postgres_pid), "postgres outlived its owner"
    finally:
        owner.kill()
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
    # The lock died with its owner, so the next run takes over.
    with EmbeddedPostgres(tmp_path, durable=False) as server, psycopg.connect(server.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
