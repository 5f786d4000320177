"""Call recordings: one row per recording of a call, at Twilio or kept here (the dev phone).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "call_sid",
            sa.Text,
            sa.ForeignKey("calls.call_sid", ondelete="CASCADE"),
            nullable=False,
        ),
        # Twilio's RE... sid; for a recording the service made itself, one of its own.
        sa.Column("sid", sa.Text, unique=True),
        # 'twilio' (media at Twilio, streamed through the console) or 'service' (audio below).
        sa.Column("source", sa.Text, nullable=False, server_default="twilio"),
        # starting, in-progress, completed, absent, failed (never started: see error_*).
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("channels", sa.Integer),
        sa.Column("duration_seconds", sa.Integer),
        # Where the recording's first second sits on the transcript's clock (turns' offset_ms).
        sa.Column("start_offset_ms", sa.Integer),
        sa.Column("error_code", sa.Integer),
        sa.Column("error_message", sa.Text),
        # Twilio's per-minute recording price times its minutes (app/recording/pricing.py).
        sa.Column("cost_usd", sa.Numeric(10, 4)),
        sa.Column("audio", sa.LargeBinary),  # a stereo WAV, for source = 'service'
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("gone_at", sa.DateTime(timezone=True)),  # found deleted at Twilio by hand
        sa.CheckConstraint("source IN ('twilio', 'service')", name="recordings_source_check"),
    )
    op.create_index("recordings_call_sid", "recordings", ["call_sid"])
    op.create_index("recordings_created_at", "recordings", ["created_at"])


def downgrade() -> None:
    op.drop_index("recordings_created_at", table_name="recordings")
    op.drop_index("recordings_call_sid", table_name="recordings")
    op.drop_table("recordings")
