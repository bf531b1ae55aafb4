"""A LINE webhook receiver with inbox workers, as a process of its own (the crash test's).

    python -m tests.adapters.line.inbox_process DATABASE_URL MODE JOURNAL

``MODE`` is the handler: ``block`` notes ``started <webhookEventId>`` in ``JOURNAL`` and never
finishes (a process killed mid-work), ``record`` notes ``done <webhookEventId>`` and returns.
Two workers, 2-second leases. Prints ``listening http://127.0.0.1:PORT`` once it serves.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.adapters.line.inbox_support import line_settings
from townsquare.adapters.line.contract import InboxItem
from townsquare.adapters.line.inbox import InboxOptions, InboxWorker
from townsquare.adapters.line.webhook import webhook_router
from townsquare.api.app import create_app
from townsquare.api.server import bind_socket, serve_http
from townsquare.cli.common import ShutdownRequested, sigterm_unwinds
from townsquare.log import configure_logging
from townsquare.store.engine import create_db_engine

LEASE_SECONDS = 2.0


class Journal:
    def __init__(self, path: Path, mode: str) -> None:
        self.path = path
        self.mode = mode

    async def __call__(self, item: InboxItem) -> None:
        word = "started" if self.mode == "block" else "done"
        with self.path.open("a") as journal:
            journal.write(f"{word} {item.webhook_event_id}\n")
        if self.mode == "block":
            await asyncio.Event().wait()


async def main(url: str, mode: str, journal: Path) -> None:
    configure_logging("INFO", "json")  # to stderr: stdout only says where it listens
    settings = line_settings(workers=2)
    engine = create_db_engine(url, settings.database)
    options = InboxOptions(lease_seconds=LEASE_SECONDS, poll_seconds=0.05)
    worker = InboxWorker(engine, Journal(journal, mode), settings.line, options)
    app = create_app(settings, url, routers=[webhook_router(settings.line, on_stored=worker.wake)])
    sock = bind_socket("127.0.0.1", 0)
    await worker.start()
    try:
        await serve_http(app, sock, on_started=lambda base: print("listening", base, flush=True))
    finally:
        await worker.stop(grace_seconds=2)
        await engine.dispose()


if __name__ == "__main__":
    try:  # SIGTERM unwinds (the worker stops cleanly), as in `townsquare run`
        with sigterm_unwinds():
            asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
    except ShutdownRequested:
        pass
