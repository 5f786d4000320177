"""The CalDAV adapter against a real Radicale: busy time, events written and deleted, failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from app.calendar.caldav_calendar import CalDavCalendar, event_intervals, freebusy_intervals
from app.calendar.errors import CalendarUnavailable
from app.calendar.event import BookingEvent
from tests.calendar.radicale import PASSWORD, USER, Radicale, busy_event
from tests.calendar.stall import closed_port_url, stalled_server

NY = ZoneInfo("America/New_York")


def _calendar(url: str, password: str = PASSWORD, timeout: float = 2.0) -> CalDavCalendar:
    return CalDavCalendar(url, USER, password, NY, timeout)


def _booking(appointment_id: str, start: datetime, minutes: int = 60) -> BookingEvent:
    return BookingEvent(
        appointment_id=appointment_id,
        service="Cleaning",
        customer_name="Ada Lovelace",
        customer_phone="+16175550100",
        start=start,
        end=start + timedelta(minutes=minutes),
        tz=NY,
        console_link="https://recept.example/staff/calls/CA123",
    )


async def test_a_busy_block_typed_into_the_calendar_is_read(
    radicale: Radicale, calendar_url: str
) -> None:
    start = datetime(2027, 1, 12, 10, 0, tzinfo=NY)
    radicale.add(calendar_url, busy_event("dentist-away", start, start + timedelta(hours=2)))
    cal = _calendar(calendar_url)
    day = (datetime(2027, 1, 12, tzinfo=NY), datetime(2027, 1, 13, tzinfo=NY))
    assert await cal.busy(*day) == [
        (start.astimezone(UTC), (start + timedelta(hours=2)).astimezone(UTC))
    ]
    other = (datetime(2027, 1, 13, tzinfo=NY), datetime(2027, 1, 14, tzinfo=NY))
    assert await cal.busy(*other) == []
    await cal.aclose()


async def test_an_all_day_event_is_busy_for_the_whole_local_day(
    radicale: Radicale, calendar_url: str
) -> None:
    radicale.add(
        calendar_url,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//app//EN\r\nBEGIN:VEVENT\r\nUID:holiday\r\n"
        "DTSTAMP:20261201T000000Z\r\nDTSTART;VALUE=DATE:20270115\r\nDTEND;VALUE=DATE:20270116\r\n"
        "SUMMARY:Closed for a funeral\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    cal = _calendar(calendar_url)
    busy = await cal.busy(datetime(2027, 1, 14, tzinfo=NY), datetime(2027, 1, 17, tzinfo=NY))
    # New York's midnight, not UTC's: 05:00Z to 05:00Z.
    assert busy == [(datetime(2027, 1, 15, 5, tzinfo=UTC), datetime(2027, 1, 16, 5, tzinfo=UTC))]
    await cal.aclose()


@pytest.mark.parametrize(
    ("day", "local_start"),
    [
        (date(2027, 3, 14), datetime(2027, 3, 14, 10, 0, tzinfo=NY)),  # spring forward
        (date(2027, 11, 7), datetime(2027, 11, 7, 10, 0, tzinfo=NY)),  # fall back
    ],
)
async def test_an_event_on_a_dst_day_is_written_at_the_right_instant_with_its_zone(
    radicale: Radicale, calendar_url: str, day: date, local_start: datetime
) -> None:
    cal = _calendar(calendar_url)
    event = _booking("apt_00aa11bb22cc33dd", local_start)
    assert await cal.write_event(event) == "rcp00aa11bb22cc33dd"
    (stored,) = radicale.events(calendar_url)
    assert stored["UID"] == "rcp00aa11bb22cc33dd"
    assert stored["DTSTART"].params["TZID"] == "America/New_York"
    assert stored.decoded("DTSTART").astimezone(UTC) == local_start.astimezone(UTC)
    assert stored.decoded("DTEND") - stored.decoded("DTSTART") == timedelta(hours=1)
    assert str(stored["SUMMARY"]) == "Cleaning – Ada Lovelace"
    assert "+16175550100" in str(stored["DESCRIPTION"])
    assert "https://recept.example/staff/calls/CA123" in str(stored["DESCRIPTION"])
    # The event itself is busy time for any other app reading the calendar.
    busy = await cal.busy(
        datetime.combine(day, datetime.min.time(), NY),
        datetime.combine(day + timedelta(days=1), datetime.min.time(), NY),
    )
    assert busy == [
        (local_start.astimezone(UTC), (local_start + timedelta(hours=1)).astimezone(UTC))
    ]
    await cal.aclose()


async def test_writing_the_same_booking_twice_leaves_one_event_and_delete_is_idempotent(
    radicale: Radicale, calendar_url: str
) -> None:
    cal = _calendar(calendar_url)
    event = _booking("apt_0123456789abcdef", datetime(2027, 2, 2, 9, 0, tzinfo=NY))
    await cal.write_event(event)
    await cal.write_event(event)
    assert len(radicale.events(calendar_url)) == 1
    await cal.delete_event(event.event_id)
    assert radicale.events(calendar_url) == []
    await cal.delete_event(event.event_id)  # already gone: not an error
    await cal.aclose()


async def test_a_revoked_app_password_is_revoked(calendar_url: str) -> None:
    cal = _calendar(calendar_url, password="the-old-one")
    with pytest.raises(CalendarUnavailable) as caught:
        await cal.busy(datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC))
    assert caught.value.kind == "revoked"
    assert "the-old-one" not in str(caught.value)
    await cal.aclose()


async def test_a_server_that_is_down_is_unreachable() -> None:
    cal = CalDavCalendar(closed_port_url() + "owner/cal/", USER, PASSWORD, NY, 2.0)
    with pytest.raises(CalendarUnavailable) as caught:
        await cal.busy(datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC))
    assert caught.value.kind == "unreachable"
    await cal.aclose()


async def test_a_server_that_stalls_is_slow_within_the_timeout() -> None:
    with stalled_server() as url:
        cal = CalDavCalendar(url + "owner/cal/", USER, PASSWORD, NY, 0.5)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(CalendarUnavailable) as caught:
            await cal.busy(datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC))
        assert caught.value.kind == "slow"
        assert loop.time() - began < 1.5


def test_rfc_4791_free_busy_periods_are_read_in_both_forms() -> None:
    answer = icalendar.Calendar.from_ical(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example Corp.//CalDAV Server//EN\r\n"
        "BEGIN:VFREEBUSY\r\nDTSTAMP:20261208T065959Z\r\nDTSTART:20261208T070000Z\r\n"
        "DTEND:20261208T170000Z\r\nFREEBUSY:20261208T090000Z/PT1H\r\n"
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20261208T130000Z/20261208T133000Z,"
        "20261208T150000Z/20261208T153000Z\r\nFREEBUSY;FBTYPE=FREE:20261208T160000Z/PT1H\r\n"
        "END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    )
    assert freebusy_intervals(answer, NY) == [
        (datetime(2026, 12, 8, 9, tzinfo=UTC), datetime(2026, 12, 8, 10, tzinfo=UTC)),
        (datetime(2026, 12, 8, 13, tzinfo=UTC), datetime(2026, 12, 8, 13, 30, tzinfo=UTC)),
        (datetime(2026, 12, 8, 15, tzinfo=UTC), datetime(2026, 12, 8, 15, 30, tzinfo=UTC)),
    ]


def test_events_read_by_query_skip_transparent_and_cancelled_ones() -> None:
    def ics(uid: str, extra: str) -> icalendar.Calendar:
        return icalendar.Calendar.from_ical(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20261208T090000Z\r\n"
            f"DTEND:20261208T100000Z\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
        )

    found = event_intervals(
        [ics("a", ""), ics("b", "TRANSP:TRANSPARENT\r\n"), ics("c", "STATUS:CANCELLED\r\n")], NY
    )
    assert found == [(datetime(2026, 12, 8, 9, tzinfo=UTC), datetime(2026, 12, 8, 10, tzinfo=UTC))]


def test_radicales_per_occurrence_answer_and_an_empty_rfc_answer_are_read() -> None:
    def vcal(body: str) -> icalendar.Calendar:
        return icalendar.Calendar.from_ical(
            f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\n{body}END:VCALENDAR\r\n"
        )

    empty = vcal(
        "BEGIN:VFREEBUSY\r\nDTSTAMP:20261208T065959Z\r\nDTSTART:20261208T070000Z\r\n"
        "DTEND:20261208T170000Z\r\nEND:VFREEBUSY\r\n"
    )
    assert freebusy_intervals(empty, NY) == []
    occurrences = vcal(
        "BEGIN:VFREEBUSY\r\nDTSTAMP:20261208T065959Z\r\nDTSTART:20261208T090000Z\r\n"
        "DTEND:20261208T100000Z\r\nFBTYPE:BUSY\r\nEND:VFREEBUSY\r\n"
        "BEGIN:VFREEBUSY\r\nDTSTAMP:20261208T065959Z\r\nDTSTART:20261208T093000Z\r\n"
        "DTEND:20261208T110000Z\r\nFBTYPE:BUSY-TENTATIVE\r\nEND:VFREEBUSY\r\n"
    )
    assert freebusy_intervals(occurrences, NY) == [
        (datetime(2026, 12, 8, 9, tzinfo=UTC), datetime(2026, 12, 8, 11, tzinfo=UTC))
    ]
