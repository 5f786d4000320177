"""Fleet: which Machine answered each call, and stream tokens used anywhere (single-use).

Revision ID: 0006
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: instant on a big table, and the previous release ignores it.
    op.add_column("calls", sa.Column("machine_id", sa.Text))
    op.create_table(
        "stream_tokens",
        sa.Column("token_id", sa.Text, primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("stream_tokens_expires_at", "stream_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("stream_tokens_expires_at", table_name="stream_tokens")
    op.drop_table("stream_tokens")
    op.drop_column("calls", "machine_id")
