"""The notifications outbox table (migration 0005 creates it; this mirrors it for queries)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB

from app.db.tables import metadata

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("channel", Text, nullable=False),  # sms, email
    Column("recipient", Text, nullable=False),
    Column("call_sid", Text),
    Column("subject", Text),
    Column("body", Text, nullable=False),  # the fallback text until sent; then what was sent
    Column("context", JSONB, nullable=False, server_default="{}"),
    Column("wait_for_summary", Boolean, nullable=False, server_default="false"),
    Column("status", Text, nullable=False, server_default="pending"),  # pending, sent, failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    Column("provider_id", Text),
)
