"""Rollups of the recorded history (a minute and an hour per row), so long ranges open without raw points.

Revision ID: 0002_rollups
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_rollups"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("login", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("span_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("start", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("low_ts", sa.BigInteger, nullable=False),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("high_ts", sa.BigInteger, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
        sa.Column("last_ts", sa.BigInteger, nullable=False),
        sa.Column("balance", sa.Float, nullable=False),
        sa.Column("margin", sa.Float, nullable=False),
        sa.Column("margin_level", sa.Float, nullable=False),
        sa.Column("profit", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollups")
