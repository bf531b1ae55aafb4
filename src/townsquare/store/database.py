"""Which PostgreSQL this process uses: the configured one, or the embedded one.

The entrypoint opens the database once with ``open_database`` and passes the resulting
``DatabaseLocation`` down; when it owns the embedded server, leaving the block stops it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from townsquare.config.settings import Settings
from townsquare.errors import EmbeddedServerBusy
from townsquare.store.embedded import EmbeddedPostgres


@dataclass(frozen=True)
class DatabaseLocation:
    url: str
    # "external": TOWNSQUARE_DATABASE_URL; "embedded": started here; "attached": embedded
    # server owned by another Townsquare process.
    kind: str
    data_dir: Path | None = None
    embedded: EmbeddedPostgres | None = None


@contextmanager
def open_database(settings: Settings, *, attach: bool = False) -> Iterator[DatabaseLocation]:
    """Yield where the database is; start (and later stop) the embedded server if needed.

    ``attach=True`` lets short commands (``db status``) use an embedded server another
    process already runs instead of failing because it is busy.
    """
    if settings.database.url:
        yield DatabaseLocation(url=settings.database.url, kind="external")
        return
    data_dir = settings.embedded.data_dir
    if attach:
        running = EmbeddedPostgres.running(data_dir)
        if running is not None:
            yield DatabaseLocation(url=running.url, kind="attached", data_dir=data_dir)
            return
    server = EmbeddedPostgres(data_dir, start_timeout=settings.embedded.start_timeout)
    try:
        server.start()
    except EmbeddedServerBusy:
        running = EmbeddedPostgres.running(data_dir) if attach else None
        if running is None:
            raise
        yield DatabaseLocation(url=running.url, kind="attached", data_dir=data_dir)
        return
    try:
        yield DatabaseLocation(url=server.url, kind="embedded", data_dir=data_dir, embedded=server)
    finally:
        server.stop()
