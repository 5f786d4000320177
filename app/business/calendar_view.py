"""What the built-in backend offers and books when the business's calendar is linked.

- Google Calendar, CalDAV: Postgres holds the bookings. The calendar's busy time, less the
  receptionist's own bookings (their events are in the calendar too), blocks every unit of a
  service; a booking re-reads it, uncached, before it is committed.
- Cal.com: Cal.com holds the bookings. Its slots are what is offered; a booking is made there
  first and mirrored into Postgres with its uid, so the console and notifications see it.

Any failure of the calendar is a `CalendarUnavailable`; the backend answers it with 503 and
the receptionist offers to take a message: it never offers or books a time it could not check.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.hours import Booked, local_day_bounds
from app.business.http import BookingRequest
from app.business.profile import BusinessProfile, Service
from app.business.tables import appointments
from app.calendar.errors import CalendarUnavailable
from app.calendar.event import Interval, subtract
from app.calendar.ports import Attendee, RemoteBooking
from app.calendar.service import BusinessCalendar

NEAREST = 3


def check_profile(profile: BusinessProfile, provider: str | None) -> None:
    """With Cal.com, every service must name its event type; raises ValueError (one line)."""
    if provider != "calcom":
        return
    missing = [s.name for s in profile.services if s.calcom_event_type_id is None]
    if missing:
        raise ValueError(
            "CALENDAR=calcom needs calcom_event_type_id for every service in the business "
            f"profile; missing for: {', '.join(missing)}"
        )


class CalendarView:
    def __init__(
        self, calendar: BusinessCalendar, profile: BusinessProfile, engine: AsyncEngine
    ) -> None:
        self.calendar = calendar
        self.profile = profile
        self.engine = engine

    @property
    def authority(self) -> bool:
        return self.calendar.is_authority

    @property
    def provider(self) -> str:
        assert self.calendar.provider is not None
        return self.calendar.provider.value

    # -- Google Calendar, CalDAV -----------------------------------------------------------

    async def blocked(
        self, service: Service, start: datetime, end: datetime, *, fresh: bool = False
    ) -> list[Booked]:
        """The calendar's busy time in [start, end) that is not the receptionist's own
        bookings, as appointments holding every unit of `service`."""
        busy = await self.calendar.busy(start, end, fresh=fresh)
        if not busy:
            return []
        busy = subtract(busy, await self._own_bookings(start, end))
        return [(s, e, unit) for s, e in busy for unit in range(service.capacity)]

    async def _own_bookings(self, start: datetime, end: datetime) -> list[Interval]:
        t = appointments.c
        query = select(t.starts_at, t.ends_at).where(
            t.status == "booked", t.starts_at < end, t.ends_at > start
        )
        async with self.engine.connect() as conn:
            return [(r.starts_at, r.ends_at) for r in await conn.execute(query)]

    # -- Cal.com ---------------------------------------------------------------------------

    def event_type(self, service: Service) -> int:
        if service.calcom_event_type_id is None:
            raise CalendarUnavailable(
                "rejected", f"{service.name} has no calcom_event_type_id in the business profile"
            )
        return service.calcom_event_type_id

    async def slots(self, service: Service, first: date, days: int = 1) -> list[Interval]:
        """Cal.com's bookable slots of `service` over `days` local days from `first`."""
        start = local_day_bounds(self.profile.tz, first)[0]
        end = local_day_bounds(self.profile.tz, first + timedelta(days=days - 1))[1]
        booking = await self.calendar.booking()
        found = await self.calendar.call(
            lambda: booking.slots(self.event_type(service), start, end)
        )
        return sorted(found)

    async def nearest(self, service: Service, wanted: datetime, days: int) -> list[Interval]:
        """Up to three slots: the nearest on the wanted day, then the next days'."""
        first = wanted.astimezone(self.profile.tz).date()
        try:
            found = await self.slots(service, first, days + 1)
        except CalendarUnavailable:
            return []
        wanted_utc = wanted.astimezone(UTC)
        same_day = [s for s in found if s[0].astimezone(self.profile.tz).date() == first]
        same_day.sort(key=lambda s: abs((s[0] - wanted_utc).total_seconds()))
        later = [s for s in found if s[0].astimezone(self.profile.tz).date() > first]
        return [s for s in same_day + later if s[0] != wanted_utc][:NEAREST]

    async def book(self, service: Service, req: BookingRequest, key: str | None) -> RemoteBooking:
        """Book at Cal.com; raises SlotTaken or CalendarUnavailable.

        The metadata names this booking request (its Idempotency-Key, else a fresh one): the
        adapter recognises its own booking by it when an answer was lost and it asks again.
        """
        booking = await self.calendar.booking()
        attendee = Attendee(
            name=req.customer_name, phone=req.customer_phone, time_zone=self.profile.timezone
        )
        metadata = {"source": "phone receptionist", "request": key or secrets.token_hex(8)}
        if req.call_sid:
            metadata["callSid"] = req.call_sid
        return await self.calendar.call(
            lambda: booking.book(self.event_type(service), req.start, attendee, metadata, req.notes)
        )

    async def undo(self, uid: str) -> None:
        """Cancel a Cal.com booking the mirror could not record (best effort)."""
        booking = await self.calendar.booking()
        await self.calendar.call(
            lambda: booking.cancel(uid, "The receptionist could not record the booking")
        )
