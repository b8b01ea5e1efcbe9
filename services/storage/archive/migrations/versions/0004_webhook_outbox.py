"""The alert webhook's outbox: each alert recorded before its first POST, marked delivered after a 2xx.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("login", sa.BigInteger, nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("queued_ms", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("delivered_ms", sa.BigInteger, nullable=True),
    )
    op.create_index("ux_webhook_outbox_alert", "webhook_outbox", ["login", "alert_id"], unique=True)
    op.create_index("ix_webhook_outbox_pending", "webhook_outbox", ["login", "delivered_ms", "seq"])


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_pending", table_name="webhook_outbox")
    op.drop_index("ux_webhook_outbox_alert", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
