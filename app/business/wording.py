"""Times, dates and opening hours phrased the way a receptionist says them ("9:30 AM")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def spoken_time(value: time | datetime) -> str:
    """8:00 -> "8 AM", 13:30 -> "1:30 PM", 12:00 -> "noon" (a datetime: its wall-clock time)."""
    hour, minute = value.hour, value.minute
    if (hour, minute) == (12, 0):
        return "noon"
    suffix = "AM" if hour < 12 else "PM"
    hour12 = hour % 12 or 12
    return f"{hour12} {suffix}" if minute == 0 else f"{hour12}:{minute:02d} {suffix}"


def spoken_date(day: date, *, today: date | None = None) -> str:
    """2026-03-09 -> "Monday, March 9" (the year is added when it is not `today`'s year)."""
    text = f"{DAY_NAMES[WEEKDAYS[day.weekday()]]}, {_MONTHS[day.month - 1]} {day.day}"
    if today is not None and day.year != today.year:
        text += f", {day.year}"
    return text


def spoken_when(at: datetime, *, today: date | None = None) -> str:
    """A local datetime as "Monday, March 9 at 9:30 AM"."""
    return f"{spoken_date(at.date(), today=today)} at {spoken_time(at)}"


def describe_ranges(ranges: Sequence[tuple[time | datetime, time | datetime]]) -> str:
    """[(8:00, 12:00), (13:00, 17:00)] -> "8 AM to 12 PM and 1 PM to 5 PM"; [] -> "closed"."""
    if not ranges:
        return "closed"
    return " and ".join(f"{spoken_time(a)} to {spoken_time(b)}" for a, b in ranges)


def describe_week(week: Mapping[str, Sequence[tuple[time, time]]]) -> list[str]:
    """One line per run of consecutive weekdays with the same hours: "Monday to Wednesday: ..."."""
    lines: list[str] = []
    run: list[str] = []
    for day in (*WEEKDAYS, None):
        if run and (day is None or list(week.get(day, ())) != list(week.get(run[0], ()))):
            first, last = DAY_NAMES[run[0]], DAY_NAMES[run[-1]]
            label = first if len(run) == 1 else f"{first} and {last}"
            if len(run) > 2:
                label = f"{first} to {last}"
            lines.append(f"{label}: {describe_ranges(list(week.get(run[0], ())))}")
            run = []
        if day is not None:
            run.append(day)
    return lines
