"""The built-in business backend: appointments (no double booking, by constraint) and messages.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # btree_gist lets one GiST index combine equality (service, slot) with range overlap.
    # It ships with PostgreSQL (contrib) and is a trusted extension since PostgreSQL 13, so a
    # database owner can create it without superuser rights (also on managed Postgres).
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "appointments",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot", sa.SmallInteger, nullable=False),
        sa.Column("customer_name", sa.Text, nullable=False),
        sa.Column("customer_phone", sa.Text),
        sa.Column("notes", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default="booked"),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("call_sid", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("idempotency_key", name="appointments_idempotency_key_key"),
        sa.CheckConstraint("ends_at > starts_at", name="appointments_time_order_check"),
        sa.CheckConstraint("slot >= 0", name="appointments_slot_check"),
        sa.CheckConstraint("status IN ('booked', 'cancelled')", name="appointments_status_check"),
    )
    # Capacity N = N units ("chairs") per service; the database refuses two booked
    # appointments on the same unit whose [start, end) ranges overlap. Cancelled ones free it.
    op.execute(
        "ALTER TABLE appointments ADD CONSTRAINT appointments_no_overlap "
        "EXCLUDE USING gist (service WITH =, slot WITH =, "
        "tstzrange(starts_at, ends_at, '[)') WITH &&) WHERE (status = 'booked')"
    )
    op.create_index("appointments_starts_at_idx", "appointments", ["starts_at"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("call_sid", sa.Text, sa.ForeignKey("calls.call_sid", ondelete="SET NULL")),
        sa.Column("caller_name", sa.Text, nullable=False),
        sa.Column("callback_number", sa.Text),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("urgency", sa.Text, nullable=False, server_default="normal"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("handled_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("urgency IN ('low', 'normal', 'urgent')", name="messages_urgency_check"),
    )
    op.create_index("messages_created_at_idx", "messages", [sa.text("created_at DESC")])
    op.create_index("messages_call_sid_idx", "messages", ["call_sid"])
    # What staff look at first: the messages nobody has called back yet.
    op.create_index(
        "messages_unhandled_idx",
        "messages",
        ["created_at"],
        postgresql_where=sa.text("handled_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("appointments")
    # The btree_gist extension stays: other objects in the database may use it, and it holds
    # no data.
