"""The fake Cal.com answers in the shapes of Cal.com's documented examples, which the adapter reads.

Examples: cal.com/docs/api-reference/v2 (slots, create a booking) and the v2 source's error
filters, as quoted in protocols/calendars.md section 2 (values made up there too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from typing import Any

import httpx
import pytest

from app.calendar.calcom import _parse_booking, _parse_slots
from tests.doubles.calcom import EventType, FakeCalcom
from tests.test_doubles.shapes import shape

SLOTS_EXAMPLE = {
    "status": "success",
    "data": {
        "2026-12-08": [
            {"start": "2026-12-08T09:00:00.000+01:00", "end": "2026-12-08T09:30:00.000+01:00"}
        ]
    },
}
BOOKING_EXAMPLE: dict[str, Any] = {
    "status": "success",
    "data": {
        "id": 4711,
        "uid": "4Kq8mV2xTzH3",
        "title": "Haircut between Anna and Jane Doe",
        "description": "",
        "hosts": [
            {
                "id": 7,
                "name": "Anna",
                "email": "anna@salon.example",
                "displayEmail": "anna@salon.example",
                "username": "anna",
                "timeZone": "Europe/Berlin",
            }
        ],
        "status": "accepted",
        "start": "2026-12-08T13:00:00.000Z",
        "end": "2026-12-08T13:30:00.000Z",
        "duration": 30,
        "eventTypeId": 123,
        "eventType": {"id": 123, "slug": "haircut"},
        "location": "…",
        "absentHost": False,
        "createdAt": "…",
        "updatedAt": None,
        "metadata": {"source": "phone", "callSid": "CA42"},
        "icsUid": "…",
        "guests": [],
        "bookingFieldsResponses": {"notes": "Cut and colour"},
        "attendees": [
            {
                "name": "Jane Doe",
                "email": "jane@example.com",
                "displayEmail": "jane@example.com",
                "timeZone": "Europe/Berlin",
                "language": "de",
                "absent": False,
                "phoneNumber": "+4915112345678",
            }
        ],
    },
}
TAKEN = "User either already has booking at this time or is not available"
TAKEN_EXAMPLE = {
    "status": "error",
    "path": "/v2/bookings",
    "error": {
        "code": "BadRequestException",
        "message": TAKEN,
        "details": {"message": TAKEN, "error": "Bad Request", "statusCode": 400},
    },
}


@pytest.fixture
async def cal() -> AsyncIterator[FakeCalcom]:
    async with FakeCalcom() as fake:
        fake.add_event_type(EventType(123, 30, "Europe/Berlin", time(9), time(9, 30)))
        yield fake


async def test_slots_answer_as_documented(cal: FakeCalcom) -> None:
    async with httpx.AsyncClient(base_url=cal.base_url) as http:
        answer = await http.get(
            "/v2/slots",
            params={
                "eventTypeId": "123",
                "start": "2026-12-08T00:00:00Z",
                "end": "2026-12-08T23:59:59Z",
                "timeZone": "Europe/Berlin",
                "format": "range",
            },
            headers={"cal-api-version": "2024-09-04"},
        )
        assert (answer.status_code, answer.json()) == (200, SLOTS_EXAMPLE)
        unversioned = await http.get("/v2/slots", params={"eventTypeId": "123"})
        assert unversioned.status_code == 400
    assert cal.problems == ["GET /v2/slots with cal-api-version None"]


async def test_bookings_and_errors_answer_as_documented(cal: FakeCalcom) -> None:
    body = {
        "start": "2026-12-08T08:00:00Z",
        "eventTypeId": 123,
        "attendee": {
            "name": "Jane Doe",
            "email": "jane@example.com",
            "timeZone": "Europe/Berlin",
            "phoneNumber": "+4915112345678",
            "language": "de",
        },
        "bookingFieldsResponses": {"notes": "Cut and colour"},
        "metadata": {"source": "phone", "callSid": "CA42"},
    }
    headers = {"cal-api-version": "2026-02-25", "Authorization": f"Bearer {cal.api_key}"}
    async with httpx.AsyncClient(base_url=cal.base_url, headers=headers) as http:
        booked = await http.post("/v2/bookings", json=body)
        taken = await http.post("/v2/bookings", json=body)
    assert booked.status_code == 201
    assert shape(booked.json()) == shape(BOOKING_EXAMPLE)
    assert taken.status_code == 400
    error = taken.json()
    assert datetime.fromisoformat(error.pop("timestamp")).tzinfo is not None
    assert error == TAKEN_EXAMPLE


def test_the_adapter_reads_the_documented_examples() -> None:
    assert _parse_slots(SLOTS_EXAMPLE) == [
        (datetime(2026, 12, 8, 8, tzinfo=UTC), datetime(2026, 12, 8, 8, 30, tzinfo=UTC))
    ]
    booking = _parse_booking(BOOKING_EXAMPLE)
    assert (booking.uid, booking.status) == ("4Kq8mV2xTzH3", "accepted")
    assert booking.start == datetime(2026, 12, 8, 13, tzinfo=UTC)
    assert booking.end == datetime(2026, 12, 8, 13, 30, tzinfo=UTC)
