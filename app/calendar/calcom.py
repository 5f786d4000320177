"""Cal.com as a `BookingCalendar`: slots, bookings and cancellations over API v2.

Wire details and their sources: PROTOCOLS.md, protocols/calendars.md section 2.
- Every endpoint pins its version in `cal-api-version`; without it Cal.com silently answers in
  an older shape. Slots: 2024-09-04. Bookings and cancel: 2026-02-25, the version Cal.com's own
  reference pages name for them (it takes the 2024-08-13 inputs; we never send its
  `allowConflicts` / `allowBookingOutOfBounds`, which would skip the availability checks).
- Slots are asked with `format=range` in UTC and come back grouped by day, each with its start and
  end as RFC 3339 with an offset.
- A booking's `start` goes in UTC; call ids ride in `metadata` (string values only), the caller's
  notes in `bookingFieldsResponses.notes`.
- "Slot taken" is a 400 with one of Cal.com's "already has booking" messages, or a 409 CONFLICT
  from its database (two bookings racing for one time): both raise `SlotTaken`.
- Cal.com takes no idempotency key, and a retried booking whose first answer was lost meets its
  own booking: "slot taken". So on "taken" the adapter lists the bookings at that start (API key
  needed) and returns the one carrying exactly our metadata (call sid, appointment id) if any.
- Cancelling a booking already cancelled answers 400 "This booking has already been cancelled."
  (handleCancelBooking): that is success here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, overload
from urllib.parse import quote

import httpx

from app.calendar.errors import CalendarUnavailable, SlotTaken
from app.calendar.event import Interval, utc
from app.calendar.http import (
    deadline,
    error_json,
    json_object,
    parse_instant,
    short,
    status_failure,
    transport_failure,
)
from app.calendar.ports import Attendee, RemoteBooking
from app.config import Settings

PROVIDER = "Cal.com"
SLOTS_VERSION = "2024-09-04"
BOOKINGS_VERSION = "2026-02-25"
# Cal.com's messages for "this time is no longer free" (bookings errors.service.ts).
SLOT_TAKEN_MESSAGES = ("already has booking at this time or is not available",)
ALREADY_CANCELLED = "already been cancelled"
BOOKING_STATUSES = frozenset({"accepted", "pending"})


def _utc_text(moment: datetime) -> str:
    """'2027-03-14T13:00:00Z': ISO 8601 in UTC, the form Cal.com documents for `start`."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


