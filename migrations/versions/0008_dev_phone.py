"""The dev phone: each call says where it came from, a phone line or the browser's dev phone.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A server default fills every existing row in one catalog change (PostgreSQL 11+), no rewrite.
    op.add_column("calls", sa.Column("channel", sa.Text, nullable=False, server_default="phone"))
    op.create_check_constraint("calls_channel_check", "calls", "channel IN ('phone', 'dev_phone')")


def downgrade() -> None:
    op.drop_constraint("calls_channel_check", "calls")
    op.drop_column("calls", "channel")
