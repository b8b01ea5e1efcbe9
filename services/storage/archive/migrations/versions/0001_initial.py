"""The first archive: history points, deals, position/order states, account metadata.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "history",
        sa.Column("login", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("balance", sa.Float, nullable=False),
        sa.Column("equity", sa.Float, nullable=False),
        sa.Column("margin", sa.Float, nullable=False),
        sa.Column("margin_level", sa.Float, nullable=False),
        sa.Column("profit", sa.Float, nullable=False),
    )
    op.create_table(
        "deals",
        sa.Column("login", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ticket", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("time_utc_ms", sa.BigInteger, nullable=False),
        sa.Column("time_msc", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_deals_login_time", "deals", ["login", "time_utc_ms"])
    op.create_table(
        "states",
        sa.Column("login", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("positions", sa.Text, nullable=False),
        sa.Column("orders", sa.Text, nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("login", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("accounts")
    op.drop_table("states")
    op.drop_index("ix_deals_login_time", table_name="deals")
    op.drop_table("deals")
    op.drop_table("history")
