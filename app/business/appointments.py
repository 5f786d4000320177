"""Cancelling an appointment: its status becomes 'cancelled', which frees the slot at once.

The appointments_no_overlap exclusion constraint only covers rows WHERE status = 'booked', so
a cancelled appointment no longer holds its unit and the same time can be booked again.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.business.tables import appointments
from app.calendar import outbox as calendar_outbox
from app.logging import get_logger

log = get_logger(__name__)


async def cancel_appointment(
    conn: AsyncConnection, appointment_id: str, calendar_provider: str | None = None
) -> bool:
    """Cancel a booked appointment; False when there is none (unknown or already cancelled).

    With a linked calendar (`calendar_provider`), the calendar's copy is queued to go in the
    same transaction (its event deleted, or the Cal.com booking cancelled). The caller owns
    the transaction.
    """
    cancelled = (
        await conn.execute(
            update(appointments)
            .where(appointments.c.id == appointment_id, appointments.c.status == "booked")
            .values(status="cancelled")
            .returning(appointments.c.id, appointments.c.external_uid)
        )
    ).first()
    if cancelled is None:
        return False
    if calendar_provider is not None:
        await calendar_outbox.queue_cancel(
            conn, appointment_id, calendar_provider, cancelled.external_uid
        )
    log.info("appointment_cancelled", appointment_id=appointment_id)
    return True
