"""Console: the notifications that failed for good, newest first, for the Today page.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Partial: failures are a handful among every SMS and email ever sent, so Today counts and
    # lists them without reading the whole outbox.
    op.create_index(
        "notifications_failed_idx",
        "notifications",
        ["created_at"],
        postgresql_where=sa.text("status = 'failed'"),
    )


def downgrade() -> None:
    op.drop_index("notifications_failed_idx", table_name="notifications")
