"""Cancelling an appointment: its status becomes 'cancelled', which frees the slot at once.

The appointments_no_overlap exclusion constraint only covers rows WHERE status = 'booked', so
a cancelled appointment no longer holds its unit and the same time can be booked again.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.business.tables import appointments
from app.logging import get_logger

log = get_logger(__name__)


async def cancel_appointment(conn: AsyncConnection, appointment_id: str) -> bool:
    """Cancel a booked appointment; False when there is none (unknown or already cancelled).

    The caller owns the transaction.
    """
    cancelled = (
        await conn.execute(
            update(appointments)
            .where(appointments.c.id == appointment_id, appointments.c.status == "booked")
            .values(status="cancelled")
            .returning(appointments.c.id)
        )
    ).first()
    if cancelled is None:
        return False
    log.info("appointment_cancelled", appointment_id=appointment_id)
    return True
