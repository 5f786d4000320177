"""The calendar outbox's SQL: rows are added with the booking (or cancel) that causes them,
claimed one at a time with FOR UPDATE SKIP LOCKED, and settled.

A claim locks its appointment too, so a booking's event write and its deletion never run at
the same time on two Machines; the delete of a cancelled booking whose event was never
written finds the create row and settles it as not needed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import RowMapping, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.calendar.tables import calendar_events

CLAIM = text(
    """
    SELECT e.id, e.appointment_id, e.action, e.provider, e.attempts,
           a.service, a.starts_at, a.ends_at, a.customer_name, a.customer_phone, a.notes,
           a.status AS appointment_status, a.call_sid, a.external_uid
    FROM calendar_events e
    JOIN appointments a ON a.id = e.appointment_id
    WHERE e.status = 'pending' AND e.next_attempt_at <= now() AND e.id <> ALL(:seen)
    ORDER BY e.next_attempt_at, e.id
    LIMIT 1
    FOR UPDATE OF e, a SKIP LOCKED
    """
)


async def add(conn: AsyncConnection, appointment_id: str, action: str, provider: str) -> None:
    """Queue a write in the caller's transaction; the same write twice is one row."""
    await conn.execute(
        insert(calendar_events)
        .values(appointment_id=appointment_id, action=action, provider=provider)
        .on_conflict_do_nothing(constraint="calendar_events_once")
    )


async def claim(conn: AsyncConnection, seen: list[int]) -> RowMapping | None:
    return (await conn.execute(CLAIM, {"seen": seen})).mappings().first()


async def mark_done(
    conn: AsyncConnection, row_id: int, remote_id: str | None, note: str | None
) -> None:
    await conn.execute(
        calendar_events.update()
        .where(calendar_events.c.id == row_id)
        .values(
            status="done",
            done_at=text("now()"),
            attempts=calendar_events.c.attempts + 1,
            remote_id=remote_id,
            last_error=note,
        )
    )


async def mark_retry(conn: AsyncConnection, row_id: int, error: str, delay: timedelta) -> None:
    await conn.execute(
        calendar_events.update()
        .where(calendar_events.c.id == row_id)
        .values(
            attempts=calendar_events.c.attempts + 1,
            last_error=error,
            next_attempt_at=text("now() + make_interval(secs => :delay)").bindparams(
                delay=delay.total_seconds()
            ),
        )
    )


async def mark_failed(conn: AsyncConnection, row_id: int, error: str) -> None:
    await conn.execute(
        calendar_events.update()
        .where(calendar_events.c.id == row_id)
        .values(status="failed", attempts=calendar_events.c.attempts + 1, last_error=error)
    )


async def settle_unwritten_create(conn: AsyncConnection, appointment_id: str) -> bool:
    """A cancel before the event was written: the pending create is not needed any more.
    True when there was one (then nothing is in the calendar to delete)."""
    result = await conn.execute(
        calendar_events.update()
        .where(
            calendar_events.c.appointment_id == appointment_id,
            calendar_events.c.action == "create",
            calendar_events.c.status == "pending",
            calendar_events.c.attempts == 0,
        )
        .values(status="done", done_at=text("now()"), last_error="cancelled before it was written")
        .returning(calendar_events.c.id)
    )
    return result.first() is not None


async def queue_cancel(
    conn: AsyncConnection, appointment_id: str, provider: str, external_uid: str | None
) -> None:
    """A cancelled booking leaves the calendar: Cal.com cancels its booking; an event written
    to Google or CalDAV is deleted (one never written is simply not written)."""
    if provider == "calcom":
        if external_uid:
            await add(conn, appointment_id, "cancel", provider)
        return
    if not await settle_unwritten_create(conn, appointment_id):
        await add(conn, appointment_id, "delete", provider)


PROBLEMS = text(
    """
    SELECT e.id, e.action, e.status, e.attempts, e.last_error, e.created_at, e.next_attempt_at,
           a.id AS appointment_id, a.service, a.starts_at, a.customer_name, a.call_sid
    FROM calendar_events e
    JOIN appointments a ON a.id = e.appointment_id
    WHERE e.status = 'failed' OR (e.status = 'pending' AND e.last_error IS NOT NULL)
    ORDER BY e.created_at DESC
    LIMIT :limit
    """
)


async def problems(conn: AsyncConnection, limit: int = 50) -> list[RowMapping]:
    """Writes that failed for good, then those still being retried, with their reason."""
    return list((await conn.execute(PROBLEMS, {"limit": limit})).mappings())
