"""The one calendar writer task per process: claims due outbox rows, writes them, settles them.

Never on a caller's path: a booking commits its row and returns; this task writes the event
afterwards, retrying with backoff while the calendar is away. Each write is idempotent at the
provider (a stable event id or UID; an already deleted or cancelled booking is success), so a
write repeated after a lost answer, a killed process or a database that dropped before the
row was settled leaves exactly one event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.calendar import outbox
from app.calendar.errors import CalendarUnavailable
from app.calendar.event import BookingEvent, event_id_for
from app.calendar.service import BusinessCalendar
from app.logging import get_logger
from app.notify.poller import Poller

log = get_logger(__name__)

CANCEL_REASON = "Cancelled by the business in the receptionist's console"


class CalendarWriter:
    """`start()` runs the loop in a task; `write_due()` writes what is due now (tests use it)."""

    def __init__(
        self,
        engine: AsyncEngine,
        calendar: BusinessCalendar,
        public_base_url: str | None,
        *,
        poll: float = 1.0,
        max_attempts: int = 24,
        backoff_initial: float = 2.0,
        backoff_max: float = 600.0,
    ) -> None:
        self._engine = engine
        self._calendar = calendar
        self._public = public_base_url
        self._max_attempts = max_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._poller = Poller("calendar_writer", self.write_due, poll)
        self.written = 0
        self.failed = 0

    def start(self) -> None:
        self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()

    def wake(self) -> None:
        self._poller.wake()

    async def write_due(self, limit: int = 20) -> int:
        """Write up to `limit` due rows, one transaction each; how many were handled."""
        seen: list[int] = []
        while len(seen) < limit:
            async with self._engine.begin() as conn:
                claimed = await outbox.claim(conn, seen)
                if claimed is None:
                    return len(seen)
                row = dict(claimed)
                await self._write(conn, row)
            seen.append(row["id"])
        return len(seen)

    async def _write(self, conn: AsyncConnection, row: Mapping[str, Any]) -> None:
        fields = {
            "event_row": row["id"],
            "action": row["action"],
            "appointment_id": row["appointment_id"],
        }
        provider = self._calendar.provider
        if provider is None or provider.value != row["provider"]:
            now = provider.value if provider else "none"
            error = f"the calendar was changed from {row['provider']} to {now}"
            await outbox.mark_failed(conn, row["id"], error)
            self.failed += 1
            log.error("calendar_event_failed", error=error, **fields)
            return
        if row["action"] == "create" and row["appointment_status"] == "cancelled":
            await outbox.mark_done(conn, row["id"], None, "cancelled before it was written")
            return
        try:
            remote_id = await self._calendar.call(lambda: self._carry_out(row))
        except CalendarUnavailable as exc:
            await self._settle_failure(conn, row, exc, fields)
            return
        await outbox.mark_done(conn, row["id"], remote_id, None)
        self.written += 1
        log.info("calendar_event_written", attempts=row["attempts"] + 1, **fields)

    async def _carry_out(self, row: Mapping[str, Any]) -> str | None:
        action = row["action"]
        if action == "cancel":
            booking = await self._calendar.booking()
            await booking.cancel(row["external_uid"], CANCEL_REASON)
            return str(row["external_uid"])
        calendar = await self._calendar.free_busy()
        if action == "delete":
            event_id = event_id_for(row["appointment_id"])
            await calendar.delete_event(event_id)
            return event_id
        return await calendar.write_event(self._event(row))

    def _event(self, row: Mapping[str, Any]) -> BookingEvent:
        link = None
        if self._public and row["call_sid"]:
            link = f"{self._public}/staff/calls/{row['call_sid']}"
        return BookingEvent(
            appointment_id=row["appointment_id"],
            service=row["service"],
            customer_name=row["customer_name"],
            customer_phone=row["customer_phone"],
            start=row["starts_at"],
            end=row["ends_at"],
            tz=self._calendar.tz,
            console_link=link,
            notes=row["notes"],
        )

    async def _settle_failure(
        self,
        conn: AsyncConnection,
        row: Mapping[str, Any],
        exc: CalendarUnavailable,
        fields: dict[str, Any],
    ) -> None:
        attempts = row["attempts"] + 1
        waiting = exc.retryable or exc.kind in ("not_connected", "revoked")
        if not waiting or attempts >= self._max_attempts:
            await outbox.mark_failed(conn, row["id"], exc.message)
            self.failed += 1
            log.error("calendar_event_failed", attempts=attempts, error=exc.message, **fields)
            return
        delay = min(self._backoff_initial * 2 ** (attempts - 1), self._backoff_max)
        await outbox.mark_retry(conn, row["id"], exc.message, timedelta(seconds=delay))
        log.warning(
            "calendar_event_retry", attempts=attempts, error=exc.message, in_s=delay, **fields
        )
