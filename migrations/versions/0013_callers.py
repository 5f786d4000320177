"""Callers: blocked and forgotten numbers, the caller ID check on each call, memory indexes.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per number staff acted on (app/callers/): blocked, and/or forgotten.
    op.create_table(
        "callers",
        sa.Column("number", sa.Text, primary_key=True),
        sa.Column("blocked_at", sa.DateTime(timezone=True)),
        sa.Column("blocked_by", sa.Text),
        # The caller's memory ignores everything before this (the console's "Forget").
        sa.Column("forgotten_at", sa.DateTime(timezone=True)),
        sa.Column("forgotten_by", sa.Text),
    )
    op.create_index(
        "callers_blocked_idx",
        "callers",
        [sa.text("blocked_at DESC")],
        postgresql_where=sa.text("blocked_at IS NOT NULL"),
    )
    # Twilio's StirVerstat (SHAKEN/STIR result) as sent; NULL when Twilio sent none.
    op.add_column("calls", sa.Column("stir_verstat", sa.Text))
    # A returning caller's calls, newest first (the webhook's memory lookup, the caller page).
    op.create_index(
        "calls_from_number_started_at_idx",
        "calls",
        ["from_number", sa.text("started_at DESC")],
    )
    op.create_index("appointments_call_sid_idx", "appointments", ["call_sid"])
    # A call turned away at the webhook (blocked, anonymous, spam) has the outcome 'rejected'.
    op.drop_constraint("call_outcomes_outcome_check", "call_outcomes")
    op.create_check_constraint(
        "call_outcomes_outcome_check",
        "call_outcomes",
        "outcome IN ('booked', 'transferred', 'transfer_failed', 'message_taken', "
        "'info_provided', 'no_resolution', 'abandoned', 'rejected')",
    )


def downgrade() -> None:
    op.execute("DELETE FROM call_outcomes WHERE outcome = 'rejected'")
    op.drop_constraint("call_outcomes_outcome_check", "call_outcomes")
    op.create_check_constraint(
        "call_outcomes_outcome_check",
        "call_outcomes",
        "outcome IN ('booked', 'transferred', 'transfer_failed', 'message_taken', "
        "'info_provided', 'no_resolution', 'abandoned')",
    )
    op.drop_index("appointments_call_sid_idx", table_name="appointments")
    op.drop_index("calls_from_number_started_at_idx", table_name="calls")
    op.drop_column("calls", "stir_verstat")
    op.drop_index("callers_blocked_idx", table_name="callers")
    op.drop_table("callers")
