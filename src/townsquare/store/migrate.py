"""Schema migrations (Alembic) driven from code: ``townsquare db upgrade|downgrade|status``.

Migrations take a PostgreSQL advisory lock first, so two processes starting at once (two
replicas of ``serve``) never run the same migration twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text

from townsquare.errors import SchemaError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# An arbitrary constant naming "the migration lock" among advisory locks.
_MIGRATION_LOCK_KEY = 0x7053_7175  # "pSqu"


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str
    pending: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        conn.commit()
        try:
            yield conn
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            conn.commit()


def upgrade(engine: Engine, revision: str = "head") -> SchemaStatus:
    with _locked(engine) as conn:
        try:
            command.upgrade(alembic_config(conn), revision)
        except CommandError as exc:
            raise SchemaError(f"Cannot upgrade to {revision!r}: {exc}") from None
        conn.commit()
    return status(engine)


def downgrade(engine: Engine, revision: str) -> SchemaStatus:
    with _locked(engine) as conn:
        try:
            command.downgrade(alembic_config(conn), revision)
        except CommandError as exc:
            raise SchemaError(f"Cannot downgrade to {revision!r}: {exc}") from None
        conn.commit()
    return status(engine)


def status(engine: Engine) -> SchemaStatus:
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    assert head is not None
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise SchemaError(
            f"The database is at schema revision {current}, which this version of Townsquare "
            "does not know (it was migrated by a newer version). Upgrade Townsquare."
        )
    pending = tuple(
        rev.revision for rev in reversed(list(script.iterate_revisions(head, current or "base")))
    )
    return SchemaStatus(current=current, head=head, pending=pending)
