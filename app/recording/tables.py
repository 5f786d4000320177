"""The recordings table (migration 0012 creates it; this mirrors it for queries)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    Table,
    Text,
    func,
)

from app.db.tables import metadata

recordings = Table(
    "recordings",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("call_sid", Text, ForeignKey("calls.call_sid", ondelete="CASCADE"), nullable=False),
    Column("sid", Text, unique=True),
    Column("source", Text, nullable=False, server_default="twilio"),
    Column("status", Text, nullable=False),
    Column("channels", Integer),
    Column("duration_seconds", Integer),
    Column("start_offset_ms", Integer),
    Column("error_code", Integer),
    Column("error_message", Text),
    Column("cost_usd", Numeric(10, 4)),
    Column("audio", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True)),
    Column("gone_at", DateTime(timezone=True)),
)
