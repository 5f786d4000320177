"""The VTIMEZONE we write is read right by vobject (Radicale's parser) and by icalendar, on
ordinary days and the days the clocks change, in zones north and south and without DST."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
import pytest
import vobject

from app.calendar.vtimezone import vtimezone

ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # changes by 30 minutes
    "Asia/Tokyo",  # no DST at all
    "America/Sao_Paulo",  # dropped DST in 2019
]
MOMENTS = [
    datetime(2027, 1, 15, 10, 0),
    datetime(2027, 3, 14, 10, 0),
    datetime(2027, 3, 28, 10, 0),
    datetime(2027, 4, 4, 10, 0),
    datetime(2027, 7, 14, 10, 0),
    datetime(2027, 10, 3, 10, 0),
    datetime(2027, 10, 31, 10, 0),
    datetime(2027, 11, 7, 10, 0),
    datetime(2027, 12, 31, 23, 30),
]


@pytest.mark.parametrize("key", ZONES)
def test_every_moment_reads_back_at_its_instant(key: str) -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(key)
    for moment in MOMENTS:
        local = moment.replace(tzinfo=tz)
        cal = icalendar.Calendar()
        cal.add("prodid", "-//test//EN")
        cal.add("version", "2.0")
        cal.add_component(vtimezone(key, local.year))
        event = icalendar.Event()
        event.add("uid", "u1")
        event.add("dtstamp", datetime(2026, 12, 1, tzinfo=UTC))
        event.add("dtstart", local)
        cal.add_component(event)
        text = cal.to_ical().decode()
        assert f"DTSTART;TZID={key}:" in text
        by_vobject = vobject.readOne(text).vevent.dtstart.value
        assert by_vobject.astimezone(UTC) == local.astimezone(UTC), (key, moment)


def test_new_york_is_written_with_yearly_rules_like_calendar_apps() -> None:
    text = vtimezone("America/New_York", 2027).to_ical().decode()
    assert "RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3" in text
    assert "RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11" in text
    assert "RDATE" not in text
