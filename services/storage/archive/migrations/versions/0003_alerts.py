"""Risk alerts: saved rules (with resets as tombstones), rule state, alert history with acknowledgements.

Revision ID: 0003
Revises: 0002_rollups
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("login", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("saved_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("ruleset", sa.Text, nullable=True),
    )
    op.create_table(
        "alert_states",
        sa.Column("login", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("rule_id", sa.String(40), primary_key=True, autoincrement=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("login", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(64), primary_key=True, autoincrement=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("acked_ms", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_alerts_login_ts", "alerts", ["login", "ts"])


def downgrade() -> None:
    op.drop_index("ix_alerts_login_ts", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("alert_states")
    op.drop_table("alert_rules")
