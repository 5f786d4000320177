"""A fake Cal.com API v2 (slots, bookings, cancel) on 127.0.0.1, for `CALCOM_API_BASE`.

Built from Cal.com's public API reference and source (protocols/calendars.md section 2 quotes
them): cal.com/docs/api-reference/v2/introduction, …/v2/slots/get-available-time-slots-for-an-
event-type, …/v2/bookings/create-a-booking, …/v2/bookings/cancel-a-booking; github.com/calcom/
cal.com apps/api/v2/src/lib/api-versions.ts, slots-2024-09-04, bookings 2024-08-13/2026-02-25
inputs and outputs, errors.service.ts, filters/http-exception.filter.ts, lib/throttler-guard.ts,
packages/features/bookings/lib/handleCancelBooking.ts.
- `cal-api-version` is checked: slots 2024-09-04, bookings 2026-02-25 or 2024-08-13. Without it the
  real API routes to 2024-04-15 and answers in another shape; here that is a 400 and a `problems`
  entry, so a client that forgets the header fails loudly.
- Errors: `{"status": "error", "timestamp", "path", "error": {"code", "message", "details"}}`;
  401 "Invalid API Key"; 429 ThrottlerException; slot taken 400 "User either already has booking
  at this time or is not available"; a database clash 409 `{"code": "CONFLICT", ...}`; cancelling
  twice 400 "This booking has already been cancelled.".
- Slots are generated in each event type's own zone and hours, day by day in wall-clock time, so
  DST days come out as the real service's do.

Knobs: `mode` ("ok", "rate_limited", "server_error", "stall", "garbage": 200 with an HTML page),
`latency`, `stall_seconds`,
`revoke()` (the API key stops working), `conflict_next` (the next booking hits the race: 409),
`email_required` (the default booking fields: email needed), `lose_next_answer` (the booking is
made but its answer never comes: a retry then meets "slot taken"). `GET /v2/bookings` lists
bookings by `eventTypeId`, `afterStart`, `beforeEnd` (API key required).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.doubles.http_service import FakeHttpService, Recorded

__all__ = ["EventType", "FakeCalcom", "Mode"]

Mode = Literal["ok", "rate_limited", "server_error", "stall", "garbage"]
SLOTS_VERSION = "2024-09-04"
BOOKINGS_VERSIONS = frozenset({"2026-02-25", "2024-08-13"})
TAKEN = "User either already has booking at this time or is not available"
_PHONE = re.compile(r"\+[1-9]\d{6,14}")


@dataclass
class EventType:
    id: int
    length_minutes: int = 30
    zone: str = "America/New_York"
    opens: time = time(9, 0)
    closes: time = time(17, 0)


@dataclass
class Booking:
    uid: str
    id: int
    event_type_id: int
    start: datetime
    end: datetime
    body: dict[str, Any]
    status: str = "accepted"
    cancellation_reason: str | None = None


def calcom_error(
    status: int, code: str, message: str, path: str, details: bool = True
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = {
            "message": message,
            "error": _STATUS_TEXT.get(status, "Error"),
            "statusCode": status,
        }
    body = {
        "status": "error",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "path": path,
        "error": error,
    }
    return JSONResponse(body, status_code=status)


_STATUS_TEXT = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}


def _ms(moment: datetime) -> str:
    """Cal.com's timestamps: milliseconds and an offset ('Z' in UTC)."""
    text = moment.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if moment.utcoffset() == timedelta(0) else text


