"""Call control: transfer state on each call, so any instance can answer Twilio's callbacks.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("transfer_status", sa.Text))
    op.add_column("calls", sa.Column("transfer_reason", sa.Text))
    op.add_column("calls", sa.Column("transfer_summary", sa.Text))
    op.add_column("calls", sa.Column("transfer_requested_at", sa.DateTime(timezone=True)))
    op.add_column("calls", sa.Column("dial_call_status", sa.Text))
    op.add_column("calls", sa.Column("recording_disclosed", sa.Boolean))
    op.create_check_constraint(
        "calls_transfer_status_check",
        "calls",
        "transfer_status IN ('requested', 'completed', 'failed')",
    )


def downgrade() -> None:
    op.drop_constraint("calls_transfer_status_check", "calls")
    for column in (
        "recording_disclosed",
        "dial_call_status",
        "transfer_requested_at",
        "transfer_summary",
        "transfer_reason",
        "transfer_status",
    ):
        op.drop_column("calls", column)
