"""A VTIMEZONE for the business's zone, written with yearly rules, as calendar apps write them.

icalendar's own VTIMEZONE lists every change as a date (RDATE lists). That is valid RFC 5545,
but vobject, which Radicale and other servers parse with, reads such a zone as one fixed
offset and keeps the first definition it sees of a TZID for every later event: a summer event
lands an hour late in free/busy, for our events and the owner's. Apple, Google and Outlook
write RRULEs (`FREQ=YEARLY;BYMONTH=3;BYDAY=2SU`); so do we, derived from the zone's changes
in the years around the event. A zone whose changes no yearly rule describes keeps
icalendar's own form.
"""

from __future__ import annotations

import calendar as month_lengths
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_STEP = timedelta(minutes=15)  # every zone changes on a quarter hour


@dataclass(frozen=True)
class _Change:
    wall: datetime  # the local time the change happens at, on the old offset (naive)
    before: timedelta
    after: timedelta
    name: str

    @property
    def rule(self) -> tuple[int, str]:
        """(month, BYDAY) of the change: '2SU', or '-1SU' for the last one of the month."""
        day = self.wall.day
        last = day + 7 > month_lengths.monthrange(self.wall.year, self.wall.month)[1]
        nth = -1 if last else (day - 1) // 7 + 1
        return self.wall.month, f"{nth}{_DAYS[self.wall.weekday()]}"


def _changes(tz: ZoneInfo, year: int) -> list[_Change]:
    moment = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    found: list[_Change] = []
    offset = moment.astimezone(tz).utcoffset()
    while moment < end:
        nxt = moment + _STEP
        new = nxt.astimezone(tz).utcoffset()
        if new != offset:
            assert offset is not None and new is not None
            wall = (nxt + offset).replace(tzinfo=None)
            found.append(_Change(wall, offset, new, nxt.astimezone(tz).tzname() or ""))
            offset = new
        moment = nxt
    return found


def _rule_date(year: int, month: int, byday: str) -> date:
    weekday = _DAYS.index(byday[-2:])
    nth = int(byday[:-2])
    days = [
        d
        for d in range(1, month_lengths.monthrange(year, month)[1] + 1)
        if date(year, month, d).weekday() == weekday
    ]
    return date(year, month, days[nth - 1] if nth > 0 else days[nth])


@functools.lru_cache(maxsize=64)
def vtimezone(key: str, year: int) -> icalendar.Timezone:
    """The zone `key` for events in `year` (and the years either side)."""
    tz = ZoneInfo(key)
    first = _changes(tz, year - 1)
    steady = [(c.rule, c.before, c.after) for c in first]
    regular = bool(first) and all(
        [(c.rule, c.before, c.after) for c in _changes(tz, y)] == steady
        and all(c.wall.date() == _rule_date(y, *c.rule) for c in _changes(tz, y))
        for y in (year - 1, year, year + 1)
    )
    zone = icalendar.Timezone()
    zone.add("tzid", key)
    if not first:  # no changes: one observance
        offset = datetime(year, 1, 1, tzinfo=tz).utcoffset()
        standard = icalendar.TimezoneStandard()
        standard.add("dtstart", datetime(1970, 1, 1))
        standard.add("tzoffsetfrom", offset)
        standard.add("tzoffsetto", offset)
        standard.add("tzname", datetime(year, 1, 1, tzinfo=tz).tzname() or key)
        zone.add_component(standard)
        return zone
    if not regular:
        return icalendar.Timezone.from_tzid(
            key, first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1)
        )
    for change in first:
        observance = (
            icalendar.TimezoneDaylight()
            if change.after > change.before
            else icalendar.TimezoneStandard()
        )
        month, byday = change.rule
        observance.add("dtstart", change.wall)
        observance.add("rrule", {"freq": "yearly", "bymonth": month, "byday": byday})
        observance.add("tzoffsetfrom", change.before)
        observance.add("tzoffsetto", change.after)
        observance.add("tzname", change.name)
        zone.add_component(observance)
    return zone
