"""Opening hours, closures and free appointment slots: pure, timezone-correct, no I/O.

Wall-clock times ("08:00" on a local date) become instants with zoneinfo, and all arithmetic
and comparison is done in UTC. Python compares and adds two datetimes that share a tzinfo by
their wall clocks, ignoring the offset, which is wrong across a DST change: 01:30 + 1 hour on
the spring-forward day would land on 02:30, a time that does not exist. Stepping in UTC never
produces a nonexistent local time, and a local time that occurs twice (fall back) yields two
distinct instants, each with its own offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from app.business.profile import BusinessProfile, Closure, Service, WeeklyHours
from app.business.wording import DAY_NAMES, WEEKDAYS

__all__ = [
    "Booked",
    "Schedule",
    "candidate_slots",
    "free_slots",
    "is_open",
    "local_day_bounds",
    "next_opening",
    "opening_status",
    "periods",
    "transfer_available",
    "unbookable_reason",
    "upcoming_closures",
    "weekly_hours_json",
]

Booked = tuple[datetime, datetime, int]
"""An existing appointment: (start, end, unit). `unit` is the capacity index (0..capacity-1)
the database stores it under; see `free_slots` for why it matters."""

_SEARCH_DAYS = 400  # how far next_opening looks before it gives up (a year plus closures)


class Schedule(Protocol):
    """What hours logic needs: a BusinessProfile, or the hours a business API returned."""

    @property
    def tz(self) -> ZoneInfo: ...

    @property
    def weekly(self) -> WeeklyHours: ...

    @property
    def closures(self) -> Sequence[Closure]: ...


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0: an ambiguous wall time is its first occurrence; a nonexistent one (inside the
    # spring-forward gap) is read with the pre-change offset, i.e. the gap's length later
    # (PEP 495), so a shift that "opens at 02:30" opens at 03:30 that day.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _closure_on(closures: Sequence[Closure], day: date) -> Closure | None:
    return next((c for c in closures if c.covers(day)), None)


def _periods(
    tz: ZoneInfo, weekly: WeeklyHours, closures: Sequence[Closure], day: date
) -> list[tuple[datetime, datetime]]:
    if _closure_on(closures, day) is not None:
        return []
    return [(_instant(day, r.open, tz), _instant(day, r.close, tz)) for r in weekly.on(day)]


def periods(schedule: Schedule, day: date) -> list[tuple[datetime, datetime]]:
    """The local `day`'s opening periods as UTC instants; [] on a closed day or a closure."""
    return _periods(schedule.tz, schedule.weekly, schedule.closures, day)


def local_day_bounds(tz: ZoneInfo, day: date) -> tuple[datetime, datetime]:
    """The UTC instants the local `day` starts and ends (23 or 25 hours apart on DST days)."""
    return _instant(day, time(0), tz), _instant(day + timedelta(days=1), time(0), tz)


def _open_in(tz: ZoneInfo, weekly: WeeklyHours, closures: Sequence[Closure], at: datetime) -> bool:
    _require_aware(at, "at")
    day = at.astimezone(tz).date()
    at_utc = at.astimezone(UTC)
    return any(a <= at_utc < b for a, b in _periods(tz, weekly, closures, day))


def is_open(schedule: Schedule, at: datetime) -> bool:
    """Open at the instant `at` (opening time inclusive, closing time exclusive)."""
    return _open_in(schedule.tz, schedule.weekly, schedule.closures, at)


def transfer_available(profile: BusinessProfile, at: datetime) -> bool:
    """A person can take a transferred call at `at`: within transfer hours and not a closure."""
    return _open_in(profile.tz, profile.transfer_hours, profile.closures, at)


def next_opening(schedule: Schedule, after: datetime) -> datetime | None:
    """The first opening instant strictly after `after`, in local time; None if never open."""
    _require_aware(after, "after")
    after_utc = after.astimezone(UTC)
    day = after.astimezone(schedule.tz).date()
    for offset in range(_SEARCH_DAYS):
        for start, _ in periods(schedule, day + timedelta(days=offset)):
            if start > after_utc:
                return start.astimezone(schedule.tz)
    return None


def upcoming_closures(schedule: Schedule, today: date, days: int = 30) -> list[Closure]:
    """Closures that are still running or start within `days` of the local date `today`."""
    horizon = today + timedelta(days=days)
    return [c for c in schedule.closures if c.last >= today and c.date <= horizon]


