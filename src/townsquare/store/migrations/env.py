"""Alembic environment: runs on the connection that ``townsquare.store.migrate`` hands in."""

from __future__ import annotations

from alembic import context

from townsquare.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    compare_type=True,
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
