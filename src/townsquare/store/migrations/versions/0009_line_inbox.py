"""The LINE webhook inbox: which official account received an event, and indexes for workers.

``channel_key`` names the configured LINE channel (official account) whose webhook stored
the event, so its worker replies with that account's token. The claim query takes only the
oldest open event of each ordering key (per chat order), which ``ix_webhook_inbox_open_key``
answers with one index probe; ``ix_webhook_inbox_finished`` serves the dead-letter count of
``/ready`` and the retention sweeps (finished rows and dead payloads expire).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:12:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows stored before this revision (none in practice) get an empty key; new rows must
    # name their channel, so the default is dropped again at once.
    op.add_column(
        "webhook_inbox",
        sa.Column("channel_key", sa.String(length=40), server_default="", nullable=False),
    )
    op.alter_column("webhook_inbox", "channel_key", server_default=None)
    op.create_index(
        "ix_webhook_inbox_open_key",
        "webhook_inbox",
        ["community_id", "platform", "ordering_key", "id"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    )
    op.create_index(
        "ix_webhook_inbox_finished",
        "webhook_inbox",
        ["status", "processed_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('done', 'dead')"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_inbox_finished", table_name="webhook_inbox")
    op.drop_index("ix_webhook_inbox_open_key", table_name="webhook_inbox")
    op.drop_column("webhook_inbox", "channel_key")
