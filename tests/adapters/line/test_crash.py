"""A crash between the acknowledgement and the processing loses nothing.

A receiver process acknowledges webhooks while its handler hangs on the first events it
took; it is killed with SIGKILL (no cleanup at all). A second process, started on the same
database, handles every acknowledged event exactly once: the pending ones at once, the
ones the dead process held once their lease runs out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.adapters.line.inbox_support import (
    CLINIC_SECRET,
    DESTINATION,
    database_copy,
    inbox_rows,
)
from townsquare.fakes.line import ids, webhooks
from townsquare.fakes.line.ids import JSON

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
ROOT = Path(__file__).parents[3]


@pytest.fixture
def database(postgres_server: str, migrated_template: str) -> Iterator[str]:
    with database_copy(postgres_server, migrated_template) as url:
        yield url


def _start(database: str, mode: str, journal: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    with log.open("a") as stderr:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.adapters.line.inbox_process",
                database,
                mode,
                str(journal),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("listening "):
        process.kill()
        process.wait(10)
        process.stdout.close()
        raise AssertionError(f"did not start: {log.read_text()[-2000:]}")
    return process, line.split()[1]


def _journal(path: Path, word: str) -> list[str]:
    if not path.exists():
        return []
    return [line.split()[1] for line in path.read_text().splitlines() if line.startswith(word)]


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_crash_after_the_200_loses_nothing_and_handles_each_event_once(
    database: str, tmp_path: Path
) -> None:
    journal, log = tmp_path / "journal", tmp_path / "processes.log"
    chats = [webhooks.group_source(ids.group_id(), ids.user_id()) for _ in range(3)]
    chats.append(webhooks.user_source(ids.user_id()))
    bodies: list[list[JSON]] = [
        [webhooks.text_message(chat, f"message {n}") for chat in chats] for n in range(3)
    ]
    sent = [event["webhookEventId"] for body in bodies for event in body]

    first, base_url = _start(database, "block", journal, log)
    try:
        for events in bodies:
            request = webhooks.signed(CLINIC_SECRET, DESTINATION, events)
            response = httpx.post(
                f"{base_url}/line/webhook/clinic",
                content=request.body,
                headers=request.headers,
                timeout=10,
            )
            assert response.status_code == 200
        _wait(lambda: len(_journal(journal, "started")) == 2, 20, "two events to start")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert first.stdout is not None
        first.stdout.close()
    held = _journal(journal, "started")
    statuses = sorted(row["status"] for row in inbox_rows(database))
    assert statuses == ["pending"] * 10 + ["processing"] * 2

    second, _ = _start(database, "record", journal, log)
    try:
        _wait(lambda: len(_journal(journal, "done")) >= len(sent), 30, "every event handled")
        time.sleep(0.5)  # nothing more arrives
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(20)
        finally:
            if second.poll() is None:
                second.kill()
                second.wait(10)
            assert second.stdout is not None
            second.stdout.close()
    assert second.returncode == 0  # a clean stop
    done = _journal(journal, "done")
    assert sorted(done) == sorted(sent)  # each exactly once
    rows = {row["webhook_event_id"]: row for row in inbox_rows(database)}
    assert {row["status"] for row in rows.values()} == {"done"}
    assert {row["payload"] is None for row in rows.values()} == {True}
    assert sorted(e for e, row in rows.items() if row["attempts"] == 1) == sorted(held)
    for chat in chats:  # and each chat in the order it was sent
        order = [e["webhookEventId"] for body in bodies for e in body if e["source"] == chat]
        assert [e for e in done if e in order] == order
