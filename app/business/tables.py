"""The built-in backend's tables: appointments and the messages staff call back (see 0002)."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint

from app.db.tables import metadata

URGENCIES = ("low", "normal", "urgent")
APPOINTMENT_STATUSES = ("booked", "cancelled")

appointments = Table(
    "appointments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("service", Text, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    # Capacity N is N units (chairs); each unit's booked appointments never overlap.
    Column("slot", SmallInteger, nullable=False),
    Column("customer_name", Text, nullable=False),
    Column("customer_phone", Text),
    Column("notes", Text),
    Column("status", Text, nullable=False, server_default="booked"),
    Column("idempotency_key", Text, unique=True),
    Column("call_sid", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The booking's uid where a calendar that is the authority holds it (Cal.com; 0009).
    Column("external_uid", Text),
    CheckConstraint("ends_at > starts_at", name="appointments_time_order_check"),
    CheckConstraint("slot >= 0", name="appointments_slot_check"),
    CheckConstraint("status IN ('booked', 'cancelled')", name="appointments_status_check"),
    ExcludeConstraint(
        ("service", "="),
        ("slot", "="),
        (text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
        name="appointments_no_overlap",
        using="gist",
        where=text("status = 'booked'"),
    ),
    Index("appointments_starts_at_idx", "starts_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Text, primary_key=True),
    Column("call_sid", Text, ForeignKey("calls.call_sid", ondelete="SET NULL")),
    Column("caller_name", Text, nullable=False),
    Column("callback_number", Text),
    Column("message", Text, nullable=False),
    Column("urgency", Text, nullable=False, server_default="normal"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("handled_at", DateTime(timezone=True)),
    Column("handled_by", Text),  # the staff account that called back (0004)
    CheckConstraint("urgency IN ('low', 'normal', 'urgent')", name="messages_urgency_check"),
    Index("messages_created_at_idx", text("created_at DESC")),
    Index("messages_call_sid_idx", "call_sid"),
    Index("messages_unhandled_idx", "created_at", postgresql_where=text("handled_at IS NULL")),
)
