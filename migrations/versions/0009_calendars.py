"""Calendars: the linked calendar, the outbox of event writes, and Cal.com's booking uid.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_links",
        sa.Column("id", sa.SmallInteger, primary_key=True, server_default="1"),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="connected"),
        sa.Column("details", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("sealed_secret", sa.LargeBinary),
        sa.Column(
            "connected_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("last_read_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", sa.DateTime(timezone=True)),
        sa.Column("disconnected_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("id = 1", name="calendar_links_single_check"),
        sa.CheckConstraint(
            "provider IN ('google', 'calcom', 'caldav')", name="calendar_links_provider_check"
        ),
        sa.CheckConstraint(
            "status IN ('connected', 'disconnected')", name="calendar_links_status_check"
        ),
    )
    op.create_table(
        "calendar_events",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "appointment_id",
            sa.Text,
            sa.ForeignKey("appointments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("remote_id", sa.Text),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("appointment_id", "action", name="calendar_events_once"),
        sa.CheckConstraint(
            "action IN ('create', 'delete', 'cancel')", name="calendar_events_action_check"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'done', 'failed')", name="calendar_events_status_check"
        ),
    )
    op.create_index(
        "calendar_events_due_idx",
        "calendar_events",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "calendar_events_failed_idx",
        "calendar_events",
        ["created_at"],
        postgresql_where=sa.text("status = 'failed'"),
    )
    # A Cal.com booking's uid: the appointments row mirrors a booking Cal.com holds.
    op.add_column("appointments", sa.Column("external_uid", sa.Text))
    op.create_index(
        "appointments_external_uid_idx",
        "appointments",
        ["external_uid"],
        unique=True,
        postgresql_where=sa.text("external_uid IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("appointments_external_uid_idx", "appointments")
    op.drop_column("appointments", "external_uid")
    op.drop_table("calendar_events")
    op.drop_table("calendar_links")
