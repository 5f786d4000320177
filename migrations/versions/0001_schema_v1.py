"""Schema v1: calls, transcript_turns, tool_calls, call_outcomes and the call_review view.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

OUTCOMES = (
    "booked",
    "transferred",
    "transfer_failed",
    "message_taken",
    "info_provided",
    "no_resolution",
    "abandoned",
)

CALL_REVIEW = """
CREATE VIEW call_review AS
SELECT
    c.call_sid,
    c.started_at,
    c.ended_at,
    (c.ended_at - c.started_at) AS duration,
    c.from_number,
    c.from_state,
    c.end_reason,
    o.outcome,
    o.detail AS outcome_detail,
    c.greeting_ms,
    c.estimated_cost_usd,
    (SELECT count(*) FROM tool_calls tc WHERE tc.call_sid = c.call_sid) AS tool_call_count,
    (
        SELECT string_agg(
            to_char(make_interval(secs => t.offset_ms / 1000.0), 'MI:SS') || ' '
                || CASE t.speaker WHEN 'caller' THEN 'Caller' ELSE 'Agent' END || ': '
                || t.text || CASE WHEN t.interrupted THEN ' [interrupted]' ELSE '' END,
            E'\\n' ORDER BY t.seq
        )
        FROM transcript_turns t
        WHERE t.call_sid = c.call_sid
    ) AS transcript
FROM calls c
LEFT JOIN call_outcomes o ON o.call_sid = c.call_sid
ORDER BY c.started_at DESC, c.id DESC
"""


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("call_sid", sa.Text, nullable=False, unique=True),
        sa.Column("account_sid", sa.Text),
        sa.Column("from_number", sa.Text),
        sa.Column("to_number", sa.Text),
        sa.Column("from_state", sa.Text),
        sa.Column("from_city", sa.Text),
        sa.Column("from_country", sa.Text),
        sa.Column("direction", sa.Text),
        sa.Column("twilio_status", sa.Text),
        sa.Column("stream_sid", sa.Text),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("end_reason", sa.Text),
        sa.Column("model", sa.Text),
        sa.Column("input_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("input_audio_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("output_audio_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cached_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("estimated_cost_usd", sa.Numeric(10, 4)),
        sa.Column("greeting_ms", sa.Integer),
    )
    op.create_index("calls_started_at_idx", "calls", [sa.text("started_at DESC")])
    op.create_table(
        "transcript_turns",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "call_sid",
            sa.Text,
            sa.ForeignKey("calls.call_sid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("speaker", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("interrupted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("offset_ms", sa.Integer, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("call_sid", "seq", name="transcript_turns_call_seq_key"),
        sa.CheckConstraint("speaker IN ('caller', 'agent')", name="transcript_turns_speaker_check"),
    )
    op.create_table(
        "tool_calls",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "call_sid",
            sa.Text,
            sa.ForeignKey("calls.call_sid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tool_call_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("arguments", JSONB, nullable=False),
        sa.Column("result", JSONB, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("offset_ms", sa.Integer, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("call_sid", "tool_call_id", name="tool_calls_call_tool_call_key"),
    )
    op.create_table(
        "call_outcomes",
        sa.Column(
            "call_sid",
            sa.Text,
            sa.ForeignKey("calls.call_sid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column(
            "decided_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "outcome IN (" + ", ".join(f"'{o}'" for o in OUTCOMES) + ")",
            name="call_outcomes_outcome_check",
        ),
    )
    op.execute(CALL_REVIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS call_review")
    op.drop_table("call_outcomes")
    op.drop_table("tool_calls")
    op.drop_table("transcript_turns")
    op.drop_table("calls")
