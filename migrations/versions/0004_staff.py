"""The staff console: accounts, sessions, login throttling, who handled a message, page indexes.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "password_changed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.UniqueConstraint("email", name="staff_users_email_key"),
        sa.CheckConstraint("email = lower(email)", name="staff_users_email_lower_check"),
    )
    # Only a hash of the session id is stored: a copy of this table lets no one sign in.
    op.create_table(
        "staff_sessions",
        sa.Column("id_hash", sa.Text, primary_key=True),
        sa.Column(
            "user_id",
            sa.BigInteger,
            sa.ForeignKey("staff_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("csrf_token", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("staff_sessions_user_id_idx", "staff_sessions", ["user_id"])
    op.create_index("staff_sessions_last_seen_at_idx", "staff_sessions", ["last_seen_at"])
    # Failed sign-ins, kept in Postgres so the throttle holds across Machines and restarts.
    op.create_table(
        "staff_login_failures",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "staff_login_failures_account_idx", "staff_login_failures", ["account", "address", "at"]
    )
    op.create_index("staff_login_failures_address_idx", "staff_login_failures", ["address", "at"])

    op.add_column("messages", sa.Column("handled_by", sa.Text))
    op.create_index(
        "messages_handled_idx",
        "messages",
        [sa.text("handled_at DESC")],
        postgresql_where=sa.text("handled_at IS NOT NULL"),
    )

    # The console's pages: transcript search, keyset pages of calls, filters, retention.
    op.execute(
        "CREATE INDEX transcript_turns_fts_idx ON transcript_turns "
        "USING gin (to_tsvector('english', text))"
    )
    op.create_index("transcript_turns_created_at_idx", "transcript_turns", ["created_at"])
    op.create_index(
        "calls_started_at_id_idx", "calls", [sa.text("started_at DESC"), sa.text("id DESC")]
    )
    # Staff type the end of a number ("555-0142"): a suffix match is a prefix match reversed.
    op.execute(
        "CREATE INDEX calls_from_number_reverse_idx ON calls "
        "(reverse(from_number) text_pattern_ops)"
    )
    op.create_index("call_outcomes_outcome_idx", "call_outcomes", ["outcome"])
    op.create_index(
        "appointments_booked_starts_at_idx",
        "appointments",
        ["starts_at"],
        postgresql_where=sa.text("status = 'booked'"),
    )


def downgrade() -> None:
    op.drop_index("appointments_booked_starts_at_idx", "appointments")
    op.drop_index("call_outcomes_outcome_idx", "call_outcomes")
    op.drop_index("calls_from_number_reverse_idx", "calls")
    op.drop_index("calls_started_at_id_idx", "calls")
    op.drop_index("transcript_turns_created_at_idx", "transcript_turns")
    op.drop_index("transcript_turns_fts_idx", "transcript_turns")
    op.drop_index("messages_handled_idx", "messages")
    op.drop_column("messages", "handled_by")
    op.drop_table("staff_login_failures")
    op.drop_table("staff_sessions")
    op.drop_table("staff_users")
