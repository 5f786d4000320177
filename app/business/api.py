"""The built-in business backend: the business API contract served from the profile and Postgres.

Mounted at /business by the service when BUSINESS_API_BASE is unset; the tools reach it over
HTTP with the same client as any other backend (docs/business-api.md). Double booking is
refused by the database (the appointments_no_overlap exclusion constraint), not by a check
here, so two callers racing for the last unit of a slot get one 201 and one 409.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.business.calendar_view import CalendarView
from app.business.hours import Booked, free_slots, local_day_bounds, unbookable_reason
from app.business.http import (
    BearerAuth,
    BookingRequest,
    calendar_error,
    error_response,
    json_response,
    validation_message,
)
from app.business.profile import BusinessProfile, Service
from app.business.tables import appointments
from app.calendar import outbox as calendar_outbox
from app.calendar.errors import CalendarUnavailable, SlotTaken
from app.calendar.ports import RemoteBooking
from app.logging import get_logger

__all__ = ["business_app"]

log = get_logger(__name__)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_BODY = 16 * 1024
_MAX_KEY = 200
_ALTERNATIVES = 3
_ALTERNATIVE_DAYS = 14  # how many days after the requested one may offer alternatives
_MIRROR_SPARE_UNITS = 50


class _Backend:
    def __init__(
        self,
        profile: BusinessProfile,
        engine: AsyncEngine,
        clock: Callable[[], datetime],
        calendar: CalendarView | None,
        on_booking: Callable[[], None],
    ) -> None:
        self.profile = profile
        self.engine = engine
        self.clock = clock
        self.tz = profile.tz
        self.calendar = calendar
        self.on_booking = on_booking  # wakes the calendar writer

    # -- helpers ---------------------------------------------------------------------------

    def _local(self, at: datetime) -> str:
        return at.astimezone(self.tz).isoformat()

    def _slot_json(self, start: datetime, end: datetime) -> dict[str, str]:
        return {"start": self._local(start), "end": self._local(end)}

    def _service(self, name: str) -> Service | Response:
        service = self.profile.service(name)
        if service is None:
            known = ", ".join(s.name for s in self.profile.services)
            return error_response(
                422, "unknown_service", f"unknown service {name!r}; services: {known}"
            )
        return service

    async def _taken(
        self, service: Service, start: datetime, end: datetime, *, fresh: bool = False
    ) -> list[Booked]:
        """Our own bookings of `service` and, with a linked calendar, its busy time."""
        booked = await self._booked(service, start, end)
        if self.calendar is not None:
            booked += await self.calendar.blocked(service, start, end, fresh=fresh)
        return booked

    async def _booked(self, service: Service, start: datetime, end: datetime) -> list[Booked]:
        t = appointments.c
        query = select(t.starts_at, t.ends_at, t.slot).where(
            t.service == service.name,
            t.status == "booked",
            t.starts_at < end,
            t.ends_at > start,
        )
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [(r.starts_at, r.ends_at, r.slot) for r in rows]

    def _appointment_json(self, row: RowMapping) -> dict[str, Any]:
        return {
            "id": row["id"],
            "service": row["service"],
            "start": self._local(row["starts_at"]),
            "end": self._local(row["ends_at"]),
            "status": row["status"],
            "customer_name": row["customer_name"],
        }

    async def _by_key(self, key: str) -> RowMapping | None:
        query = select(appointments).where(appointments.c.idempotency_key == key)
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).mappings().first()

    async def _alternatives(
        self, service: Service, wanted: datetime, now: datetime
    ) -> list[dict[str, str]]:
        """Up to three free slots: the nearest on the wanted day, then the next open days."""
        first = wanted.astimezone(self.tz).date()
        days = min(_ALTERNATIVE_DAYS, self.profile.booking.max_days_ahead)
        window_start = local_day_bounds(self.tz, first)[0]
        window_end = local_day_bounds(self.tz, first + timedelta(days=days))[1]
        if self.calendar is not None and self.calendar.authority:
            nearest = await self.calendar.nearest(service, wanted, days)
            return [self._slot_json(s, e) for s, e in nearest]
        try:
            booked = await self._taken(service, window_start, window_end)
        except CalendarUnavailable:
            return []  # no alternatives rather than ones nobody checked
        found: list[tuple[datetime, datetime]] = []
        for offset in range(days + 1):
            day_slots = free_slots(
                self.profile, service, first + timedelta(days=offset), booked, now
            )
            if offset == 0:
                day_slots.sort(key=lambda s: abs((s[0] - wanted).total_seconds()))
            found += day_slots[: _ALTERNATIVES - len(found)]
            if len(found) >= _ALTERNATIVES:
                break
        return [self._slot_json(s, e) for s, e in found]

    # -- routes ----------------------------------------------------------------------------

    async def hours(self, request: Request) -> Response:
        today = self.clock().astimezone(self.tz).date()
        closures = [c.as_json() for c in self.profile.closures if c.last >= today][:50]
        return json_response(
            {
                "timezone": self.profile.timezone,
                "weekly": self.profile.hours.as_json(),
                "closures": closures,
            }
        )

    async def availability(self, request: Request) -> Response:
        raw_date = request.query_params.get("date", "")
        raw_service = request.query_params.get("service", "")
        if not raw_service.strip():
            return error_response(
                422, "missing_service", "the 'service' query parameter is required"
            )
        try:
            if not _DATE.fullmatch(raw_date):
                raise ValueError
            day = date.fromisoformat(raw_date)
        except ValueError:
            return error_response(
                422, "invalid_date", "'date' must be a calendar date as YYYY-MM-DD"
            )
        service = self._service(raw_service)
        if isinstance(service, Response):
            return service
        now = self.clock()
        start, end = local_day_bounds(self.tz, day)
        try:
            if self.calendar is not None and self.calendar.authority:
                slots = [s for s in await self.calendar.slots(service, day) if s[0] > now]
            else:
                slots = free_slots(
                    self.profile, service, day, await self._taken(service, start, end), now
                )
        except CalendarUnavailable as exc:
            return calendar_error(exc)
        closure = self.profile.closure_on(day)
        return json_response(
            {
                "date": day.isoformat(),
                "service": service.name,
                "timezone": self.profile.timezone,
                "duration_minutes": service.duration_minutes,
                "slots": [self._slot_json(s, e) for s, e in slots],
                "closure_reason": closure.reason if closure else None,
            }
        )

    async def book(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return error_response(422, "wrong_content_type", "send the booking as application/json")
        key = request.headers.get("idempotency-key")
        if key is not None and not 0 < len(key) <= _MAX_KEY:
            return error_response(422, "invalid_idempotency_key", f"1 to {_MAX_KEY} characters")
        declared = request.headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > _MAX_BODY:
            return error_response(422, "too_large", f"the body must be under {_MAX_BODY} bytes")
        body = await request.body()
        if len(body) > _MAX_BODY:
            return error_response(422, "too_large", f"the body must be under {_MAX_BODY} bytes")
        try:
            req = BookingRequest.model_validate_json(body)
        except ValidationError as exc:
            if exc.errors()[0]["type"] == "json_invalid":
                return error_response(422, "invalid_json", "the body is not valid JSON")
            return error_response(422, "invalid_request", validation_message(exc))
        if key is not None:
            existing = await self._by_key(key)
            if existing is not None:
                return self._replay(existing, req)
        service = self._service(req.service)
        if isinstance(service, Response):
            return service
        now = self.clock()
        problem = unbookable_reason(self.profile, service, req.start, now)
        if problem is not None:
            return error_response(422, *problem)
        start = req.start.astimezone(UTC)
        end = start + timedelta(minutes=service.duration_minutes)
        if self.calendar is not None:
            try:
                if self.calendar.authority:
                    return await self._book_at_authority(req, service, key, now)
                # Taken in the calendar since the caller heard it: as taken as a booking of ours.
                if await self.calendar.blocked(service, start, end, fresh=True):
                    return await self._slot_taken(service, start, now)
            except CalendarUnavailable as exc:
                return calendar_error(exc)
        for unit in range(service.capacity):
            row = await self._insert(req, service, start, end, unit, key)
            if row is not None:
                log.info("appointment_booked", appointment_id=row["id"], service=service.name)
                return json_response(self._appointment_json(row), 201)
            if key is not None:
                # The key's unique constraint may be what refused us: a concurrent replay.
                existing = await self._by_key(key)
                if existing is not None:
                    return self._replay(existing, req)
        return await self._slot_taken(service, start, now)

    async def _slot_taken(self, service: Service, start: datetime, now: datetime) -> Response:
        alternatives = await self._alternatives(service, start, now)
        return error_response(
            409,
            "slot_taken",
            "that time is no longer available",
            alternatives=alternatives,
        )

    async def _book_at_authority(
        self, req: BookingRequest, service: Service, key: str | None, now: datetime
    ) -> Response:
        """Cal.com books it; Postgres mirrors what Cal.com accepted, on any unit it fits."""
        assert self.calendar is not None
        try:
            remote = await self.calendar.book(service, req, key)
        except SlotTaken:
            return await self._slot_taken(service, req.start.astimezone(UTC), now)
        try:
            row = await self._mirror(req, service, remote, key)
        except Exception:
            # Cal.com took it but it could not be recorded: undo it rather than leave a
            # booking nobody here knows of (the caller is told it did not work).
            log.exception("calendar_mirror_failed", service=service.name)
            with contextlib.suppress(CalendarUnavailable):
                await self.calendar.undo(remote.uid)
            raise
        log.info("appointment_booked", appointment_id=row["id"], service=service.name)
        return json_response(self._appointment_json(row), 201)

    async def _mirror(
        self, req: BookingRequest, service: Service, remote: RemoteBooking, key: str | None
    ) -> RowMapping:
        query = select(appointments).where(appointments.c.external_uid == remote.uid)
        async with self.engine.connect() as conn:
            mirrored = (await conn.execute(query)).mappings().first()
        if mirrored is not None:  # the same Cal.com booking, recorded already
            return mirrored
        # Cal.com's own rules decided: a unit past the profile's capacity holds what it took.
        for unit in range(service.capacity + _MIRROR_SPARE_UNITS):
            row = await self._insert(
                req, service, remote.start, remote.end, unit, key, external_uid=remote.uid
            )
            if row is not None:
                return row
        raise RuntimeError("no unit left to mirror the Cal.com booking")

    def _replay(self, existing: RowMapping, req: BookingRequest) -> Response:
        same = (
            self.profile.service(req.service) is not None
            and existing["service"].casefold() == req.service.strip().casefold()
            and existing["starts_at"] == req.start
        )
        if not same:
            return error_response(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a different booking",
            )
        return json_response(self._appointment_json(existing), 200, {"Idempotent-Replayed": "true"})

    async def _insert(
        self,
        req: BookingRequest,
        service: Service,
        start: datetime,
        end: datetime,
        unit: int,
        key: str | None,
        *,
        external_uid: str | None = None,
    ) -> RowMapping | None:
        # ON CONFLICT DO NOTHING without a target covers the exclusion constraint and the
        # idempotency key alike: a refused insert returns no row instead of raising.
        statement = (
            pg_insert(appointments)
            .values(
                id="apt_" + secrets.token_hex(8),
                service=service.name,
                starts_at=start,
                ends_at=end,
                slot=unit,
                customer_name=req.customer_name,
                customer_phone=req.customer_phone,
                notes=req.notes,
                status="booked",
                idempotency_key=key,
                call_sid=req.call_sid,
                external_uid=external_uid,
            )
            .on_conflict_do_nothing()
            .returning(*appointments.c)
        )
        async with self.engine.begin() as conn:
            row = (await conn.execute(statement)).mappings().first()
            if row is not None and self.calendar is not None and not self.calendar.authority:
                # The event is written after the commit, by the calendar writer: a booking
                # never waits for the calendar and never fails because of it.
                await calendar_outbox.add(conn, row["id"], "create", self.calendar.provider)
        if row is not None and self.calendar is not None:
            self.on_booking()
        return row


async def _http_failure(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


def business_app(
    profile: BusinessProfile,
    engine: AsyncEngine,
    token: str,
    clock: Callable[[], datetime] | None = None,
    calendar: CalendarView | None = None,
    on_booking: Callable[[], None] = lambda: None,
) -> Starlette:
    """The contract's routes (/hours, /availability, /appointments) behind a bearer token;
    with `calendar`, the business's linked calendar is read and written (calendar_view.py)."""
    if not token:
        raise ValueError("the built-in business API needs a non-empty token")
    now = clock or (lambda: datetime.now(UTC))
    backend = _Backend(profile, engine, now, calendar, on_booking)
    return Starlette(
        routes=[
            Route("/hours", backend.hours, methods=["GET"]),
            Route("/availability", backend.availability, methods=["GET"]),
            Route("/appointments", backend.book, methods=["POST"]),
        ],
        middleware=[Middleware(BearerAuth, token=token)],
        exception_handlers={HTTPException: _http_failure},
    )
