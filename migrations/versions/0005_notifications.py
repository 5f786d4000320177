"""Notifications: each call's summary, and the outbox of SMS and email to send.

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SUMMARY_COLUMNS = (
    sa.Column("summary", sa.Text),
    sa.Column("call_reason", sa.Text),
    sa.Column("callback_needed", sa.Boolean),
    sa.Column("callback_reason", sa.Text),
    # NULL: not summarised yet; running, done, failed, skipped (nothing was said).
    sa.Column("summary_status", sa.Text),
    sa.Column("summary_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("summary_claimed_at", sa.DateTime(timezone=True)),
    sa.Column("summarized_at", sa.DateTime(timezone=True)),
)

_REVIEW_HEAD = """
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
"""
_REVIEW_TAIL = """
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
# The summary sits next to the outcome: it is what a person reads first.
CALL_REVIEW = (
    _REVIEW_HEAD + "    c.summary,\n    c.callback_needed,\n    c.callback_reason," + _REVIEW_TAIL
)
CALL_REVIEW_0001 = _REVIEW_HEAD + _REVIEW_TAIL.lstrip("\n")  # as revision 0001 created it


def upgrade() -> None:
    for column in SUMMARY_COLUMNS:
        op.add_column("calls", column)
    # Calls from before summaries existed are not summarised (nor billed for it) after a deploy.
    op.execute("UPDATE calls SET summary_status = 'skipped'")
    op.create_check_constraint(
        "calls_summary_status_check",
        "calls",
        "summary_status IN ('running', 'done', 'failed', 'skipped')",
    )
    # The summariser's queue: ended calls not summarised yet (a small set, found by end time).
    op.create_index(
        "calls_summary_due_idx",
        "calls",
        ["ended_at"],
        postgresql_where=sa.text("summary_status IS NULL OR summary_status = 'running'"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("call_sid", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("context", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("wait_for_summary", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("provider_id", sa.Text),
        sa.UniqueConstraint("idempotency_key", name="notifications_idempotency_key_key"),
        sa.CheckConstraint("channel IN ('sms', 'email')", name="notifications_channel_check"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name="notifications_status_check"
        ),
    )
    op.create_index(
        "notifications_due_idx",
        "notifications",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("notifications_call_sid_idx", "notifications", ["call_sid"])
    op.execute("DROP VIEW IF EXISTS call_review")
    op.execute(CALL_REVIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS call_review")
    op.execute(CALL_REVIEW_0001)
    op.drop_table("notifications")
    op.drop_index("calls_summary_due_idx", table_name="calls")
    op.drop_constraint("calls_summary_status_check", "calls")
    for column in reversed(SUMMARY_COLUMNS):
        op.drop_column("calls", column.name)
