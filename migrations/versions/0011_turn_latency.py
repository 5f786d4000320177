"""Turn latency: each agent turn keeps the time from the caller's end of speech to its audio.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: a catalog change only, no table rewrite.
    op.add_column("transcript_turns", sa.Column("latency_ms", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("transcript_turns", "latency_ms")
