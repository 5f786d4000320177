"""The model ladder: a call that moved to the big model keeps both models, the reason and when.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("escalated_model", sa.Text))
    op.add_column("calls", sa.Column("escalation_reason", sa.Text))
    op.add_column("calls", sa.Column("escalated_at_ms", sa.Integer))


def downgrade() -> None:
    op.drop_column("calls", "escalated_at_ms")
    op.drop_column("calls", "escalation_reason")
    op.drop_column("calls", "escalated_model")
