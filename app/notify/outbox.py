"""The outbox's SQL: rows are added with the event that causes them, claimed, and settled.

A row is due when its `next_attempt_at` has come and, if it waits for the call's summary, the
summary is settled, or the call ended NOTIFY_SUMMARY_WAIT_SECONDS ago (then it goes out with the
caller's own words), or it has waited `hold_cap` in all (a call whose end was never recorded).
Claiming a row is its own short transaction: the row is picked with FOR UPDATE SKIP LOCKED and
its `next_attempt_at` moved a lease ahead, then committed. No other sender, in this process or
on another Machine, takes it while the lease runs; the send happens outside any transaction, and
its outcome is recorded in another (app/notify/sender.py says why).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.notify.tables import notifications

CLAIM = text(
    """
    SELECT n.id, n.idempotency_key, n.kind, n.channel, n.recipient, n.subject, n.body,
           n.context, n.attempts, n.call_sid, c.summary, c.callback_reason
    FROM notifications n
    LEFT JOIN calls c ON c.call_sid = n.call_sid
    WHERE n.status = 'pending' AND n.next_attempt_at <= now() AND n.id <> ALL(:seen)
      AND (
        NOT n.wait_for_summary
        OR c.call_sid IS NULL
        OR c.summary_status IN ('done', 'failed', 'skipped')
        OR (c.ended_at IS NOT NULL AND c.ended_at <= now() - make_interval(secs => :wait))
        OR n.created_at <= now() - make_interval(secs => :cap)
      )
    ORDER BY n.next_attempt_at, n.id
    LIMIT 1
    FOR UPDATE OF n SKIP LOCKED
    """
)


async def add(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows in the caller's transaction; a row whose key exists is left alone."""
    if rows:
        await conn.execute(
            insert(notifications)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[notifications.c.idempotency_key])
        )


LEASE = text(
    "UPDATE notifications SET next_attempt_at = now() + make_interval(secs => :lease) "
    "WHERE id = :id"
)


async def claim(
    conn: AsyncConnection, wait: float, cap: float, seen: list[int], lease: float
) -> RowMapping | None:
    """The next due row but those in `seen`, leased for `lease` seconds once the caller commits."""
    params = {"wait": wait, "cap": cap, "seen": seen}
    row = (await conn.execute(CLAIM, params)).mappings().first()
    if row is not None:
        await conn.execute(LEASE, {"id": row["id"], "lease": lease})
    return row


async def mark_sent(
    conn: AsyncConnection, row_id: int, subject: str | None, body: str, provider_id: str | None
) -> None:
    await conn.execute(
        notifications.update()
        .where(notifications.c.id == row_id)
        .values(
            status="sent",
            sent_at=text("now()"),
            attempts=notifications.c.attempts + 1,
            subject=subject,
            body=body,  # what was sent: the summary's words, or the caller's own
            provider_id=provider_id,
            last_error=None,
        )
    )


async def mark_retry(conn: AsyncConnection, row_id: int, error: str, delay: timedelta) -> None:
    await conn.execute(
        notifications.update()
        .where(notifications.c.id == row_id)
        .values(
            attempts=notifications.c.attempts + 1,
            last_error=error,
            next_attempt_at=text("now() + make_interval(secs => :delay)").bindparams(
                delay=delay.total_seconds()
            ),
        )
    )


async def mark_failed(conn: AsyncConnection, row_id: int, error: str) -> None:
    await conn.execute(
        notifications.update()
        .where(notifications.c.id == row_id)
        .values(status="failed", attempts=notifications.c.attempts + 1, last_error=error)
    )
