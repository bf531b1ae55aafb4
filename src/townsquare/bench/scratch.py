"""Scratch databases for benchmarks: created and migrated on the server, always dropped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

from townsquare.config.settings import DatabaseSettings
from townsquare.store import migrate
from townsquare.store.engine import create_sync_engine, libpq_url


@contextmanager
def scratch_database(server_url: str, settings: DatabaseSettings | None = None) -> Iterator[str]:
    """A migrated database of its own on the server at ``server_url``, dropped afterwards.

    Raises ``psycopg.errors.InsufficientPrivilege`` (before creating anything) when the
    role may not create databases, so a caller can fall back to something else.
    """
    name = f"townsquare_bench_{uuid.uuid4().hex[:12]}"
    admin = libpq_url(server_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_sync_engine(url, settings or DatabaseSettings())
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
