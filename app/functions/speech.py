"""Small phrasing helpers shared by the tools: relative days, slot lists, phone endings."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from app.business.wording import spoken_date, spoken_time


def relative_when(at: datetime, today: date) -> str:
    """A local datetime as "today at 1 PM", "tomorrow at 8 AM" or "Monday, March 9 at 8 AM"."""
    day = at.date()
    if day == today:
        label = "today"
    elif day == today + timedelta(days=1):
        label = "tomorrow"
    else:
        label = spoken_date(day, today=today)
    return f"{label} at {spoken_time(at)}"


def phone_ending(number: str) -> str:
    """Phrase a number by its last four digits: "+15551234567" -> "the number ending 4567"."""
    digits = re.sub(r"\D", "", number)
    return f"the number ending {digits[-4:]}" if len(digits) >= 4 else "that number"


def clean_phone(value: str | None) -> str | None:
    """Keep a leading + and the digits; None if it is empty. Raises ValueError if implausible."""
    if value is None or not value.strip():
        return None
    digits = re.sub(r"\D", "", value)
    if not 7 <= len(digits) <= 15:
        raise ValueError("must be a phone number with 7 to 15 digits")
    return ("+" if value.strip().startswith("+") else "") + digits


def spread(items: list[datetime], limit: int) -> list[int]:
    """Indices of at most `limit` items spread over the list (first and last included)."""
    n = len(items)
    if n <= limit:
        return list(range(n))
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})