class FakeCalcom(FakeHttpService):
    """`async with FakeCalcom() as cal`; `cal.base_url` is CALCOM_API_BASE, `cal.api_key` the key."""

    def __init__(self) -> None:
        super().__init__(
            [
                Route("/v2/slots", self._slots, methods=["GET"]),
                Route("/v2/bookings", self._bookings, methods=["GET", "POST"]),
                Route("/v2/bookings/{uid}/cancel", self._cancel, methods=["POST"]),
            ]
        )
        self.api_key = "cal_live_" + secrets.token_hex(16)
        self.mode: Mode = "ok"
        self.conflict_next = False
        self.email_required = False
        self.lose_next_answer = False  # the next booking is made, its answer never arrives
        self.event_types: dict[int, EventType] = {}
        self.bookings: dict[str, Booking] = {}
        self._revoked = False

    def add_event_type(self, event_type: EventType) -> EventType:
        self.event_types[event_type.id] = event_type
        return event_type

    def revoke(self) -> None:
        self._revoked = True

    def active(self) -> list[Booking]:
        return [b for b in self.bookings.values() if b.status != "cancelled"]

    # --- handlers ------------------------------------------------------------------------------

    async def _begin(
        self, request: Request, versions: frozenset[str]
    ) -> tuple[Recorded, Response | None]:
        recorded = await self.record(request, stall=self.mode == "stall")
        path = request.url.path
        scheme, _, key = recorded.headers.get("authorization", "").partition(" ")
        if key and (
            self._revoked or not secrets.compare_digest(key, self.api_key) or scheme != "Bearer"
        ):
            return recorded, calcom_error(401, "UnauthorizedException", "Invalid API Key", path)
        if self.mode == "rate_limited":
            response = calcom_error(
                429, "ThrottlerException", "Too many requests. Please try again later.", path
            )
            response.headers["X-RateLimit-Remaining-Default"] = "0"
            return recorded, response
        if self.mode == "server_error":
            return recorded, calcom_error(
                500, "InternalServerErrorException", "Internal server error", path
            )
        if self.mode == "garbage":
            return recorded, HTMLResponse("<html><body>502 Bad Gateway</body></html>")
        version = recorded.headers.get("cal-api-version")
        if version not in versions:
            self.problems.append(f"{request.method} {path} with cal-api-version {version!r}")
            return recorded, calcom_error(
                400,
                "BadRequestException",
                f"cal-api-version {version!r}: answered as 2024-04-15",
                path,
            )
        return recorded, None

    def _free_slots(
        self, event_type: EventType, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        zone = ZoneInfo(event_type.zone)
        length = timedelta(minutes=event_type.length_minutes)
        taken = [(b.start, b.end) for b in self.active() if b.event_type_id == event_type.id]
        out: list[tuple[datetime, datetime]] = []
        day: date = start.astimezone(zone).date() - timedelta(days=1)
        while day <= end.astimezone(zone).date():
            wall = datetime.combine(day, event_type.opens)
            closes = datetime.combine(day, event_type.closes)
            while wall + length <= closes:  # wall-clock steps: DST days stay on the hour
                local = wall.replace(tzinfo=zone)
                instant = local.astimezone(UTC)
                if instant.astimezone(zone).replace(tzinfo=None) == wall:  # not in a DST gap
                    slot = (instant, instant + length)
                    free = not any(s < slot[1] and slot[0] < e for s, e in taken)
                    if start <= slot[0] <= end and free:
                        out.append(slot)
                wall += length
            day += timedelta(days=1)
        return out

    async def _slots(self, request: Request) -> Response:
        recorded, early = await self._begin(request, frozenset({SLOTS_VERSION}))
        if early is not None:
            return self.done(recorded, early)
        query = recorded.query
        path = request.url.path
        try:
            event_type = self.event_types[int(query["eventTypeId"])]
            start = datetime.fromisoformat(query["start"]).astimezone(UTC)
            end = datetime.fromisoformat(query["end"]).astimezone(UTC)
            zone = ZoneInfo(query.get("timeZone") or "UTC")
        except (KeyError, ValueError, ZoneInfoNotFoundError):
            return self.done(
                recorded, calcom_error(400, "BadRequestException", "Invalid slots query", path)
            )
        days: dict[str, list[dict[str, str]]] = {}
        for slot_start, slot_end in self._free_slots(event_type, start, end):
            local = slot_start.astimezone(zone)
            item = {"start": _ms(local)}
            if query.get("format") == "range":
                item["end"] = _ms(slot_end.astimezone(zone))
            days.setdefault(local.date().isoformat(), []).append(item)
        return self.done(recorded, JSONResponse({"status": "success", "data": days}))

    async def _bookings(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._book(request)
        recorded, early = await self._begin(request, BOOKINGS_VERSIONS)
        if early is not None:
            return self.done(recorded, early)
        path = request.url.path
        if not recorded.headers.get("authorization"):
            message = "No API key provided"  # listing needs the key (UNCONFIRMED wording)
            return self.done(recorded, calcom_error(401, "UnauthorizedException", message, path))
        query = recorded.query
        try:
            after = datetime.fromisoformat(query.get("afterStart", "1970-01-01T00:00:00Z"))
            before = datetime.fromisoformat(query.get("beforeEnd", "9999-12-31T00:00:00Z"))
            event_type_id = int(query["eventTypeId"]) if "eventTypeId" in query else None
        except ValueError:
            return self.done(recorded, calcom_error(400, "BadRequestException", "Bad query", path))
        found = [
            self._output(b)
            for b in sorted(self.bookings.values(), key=lambda b: b.start)
            if b.start >= after and b.end <= before and event_type_id in (None, b.event_type_id)
        ]
        pagination = {"totalItems": len(found), "hasNextPage": False}
        return self.done(
            recorded, JSONResponse({"status": "success", "data": found, "pagination": pagination})
        )

    async def _book(self, request: Request) -> Response:
        recorded, early = await self._begin(request, BOOKINGS_VERSIONS)
        if early is not None:
            return self.done(recorded, early)
        path = request.url.path
        body = recorded.body if isinstance(recorded.body, dict) else {}

        def bad(message: str) -> Response:
            return self.done(recorded, calcom_error(400, "BadRequestException", message, path))

        for forbidden in ("allowConflicts", "allowBookingOutOfBounds"):
            if forbidden in body:
                self.problems.append(f"booking sent {forbidden}")
        start_text = body.get("start")
        if not isinstance(start_text, str) or not start_text.endswith("Z"):
            return bad("start must be an ISO 8601 date in UTC")
        event_type = self.event_types.get(body.get("eventTypeId"))  # type: ignore[arg-type]
        if event_type is None:
            message = f"Event type with id {body.get('eventTypeId')} not found."
            return self.done(recorded, calcom_error(404, "NotFoundException", message, path))
        attendee = body.get("attendee")
        if (
            not isinstance(attendee, dict)
            or not attendee.get("name")
            or not attendee.get("timeZone")
        ):
            return bad("attendee.name and attendee.timeZone are required")
        phone, email = attendee.get("phoneNumber"), attendee.get("email")
        if not phone and not email:
            return bad("Attendee must have at least one contact method (email or phone number)")
        if phone is not None and not (isinstance(phone, str) and _PHONE.fullmatch(phone)):
            return bad("attendee.phoneNumber must be a valid phone number")
        if self.email_required and not email:
            return bad("email_required")
        metadata = body.get("metadata") or {}
        if (
            not isinstance(metadata, dict)
            or len(metadata) > 50
            or not all(
                isinstance(v, str) and len(v) <= 500 and len(k) <= 40 for k, v in metadata.items()
            )
        ):
            return bad("metadata: at most 50 keys, keys of 40 and string values of 500 characters")
        start = datetime.fromisoformat(start_text).astimezone(UTC)
        end = start + timedelta(minutes=event_type.length_minutes)
        if self.conflict_next:
            self.conflict_next = False
            response = calcom_error(
                409,
                "CONFLICT",
                "Invalid Input: Trying to create a record that already exists.",
                path,
                details=False,
            )
            return self.done(recorded, response)
        if (start, end) not in self._free_slots(event_type, start, end):
            return bad(TAKEN)
        booking = Booking(
            uid=secrets.token_urlsafe(9),
            id=4700 + len(self.bookings),
            event_type_id=event_type.id,
            start=start,
            end=end,
            body=body,
        )
        self.bookings[booking.uid] = booking
        if self.lose_next_answer:
            self.lose_next_answer = False
            await self._release.wait()  # until stop(): the client gives up first
        return self.done(
            recorded,
            JSONResponse({"status": "success", "data": self._output(booking)}, status_code=201),
        )

    async def _cancel(self, request: Request) -> Response:
        recorded, early = await self._begin(request, BOOKINGS_VERSIONS)
        if early is not None:
            return self.done(recorded, early)
        path = request.url.path
        uid = request.path_params["uid"]
        booking = self.bookings.get(uid)
        if booking is None:
            return self.done(
                recorded,
                calcom_error(404, "NotFoundException", f"Booking with uid={uid} not found", path),
            )
        if booking.status == "cancelled":
            return self.done(
                recorded,
                calcom_error(
                    400, "BadRequestException", "This booking has already been cancelled.", path
                ),
            )
        body = recorded.body if isinstance(recorded.body, dict) else {}
        booking.status = "cancelled"
        booking.cancellation_reason = body.get("cancellationReason")
        return self.done(
            recorded, JSONResponse({"status": "success", "data": self._output(booking)})
        )

    def _output(self, booking: Booking) -> dict[str, Any]:
        attendee = booking.body["attendee"]
        output: dict[str, Any] = {
            "id": booking.id,
            "uid": booking.uid,
            "title": f"Appointment between Owner and {attendee['name']}",
            "description": "",
            "hosts": [
                {
                    "id": 7,
                    "name": "Owner",
                    "email": "owner@example.com",
                    "displayEmail": "owner@example.com",
                    "username": "owner",
                    "timeZone": "America/New_York",
                }
            ],
            "status": booking.status,
            "start": _ms(booking.start),
            "end": _ms(booking.end),
            "duration": int((booking.end - booking.start).total_seconds() // 60),
            "eventTypeId": booking.event_type_id,
            "eventType": {"id": booking.event_type_id, "slug": "appointment"},
            "location": "",
            "absentHost": False,
            "createdAt": _ms(datetime.now(UTC)),
            "updatedAt": None,
            "metadata": booking.body.get("metadata") or {},
            "icsUid": f"{booking.uid}@Cal.com",
            "guests": [],
            "bookingFieldsResponses": booking.body.get("bookingFieldsResponses") or {},
            "attendees": [
                {
                    "name": attendee["name"],
                    "email": attendee.get("email") or "",
                    "displayEmail": attendee.get("email") or "",
                    "timeZone": attendee["timeZone"],
                    "language": attendee.get("language", "en"),
                    "absent": False,
                    "phoneNumber": attendee.get("phoneNumber"),
                }
            ],
        }
        if booking.cancellation_reason is not None:
            output["cancellationReason"] = booking.cancellation_reason
        return output
