"""CalcomCalendar against a fake Cal.com API v2 on 127.0.0.1: slots, bookings, cancels, failures."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.calendar.calcom import CalcomCalendar
from app.calendar.errors import CalendarUnavailable, SlotTaken
from app.calendar.ports import Attendee, BookingCalendar
from tests.doubles.calcom import EventType, FakeCalcom
from tests.doubles.server import free_port

NEW_YORK = ZoneInfo("America/New_York")
TIMEOUT = 1.0
HAIRCUT = 123
JANE = Attendee(name="Jane Doe", phone="+12125550123", time_zone="America/New_York")


@pytest.fixture
async def cal() -> AsyncIterator[FakeCalcom]:
    async with FakeCalcom() as fake:
        fake.add_event_type(EventType(HAIRCUT, length_minutes=30, zone="America/New_York"))
        yield fake


@pytest.fixture
async def calendar(cal: FakeCalcom) -> AsyncIterator[CalcomCalendar]:
    async with httpx.AsyncClient() as http:
        adapter = CalcomCalendar(http, api_key=cal.api_key, api_base=cal.base_url, timeout=TIMEOUT)
        seam: BookingCalendar = adapter  # mypy: it implements the seam
        yield adapter
        assert seam is adapter
        await adapter.aclose()


def day(y: int, mo: int, d: int) -> tuple[datetime, datetime]:
    """A local day in New York as UTC instants [00:00, next 00:00)."""
    start = datetime(y, mo, d, tzinfo=NEW_YORK)
    end = datetime.combine(start.date() + timedelta(days=1), start.time(), NEW_YORK)
    return start.astimezone(UTC), end.astimezone(UTC)


async def test_slots_are_read_as_utc_intervals(cal: FakeCalcom, calendar: CalcomCalendar) -> None:
    slots = await calendar.slots(HAIRCUT, *day(2027, 1, 12))
    assert len(slots) == 16  # 09:00-17:00 in 30 minutes
    assert slots[0] == (
        datetime(2027, 1, 12, 14, tzinfo=UTC),
        datetime(2027, 1, 12, 14, 30, tzinfo=UTC),
    )
    assert all(start.tzinfo is UTC and end - start == timedelta(minutes=30) for start, end in slots)
    asked = cal.requests[-1]
    assert asked.headers["cal-api-version"] == "2024-09-04"
    assert asked.query == {
        "eventTypeId": "123",
        "start": "2027-01-12T05:00:00Z",
        "end": "2027-01-13T05:00:00Z",
        "timeZone": "UTC",
        "format": "range",
    }
    assert cal.problems == []


async def test_a_booking_carries_attendee_utc_start_metadata_and_notes(
    cal: FakeCalcom, calendar: CalcomCalendar
) -> None:
    start = datetime(2027, 1, 12, 10, tzinfo=NEW_YORK)
    booked = await calendar.book(
        HAIRCUT, start, JANE, {"callSid": "CA42", "source": "phone"}, "Cut and colour"
    )
    assert booked.status == "accepted"
    assert (booked.start, booked.end) == (
        datetime(2027, 1, 12, 15, tzinfo=UTC),
        datetime(2027, 1, 12, 15, 30, tzinfo=UTC),
    )
    sent = cal.requests[-1]
    assert sent.headers["cal-api-version"] == "2026-02-25"
    assert sent.headers["authorization"] == f"Bearer {cal.api_key}"
    assert sent.body == {
        "start": "2027-01-12T15:00:00Z",
        "eventTypeId": HAIRCUT,
        "attendee": {
            "name": "Jane Doe",
            "timeZone": "America/New_York",
            "phoneNumber": "+12125550123",
        },
        "metadata": {"callSid": "CA42", "source": "phone"},
        "bookingFieldsResponses": {"notes": "Cut and colour"},
    }
    assert cal.problems == []  # no allowConflicts / allowBookingOutOfBounds
    # The slot is gone from what is offered.
    slots = await calendar.slots(HAIRCUT, *day(2027, 1, 12))
    assert (booked.start, booked.end) not in slots and len(slots) == 15


async def test_email_is_sent_only_when_known(cal: FakeCalcom, calendar: CalcomCalendar) -> None:
    start = datetime(2027, 1, 12, 10, tzinfo=NEW_YORK)
    with_email = Attendee("Jane Doe", None, "America/New_York", email="jane@example.com")
    await calendar.book(HAIRCUT, start, with_email, {}, None)
    assert cal.requests[-1].body["attendee"] == {
        "name": "Jane Doe",
        "timeZone": "America/New_York",
        "email": "jane@example.com",
    }
    assert "bookingFieldsResponses" not in cal.requests[-1].body


async def test_a_taken_slot_raises_slot_taken(cal: FakeCalcom, calendar: CalcomCalendar) -> None:
    start = datetime(2027, 1, 12, 10, tzinfo=NEW_YORK)
    await calendar.book(HAIRCUT, start, JANE, {}, None)
    with pytest.raises(SlotTaken, match="already has booking"):
        await calendar.book(HAIRCUT, start, JANE, {}, None)  # 400
    cal.conflict_next = True
    with pytest.raises(SlotTaken):
        await calendar.book(HAIRCUT, start + timedelta(hours=1), JANE, {}, None)  # 409 CONFLICT
    assert [r.status_code for r in cal.requests] == [201, 400, 409]


async def test_a_retry_after_a_lost_answer_finds_its_own_booking(
    cal: FakeCalcom, calendar: CalcomCalendar
) -> None:
    start = datetime(2027, 1, 12, 10, tzinfo=NEW_YORK)
    ours = {"callSid": "CA42", "appointment": "apt_1"}
    cal.lose_next_answer = True
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.book(HAIRCUT, start, JANE, ours, None)
    assert caught.value.kind == "slow"
    [made] = cal.active()
    again = await calendar.book(HAIRCUT, start, JANE, ours, None)  # 400 taken, then found
    assert (again.uid, again.start, again.status) == (made.uid, made.start, "accepted")
    assert [r.method for r in cal.requests] == ["POST", "POST", "GET"]
    assert cal.requests[-1].query == {
        "eventTypeId": "123",
        "afterStart": "2027-01-12T14:59:00Z",
        "beforeEnd": "2027-01-13T15:00:00Z",
    }
    with pytest.raises(SlotTaken):  # another call's booking at that time is not ours
        await calendar.book(HAIRCUT, start, JANE, {"callSid": "CA43", "appointment": "apt_2"}, None)
    assert len(cal.active()) == 1


async def test_other_refusals_are_rejected_not_taken(
    cal: FakeCalcom, calendar: CalcomCalendar
) -> None:
    cal.email_required = True
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.book(HAIRCUT, datetime(2027, 1, 12, 10, tzinfo=NEW_YORK), JANE, {}, None)
    assert (caught.value.kind, caught.value.status) == ("rejected", 400)
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.book(999, datetime(2027, 1, 12, 10, tzinfo=NEW_YORK), JANE, {}, None)
    assert (caught.value.kind, caught.value.status) == ("rejected", 404)
    assert "Event type with id 999 not found" in caught.value.message


async def test_cancel_twice_is_fine(cal: FakeCalcom, calendar: CalcomCalendar) -> None:
    booked = await calendar.book(
        HAIRCUT, datetime(2027, 1, 12, 10, tzinfo=NEW_YORK), JANE, {}, None
    )
    await calendar.cancel(booked.uid, "Caller cancelled by phone")
    await calendar.cancel(booked.uid, "Caller cancelled by phone")  # 400 already been cancelled
    assert [r.status_code for r in cal.requests[1:]] == [200, 400]
    assert cal.bookings[booked.uid].status == "cancelled"
    assert cal.bookings[booked.uid].cancellation_reason == "Caller cancelled by phone"
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.cancel("nosuchuid", "x")
    assert caught.value.kind == "rejected"


async def test_a_wrong_api_key_is_revoked(cal: FakeCalcom, calendar: CalcomCalendar) -> None:
    cal.revoke()
    for call in (
        calendar.slots(HAIRCUT, *day(2027, 1, 12)),
        calendar.book(HAIRCUT, datetime(2027, 1, 12, 10, tzinfo=NEW_YORK), JANE, {}, None),
        calendar.cancel("someuid", "x"),
    ):
        with pytest.raises(CalendarUnavailable) as caught:
            await call
        assert (caught.value.kind, caught.value.status) == ("revoked", 401)
        assert "Invalid API Key" in caught.value.message
        assert cal.api_key not in str(caught.value)


@pytest.mark.parametrize(
    ("mode", "kind", "status"),
    [("rate_limited", "rate_limited", 429), ("server_error", "server_error", 500)],
)
async def test_failures_have_their_kind(
    cal: FakeCalcom, calendar: CalcomCalendar, mode: str, kind: str, status: int
) -> None:
    cal.mode = mode  # type: ignore[assignment]
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.slots(HAIRCUT, *day(2027, 1, 12))
    assert (caught.value.kind, caught.value.status) == (kind, status)
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.book(HAIRCUT, datetime(2027, 1, 12, 10, tzinfo=NEW_YORK), JANE, {}, None)
    assert (caught.value.kind, caught.value.status) == (kind, status)


async def test_a_stalled_calcom_is_slow_within_the_timeout(
    cal: FakeCalcom, calendar: CalcomCalendar
) -> None:
    cal.mode = "stall"
    began = time.perf_counter()
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.slots(HAIRCUT, *day(2027, 1, 12))
    assert caught.value.kind == "slow"
    assert TIMEOUT * 0.9 <= time.perf_counter() - began < TIMEOUT + 0.5


async def test_unreadable_answer_is_bad_response(cal: FakeCalcom, calendar: CalcomCalendar) -> None:
    cal.mode = "garbage"
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.book(HAIRCUT, datetime(2027, 1, 12, 10, tzinfo=NEW_YORK), JANE, {}, None)
    assert (caught.value.kind, caught.value.status) == ("bad_response", 200)


async def test_unreachable_calcom_is_unreachable() -> None:
    async with httpx.AsyncClient() as http:
        adapter = CalcomCalendar(
            http, api_key="cal_x", api_base=f"http://127.0.0.1:{free_port()}", timeout=TIMEOUT
        )
        with pytest.raises(CalendarUnavailable) as caught:
            await adapter.slots(HAIRCUT, *day(2027, 1, 12))
    assert caught.value.kind == "unreachable"


async def test_spring_forward_day_slots_are_at_the_right_instants(calendar: CalcomCalendar) -> None:
    before = await calendar.slots(HAIRCUT, *day(2027, 3, 13))
    on = await calendar.slots(HAIRCUT, *day(2027, 3, 14))
    assert before[0][0] == datetime(2027, 3, 13, 14, tzinfo=UTC)  # 09:00 EST (-5)
    assert on[0][0] == datetime(2027, 3, 14, 13, tzinfo=UTC)  # 09:00 EDT (-4)
    assert on[-1][1] == datetime(2027, 3, 14, 21, tzinfo=UTC)  # 17:00 EDT
    assert len(on) == 16


async def test_fall_back_day_slots_and_a_booking_across_the_night(
    cal: FakeCalcom, calendar: CalcomCalendar
) -> None:
    cal.add_event_type(
        EventType(7, length_minutes=60, zone="America/New_York", opens=datetime.min.time())
    )
    slots = await calendar.slots(7, *day(2027, 11, 7))
    starts = [start for start, _ in slots]
    assert datetime(2027, 11, 7, 5, 0, tzinfo=UTC) in starts  # 01:00 EDT
    nine = datetime(2027, 11, 7, 14, tzinfo=UTC)  # 09:00 EST (-5)
    assert nine in starts
    booked = await calendar.book(7, nine.astimezone(NEW_YORK), JANE, {}, None)
    assert (booked.start, booked.end) == (nine, nine + timedelta(hours=1))
    assert cal.requests[-1].body["start"] == "2027-11-07T14:00:00Z"
