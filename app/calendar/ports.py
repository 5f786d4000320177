"""The two shapes of linked calendar the rest of the service talks to.

- `FreeBusyCalendar` (Google Calendar, CalDAV): Postgres holds the bookings; the calendar's busy
  times are subtracted from what is offered, and each booking is written to it as an event.
- `BookingCalendar` (Cal.com): the calendar is the authority; it offers the slots and takes the
  booking, and Postgres keeps a mirror of it.

Every method raises `CalendarUnavailable` (app/calendar/errors.py) and nothing else for a
failure of the provider; `BookingCalendar.book` also raises `SlotTaken`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.calendar.event import BookingEvent, Interval


class FreeBusyCalendar(Protocol):
    async def busy(self, start: datetime, end: datetime) -> list[Interval]:
        """Every busy interval overlapping [start, end), as aware UTC; all-day events included."""
        ...

    async def write_event(self, event: BookingEvent) -> str:
        """Create the booking's event (idempotent: writing it again changes nothing); its id."""
        ...

    async def delete_event(self, event_id: str) -> None:
        """Delete the event; one already gone is not an error."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Attendee:
    name: str
    phone: str | None
    time_zone: str
    email: str | None = None


@dataclass(frozen=True)
class RemoteBooking:
    """A booking the authority calendar accepted."""

    uid: str
    start: datetime
    end: datetime
    status: str  # accepted | pending (the event type needs the host's confirmation)


class BookingCalendar(Protocol):
    async def slots(self, event_type_id: int, start: datetime, end: datetime) -> list[Interval]:
        """The bookable (start, end) slots of the event type between start and end."""
        ...

    async def book(
        self,
        event_type_id: int,
        start: datetime,
        attendee: Attendee,
        metadata: dict[str, str],
        notes: str | None,
    ) -> RemoteBooking:
        """Book it; raises SlotTaken when the time is no longer free."""
        ...

    async def cancel(self, uid: str, reason: str) -> None:
        """Cancel it; one already cancelled is not an error."""
        ...

    async def aclose(self) -> None: ...
