"""The calendar's tables (migration 0009): the one linked calendar, and the event outbox."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.db.tables import metadata

PROVIDERS = ("google", "calcom", "caldav")
LINK_STATUSES = ("connected", "disconnected")
EVENT_ACTIONS = ("create", "delete", "cancel")
EVENT_STATUSES = ("pending", "done", "failed")

# One business, one linked calendar: a single row with id 1.
calendar_links = Table(
    "calendar_links",
    metadata,
    Column("id", SmallInteger, primary_key=True, server_default="1"),
    Column("provider", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="connected"),
    # What is safe to show (the CalDAV URL and user, the Google account, the Cal.com user).
    Column("details", JSONB, nullable=False, server_default="{}"),
    # The credentials (app password, refresh token, API key), sealed with SECRET_KEY.
    Column("sealed_secret", LargeBinary),
    Column("connected_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_read_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("last_error_at", DateTime(timezone=True)),
    Column("disconnected_at", DateTime(timezone=True)),
    CheckConstraint("id = 1", name="calendar_links_single_check"),
    CheckConstraint(
        "provider IN ('google', 'calcom', 'caldav')", name="calendar_links_provider_check"
    ),
    CheckConstraint("status IN ('connected', 'disconnected')", name="calendar_links_status_check"),
)

# The outbox of calendar writes: added in the booking's (or cancel's) own transaction.
calendar_events = Table(
    "calendar_events",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column(
        "appointment_id",
        Text,
        ForeignKey("appointments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("action", Text, nullable=False),  # create, delete (Google/CalDAV), cancel (Cal.com)
    Column("provider", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("remote_id", Text),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("done_at", DateTime(timezone=True)),
    UniqueConstraint("appointment_id", "action", name="calendar_events_once"),
    CheckConstraint(
        "action IN ('create', 'delete', 'cancel')", name="calendar_events_action_check"
    ),
    CheckConstraint("status IN ('pending', 'done', 'failed')", name="calendar_events_status_check"),
    Index(
        "calendar_events_due_idx",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
    Index("calendar_events_failed_idx", "created_at", postgresql_where=text("status = 'failed'")),
)
