"""What the receptionist writes into a calendar: one event per booking, with a stable id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]
"""A busy stretch of the calendar: aware UTC (start, end), start < end."""

EVENT_PREFIX = "rcp"


@dataclass(frozen=True)
class BookingEvent:
    """A booking as a calendar event, in the business's time zone.

    `event_id` is derived from the appointment id, so writing the same booking twice (a retry
    after a lost answer, two senders) lands on the same event: a Google event id (lowercase
    a-v and 0-9, 5-1024 characters) and a CalDAV UID / resource name at once.
    """

    appointment_id: str
    service: str
    customer_name: str
    customer_phone: str | None
    start: datetime
    end: datetime
    tz: ZoneInfo
    console_link: str | None = None
    notes: str | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a calendar event needs timezone-aware start and end")
        if self.end <= self.start:
            raise ValueError("a calendar event must end after it starts")

    @property
    def event_id(self) -> str:
        return event_id_for(self.appointment_id)

    @property
    def title(self) -> str:
        return f"{self.service} – {self.customer_name}"

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(self.tz)

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(self.tz)

    @property
    def description(self) -> str:
        lines = [f"{self.service} for {self.customer_name}, booked by phone by the receptionist."]
        if self.customer_phone:
            lines.append(f"Phone: {self.customer_phone}")
        if self.notes:
            lines.append(f"Notes: {self.notes}")
        if self.console_link:
            lines.append(f"The call: {self.console_link}")
        return "\n".join(lines)


def event_id_for(appointment_id: str) -> str:
    """'apt_0123abcd' -> 'rcp0123abcd': only characters every provider accepts in an id."""
    tail = appointment_id.split("_", 1)[-1]
    digits = "".join(c for c in tail.lower() if c in "0123456789abcdef")
    return f"{EVENT_PREFIX}{digits}"


def utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("expected a timezone-aware datetime")
    return value.astimezone(UTC)


def merge(intervals: list[Interval]) -> list[Interval]:
    """Sorted, overlapping or touching intervals joined."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def subtract(intervals: list[Interval], holes: list[Interval]) -> list[Interval]:
    """`intervals` minus every hole (both lists of aware datetimes)."""
    out: list[Interval] = []
    holes = merge(holes)
    for start, end in merge(intervals):
        cursor = start
        for h_start, h_end in holes:
            if h_end <= cursor or h_start >= end:
                continue
            if h_start > cursor:
                out.append((cursor, h_start))
            cursor = max(cursor, h_end)
        if cursor < end:
            out.append((cursor, end))
    return out
