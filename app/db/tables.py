"""The tables staff read with SQL (the migrations create them; this mirrors them for queries)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

calls = Table(
    "calls",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("call_sid", Text, nullable=False, unique=True),
    Column("account_sid", Text),
    Column("from_number", Text),
    Column("to_number", Text),
    Column("from_state", Text),
    Column("from_city", Text),
    Column("from_country", Text),
    Column("direction", Text),
    Column("twilio_status", Text),
    Column("stream_sid", Text),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("answered_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("end_reason", Text),
    Column("model", Text),  # the model the call started on
    # The model ladder (migration 0010): the model it moved to, why, and when (ms into the call).
    Column("escalated_model", Text),
    Column("escalation_reason", Text),
    Column("escalated_at_ms", Integer),
    Column("input_tokens", Integer, nullable=False, server_default="0"),
    Column("output_tokens", Integer, nullable=False, server_default="0"),
    Column("input_audio_tokens", Integer, nullable=False, server_default="0"),
    Column("output_audio_tokens", Integer, nullable=False, server_default="0"),
    Column("cached_tokens", Integer, nullable=False, server_default="0"),
    Column("estimated_cost_usd", Numeric(10, 4)),
    Column("greeting_ms", Integer),
    Column("transfer_status", Text),
    Column("transfer_reason", Text),
    Column("transfer_summary", Text),
    Column("transfer_requested_at", DateTime(timezone=True)),
    Column("dial_call_status", Text),
    Column("recording_disclosed", Boolean),
    # 'phone' for a Twilio call, 'dev_phone' for a call from the browser (app/phone/).
    Column("channel", Text, nullable=False, server_default="phone"),
    # The Fly Machine that answered the call's webhook (app/fleet/); NULL when running alone.
    Column("machine_id", Text),
    # The call's summary (app/notify/summary.py, migration 0005).
    Column("summary", Text),
    Column("call_reason", Text),
    Column("callback_needed", Boolean),
    Column("callback_reason", Text),
    Column("summary_status", Text),
    Column("summary_attempts", Integer, nullable=False, server_default="0"),
    Column("summary_claimed_at", DateTime(timezone=True)),
    Column("summarized_at", DateTime(timezone=True)),
    # Twilio's StirVerstat as sent (SHAKEN/STIR; migration 0013); NULL when none came.
    Column("stir_verstat", Text),
)

# Stream tokens used by any Machine (app/db/stream_tokens.py): a token is accepted once.
stream_tokens = Table(
    "stream_tokens",
    metadata,
    Column("token_id", Text, primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

transcript_turns = Table(
    "transcript_turns",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("call_sid", Text, ForeignKey("calls.call_sid", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("speaker", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("interrupted", Boolean, nullable=False, server_default="false"),
    Column("offset_ms", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Agent turns: the caller's end of speech (the model's VAD) to the turn's first audio sent
    # to the caller (migration 0011); NULL for turns that answered no speech.
    Column("latency_ms", Integer),
)

tool_calls = Table(
    "tool_calls",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("call_sid", Text, ForeignKey("calls.call_sid", ondelete="CASCADE"), nullable=False),
    Column("tool_call_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("arguments", JSONB, nullable=False),
    Column("result", JSONB, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("offset_ms", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

call_outcomes = Table(
    "call_outcomes",
    metadata,
    Column("call_sid", Text, ForeignKey("calls.call_sid", ondelete="CASCADE"), primary_key=True),
    Column("outcome", Text, nullable=False),
    Column("detail", JSONB, nullable=False, server_default="{}"),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

OUTCOMES = (
    "booked",
    "transferred",
    "transfer_failed",
    "message_taken",
    "info_provided",
    "no_resolution",
    "abandoned",
    "rejected",  # turned away at the webhook: blocked, anonymous or spam (app/callers/)
)