class CalcomCalendar:
    """The Cal.com account an API key opens (cloud `https://api.cal.com` or self-hosted)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        api_base: str = "https://api.cal.com",
        timeout: float = 2.0,
    ) -> None:
        self._http = http
        self._api_key = api_key
        self._api_base = api_base.rstrip("/")
        self._timeout = timeout

    @classmethod
    def from_settings(
        cls, http: httpx.AsyncClient, settings: Settings, api_key: str
    ) -> CalcomCalendar:
        return cls(
            http,
            api_key=api_key,
            api_base=settings.calcom_api_base,
            timeout=settings.calendar_timeout_seconds,
        )

    async def aclose(self) -> None:
        return None

    # --- BookingCalendar -----------------------------------------------------------------------

    async def slots(self, event_type_id: int, start: datetime, end: datetime) -> list[Interval]:
        params = {
            "eventTypeId": str(event_type_id),
            "start": _utc_text(start),
            "end": _utc_text(end),
            "timeZone": "UTC",
            "format": "range",
        }
        response = await self._call("GET", "/v2/slots", SLOTS_VERSION, params=params)
        if response.status_code != 200:
            raise self._failure(response)
        window = (utc(start), utc(end))
        slots = _parse_slots(json_object(PROVIDER, response))
        return [slot for slot in slots if window[0] <= slot[0] < window[1]]

    async def book(
        self,
        event_type_id: int,
        start: datetime,
        attendee: Attendee,
        metadata: dict[str, str],
        notes: str | None,
    ) -> RemoteBooking:
        async with deadline(PROVIDER, self._timeout):  # the look-up after "taken" included
            return await self._book(event_type_id, start, attendee, metadata, notes)

    async def _book(
        self,
        event_type_id: int,
        start: datetime,
        attendee: Attendee,
        metadata: dict[str, str],
        notes: str | None,
    ) -> RemoteBooking:
        person: dict[str, str] = {"name": attendee.name, "timeZone": attendee.time_zone}
        if attendee.phone:
            person["phoneNumber"] = attendee.phone
        if attendee.email:
            person["email"] = attendee.email
        body: dict[str, Any] = {
            "start": _utc_text(start),
            "eventTypeId": event_type_id,
            "attendee": person,
            "metadata": {str(key): str(value) for key, value in metadata.items()},
        }
        if notes:
            body["bookingFieldsResponses"] = {"notes": notes}
        response = await self._call("POST", "/v2/bookings", BOOKINGS_VERSION, json=body)
        if response.status_code in (400, 409) and _slot_taken(response):
            # Taken by ourselves? A retry after a lost answer finds its own booking there.
            if metadata and (ours := await self._find_booking(event_type_id, start, metadata)):
                return ours
            raise SlotTaken(_error_message(response) or "the time is no longer free")
        if not 200 <= response.status_code < 300:
            raise self._failure(response)
        return _parse_booking(json_object(PROVIDER, response))

    async def _find_booking(
        self, event_type_id: int, start: datetime, metadata: dict[str, str]
    ) -> RemoteBooking | None:
        """The live booking of this event type at `start` carrying exactly our metadata."""
        params = {
            "eventTypeId": str(event_type_id),
            "afterStart": _utc_text(start - timedelta(minutes=1)),
            "beforeEnd": _utc_text(start + timedelta(days=1)),
        }
        response = await self._call("GET", "/v2/bookings", BOOKINGS_VERSION, params=params)
        if response.status_code != 200:
            raise self._failure(response)
        found = json_object(PROVIDER, response).get("data")
        for item in found if isinstance(found, list) else []:
            if not isinstance(item, dict) or item.get("metadata") != metadata:
                continue
            booking = _parse_booking({"data": item}, strict=False)
            if booking is not None and booking.start == utc(start):
                return booking
        return None

    async def cancel(self, uid: str, reason: str) -> None:
        response = await self._call(
            "POST",
            f"/v2/bookings/{quote(uid, safe='')}/cancel",
            BOOKINGS_VERSION,
            json={"cancellationReason": reason},
        )
        if 200 <= response.status_code < 300:
            return
        if response.status_code == 400 and ALREADY_CANCELLED in (_error_message(response) or ""):
            return
        raise self._failure(response)

    # --- plumbing ------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        version: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._api_key}", "cal-api-version": version}
        async with deadline(PROVIDER, self._timeout):
            try:
                return await self._http.request(
                    method,
                    self._api_base + path,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=self._timeout,
                )
            except httpx.HTTPError as exc:
                raise transport_failure(PROVIDER, exc) from None

    def _failure(self, response: httpx.Response) -> CalendarUnavailable:
        message = _error_message(response)
        if response.status_code == 401:
            return CalendarUnavailable(
                "revoked",
                f"{PROVIDER} did not accept the API key ({message or 'unauthorized'}): "
                "make a new key in Cal.com and link again",
                status=401,
            )
        return status_failure(PROVIDER, response.status_code, message)


def _error_message(response: httpx.Response) -> str | None:
    error = error_json(response).get("error")
    if isinstance(error, dict):
        return short(error.get("message"))
    return short(error)


def _slot_taken(response: httpx.Response) -> bool:
    error = error_json(response).get("error")
    if not isinstance(error, dict):
        return False
    if response.status_code == 409:
        return error.get("code") == "CONFLICT"
    message = str(error.get("message") or "").lower()
    return any(text in message for text in SLOT_TAKEN_MESSAGES)


def _parse_slots(answer: dict[str, Any]) -> list[Interval]:
    days = answer.get("data")
    if answer.get("status") != "success" or not isinstance(days, dict):
        raise CalendarUnavailable("bad_response", f"{PROVIDER} slots answer has no data by day")
    out: list[Interval] = []
    try:
        for slots in days.values():
            for slot in slots:
                start = parse_instant(slot["start"])
                end = parse_instant(slot["end"])  # format=range
                if start < end:
                    out.append((start, end))
    except (KeyError, TypeError, ValueError):
        raise CalendarUnavailable(
            "bad_response", f"{PROVIDER} slots answer has an unreadable slot"
        ) from None
    return sorted(set(out))


@overload
def _parse_booking(answer: dict[str, Any]) -> RemoteBooking: ...
@overload
def _parse_booking(answer: dict[str, Any], *, strict: Literal[False]) -> RemoteBooking | None: ...
def _parse_booking(answer: dict[str, Any], *, strict: bool = True) -> RemoteBooking | None:
    """The booking in a create answer; with strict=False, None for one not live or unreadable."""
    data = answer.get("data")
    if isinstance(data, list) and len(data) == 1:  # a recurring type answers a list
        data = data[0]
    try:
        if not isinstance(data, dict):
            raise TypeError("no booking")
        uid = data["uid"]
        status = data["status"]
        if not isinstance(uid, str) or not uid or status not in BOOKING_STATUSES:
            raise ValueError("no uid or an unexpected status")
        return RemoteBooking(
            uid=uid,
            start=parse_instant(data["start"]),
            end=parse_instant(data["end"]),
            status=status,
        )
    except (KeyError, TypeError, ValueError):
        if not strict:
            return None
        raise CalendarUnavailable(
            "bad_response", f"{PROVIDER} confirmed the booking in a shape we cannot read"
        ) from None