def opening_status(schedule: Schedule, now: datetime) -> dict[str, Any]:
    """Open now? Until when, or when next? Today's hours and, on a closure, its reason."""
    _require_aware(now, "now")
    tz = schedule.tz
    local = now.astimezone(tz)
    today = local.date()
    now_utc = now.astimezone(UTC)
    closure = _closure_on(schedule.closures, today)
    todays = [] if closure else list(schedule.weekly.on(today))
    spans = periods(schedule, today)
    closes_at: datetime | None = None
    for start, end in spans:
        if start <= now_utc < end:
            closes_at = end
    if closes_at is not None:
        # Back-to-back periods (12:00-13:00, 13:00-17:00) are one stretch of being open.
        for start, end in spans:
            if start == closes_at:
                closes_at = end
    opening = None if closes_at is not None else next_opening(schedule, now)
    return {
        "timezone": tz.key,
        "now": local.isoformat(),
        "open_now": closes_at is not None,
        "closes_at": closes_at.astimezone(tz).isoformat() if closes_at else None,
        "next_opening": opening.isoformat() if opening else None,
        "today": {
            "date": today.isoformat(),
            "weekday": DAY_NAMES[WEEKDAYS[today.weekday()]],
            "hours": [r.as_json() for r in todays],
        },
        "closure_reason": closure.reason if closure else None,
    }


def weekly_hours_json(schedule: Schedule) -> dict[str, list[dict[str, str]]]:
    """{"mon": [{"open": "08:00", "close": "17:00"}], ..., "sun": []}."""
    return schedule.weekly.as_json()


def candidate_slots(
    profile: BusinessProfile, service: Service, day: date, now: datetime
) -> list[tuple[datetime, datetime]]:
    """Every start the rules allow on the local `day`, ignoring existing bookings.

    Starts are every `slot_step_minutes` from each period's opening; an appointment ends by
    that period's closing; none starts before `now` plus the minimum notice or after
    `max_days_ahead`. Returned as local (start, end) with the right offsets.
    """
    _require_aware(now, "now")
    tz = profile.tz
    rules = profile.booking
    today = now.astimezone(tz).date()
    if day < today or (day - today).days > rules.max_days_ahead:
        return []
    earliest = now.astimezone(UTC) + timedelta(minutes=rules.min_notice_minutes)
    length = timedelta(minutes=service.duration_minutes)
    step = timedelta(minutes=rules.slot_step_minutes)
    out: list[tuple[datetime, datetime]] = []
    for opens, closes in periods(profile, day):
        start = opens
        while start + length <= closes:
            if start >= earliest:
                out.append((start.astimezone(tz), (start + length).astimezone(tz)))
            start += step
    return out


def free_slots(
    profile: BusinessProfile,
    service: Service,
    day: date,
    booked: Sequence[Booked],
    now: datetime,
) -> list[tuple[datetime, datetime]]:
    """The candidate slots of `day` that can still be booked.

    Capacity N is N units (think: chairs) that each hold non-overlapping appointments; the
    database enforces exactly that (an exclusion constraint per service and unit). A slot is
    free while some unit below the capacity has nothing overlapping it. Counting overlaps
    alone would be looser: with 60-minute visits on a 30-minute grid the units can be
    fragmented so that fewer than N visits overlap a slot yet no single unit is free for it,
    and the slot would be offered and then refused.
    """
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    for start, end, unit in booked:
        _require_aware(start, "booked start")
        busy.setdefault(unit, []).append((start.astimezone(UTC), end.astimezone(UTC)))

    def unit_free(unit: int, start: datetime, end: datetime) -> bool:
        return all(not (b_start < end and start < b_end) for b_start, b_end in busy.get(unit, ()))

    return [
        (start, end)
        for start, end in candidate_slots(profile, service, day, now)
        if any(
            unit_free(unit, start.astimezone(UTC), end.astimezone(UTC))
            for unit in range(service.capacity)
        )
    ]


def unbookable_reason(
    profile: BusinessProfile, service: Service, start: datetime, now: datetime
) -> tuple[str, str] | None:
    """Why `start` is not a start the rules allow, as (code, sentence); None if it is one."""
    _require_aware(start, "start")
    tz = profile.tz
    day = start.astimezone(tz).date()
    rules = profile.booking
    if start <= now:
        return "in_past", "that time has already passed"
    if start < now + timedelta(minutes=rules.min_notice_minutes):
        return "too_soon", f"bookings need at least {rules.min_notice_minutes} minutes' notice"
    if (day - now.astimezone(tz).date()).days > rules.max_days_ahead:
        return "too_far_ahead", f"bookings open at most {rules.max_days_ahead} days ahead"
    closure = profile.closure_on(day)
    if closure is not None:
        return "closed", f"closed on {day.isoformat()} ({closure.reason})"
    start_utc = start.astimezone(UTC)
    if any(s.astimezone(UTC) == start_utc for s, _ in candidate_slots(profile, service, day, now)):
        return None
    return (
        "outside_hours",
        f"not a bookable start: appointments start every {rules.slot_step_minutes} minutes "
        f"from opening and end by closing time",
    )
