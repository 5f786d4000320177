"""A CalDAV calendar (iCloud, Fastmail, Nextcloud, Radicale, ...) through the `caldav` library.

Busy time comes from the RFC 4791 free-busy-query REPORT (section 7.10), or, where the server
refuses it, from a time-range calendar-query of the events themselves (the `caldav` library
expands recurrences client-side). Events are written with `icalendar` at `<calendar>/<UID>.ics`
with a UID derived from the appointment, so a retried write replaces the same resource instead
of adding a second one. `caldav` is synchronous: each request runs in a worker thread, bounded
by CALENDAR_TIMEOUT_SECONDS, one request at a time per calendar.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import icalendar
from caldav.calendarobjectresource import FreeBusy
from caldav.collection import Calendar
from caldav.davclient import DAVClient
from caldav.lib import error as dav_error

from app.calendar.errors import CalendarUnavailable
from app.calendar.event import BookingEvent, Interval, merge
from app.calendar.vtimezone import vtimezone

T = TypeVar("T")

_PRODID = "-//receptionist//calendar events//EN"


class CalDavCalendar:
    """`FreeBusyCalendar` over CalDAV. `calendar_url` is the collection events are written to;
    `tz` is the business's zone, in which all-day events are read."""

    def __init__(
        self,
        calendar_url: str,
        username: str,
        password: str,
        tz: ZoneInfo,
        timeout: float,
    ) -> None:
        self._url = calendar_url if calendar_url.endswith("/") else calendar_url + "/"
        self._tz = tz
        self._timeout = timeout
        self._client = DAVClient(
            url=self._url, username=username, password=password, timeout=max(1, round(timeout))
        )
        self._calendar = Calendar(client=self._client, url=self._url)
        self._lock = threading.Lock()  # a DAVClient's session is not shared between threads

    async def _run(self, what: str, work: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                return work()

        return await _in_thread(what, locked, self._timeout)

    # -- reading ---------------------------------------------------------------------------

    async def busy(self, start: datetime, end: datetime) -> list[Interval]:
        # Asked for whole UTC days around the range: an all-day event then comes back whole,
        # so it can be told apart and read in the business's zone (freebusy_intervals).
        wide_start = datetime.combine(
            start.astimezone(UTC).date() - timedelta(days=1), time(0), UTC
        )
        wide_end = datetime.combine(end.astimezone(UTC).date() + timedelta(days=2), time(0), UTC)

        def read() -> list[Interval]:
            try:
                free_busy = self._calendar.freebusy_request(wide_start, wide_end)
                assert isinstance(free_busy, FreeBusy)  # a sync client answers at once
                return freebusy_intervals(free_busy.icalendar_instance, self._tz)
            except (dav_error.ReportError, dav_error.ResponseError) as exc:
                if _status(exc) in (401, 403, 429):
                    raise
                # The server lacks the free-busy report (SOGo, Apple's server and others answer
                # it with an error): read the events themselves.
                events: Any = self._calendar.search(
                    start=start.astimezone(self._tz),
                    end=end.astimezone(self._tz),
                    event=True,
                    expand=True,
                )
                assert isinstance(events, list)
                return event_intervals((e.icalendar_instance for e in events), self._tz)

        found = await self._run("a free/busy query", read)
        return [(max(s, start), min(e, end)) for s, e in found if s < end and e > start]

    # -- writing ---------------------------------------------------------------------------

    async def write_event(self, event: BookingEvent) -> str:
        body = event_ics(event)
        await self._run("the booking's event", lambda: self._calendar.add_event(body))
        return event.event_id

    async def delete_event(self, event_id: str) -> None:
        url = f"{self._url}{event_id}.ics"

        def delete() -> None:
            try:
                self._client.delete(url)
            except dav_error.NotFoundError:
                return  # already gone

        await self._run("the event's deletion", delete)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)


def event_ics(event: BookingEvent) -> str:
    """The booking as a VCALENDAR: local times with TZID and their VTIMEZONE, never floating."""
    vevent = icalendar.Event()
    vevent.add("uid", event.event_id)
    vevent.add("dtstamp", datetime.now(UTC))
    vevent.add("dtstart", _unambiguous(event.local_start))
    vevent.add("dtend", _unambiguous(event.local_end))
    vevent.add("summary", event.title)
    vevent.add("description", event.description)
    if event.console_link:
        vevent.add("url", event.console_link)
    vevent.add("transp", "OPAQUE")
    cal = icalendar.Calendar()
    cal.add("prodid", _PRODID)
    cal.add("version", "2.0")
    cal.add_component(vtimezone(event.tz.key, event.local_start.year))
    cal.add_component(vevent)
    return str(cal.to_ical().decode())


def _unambiguous(moment: datetime) -> datetime:
    """The local time with its TZID, unless that wall time happens twice (the hour clocks go
    back): a reader takes such a time as its first occurrence (RFC 5545 3.3.5), so the second
    is written in UTC instead."""
    if moment.replace(fold=1 - moment.fold).utcoffset() != moment.utcoffset():
        return moment.astimezone(UTC)
    return moment


def _as_instant(value: date | datetime, tz: ZoneInfo) -> datetime:
    """A DATE is midnight of that day in the business's zone; a floating time is local too."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=tz).astimezone(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=tz).astimezone(UTC)
    return value.astimezone(UTC)


def _whole_utc_days(start: datetime, end: datetime) -> bool:
    midnight = time(0)
    return (
        start.timetz().replace(tzinfo=None) == midnight
        and end.timetz().replace(tzinfo=None) == midnight
        and (end - start) % timedelta(days=1) == timedelta(0)
    )


def freebusy_intervals(calendar: icalendar.Calendar, tz: ZoneInfo) -> list[Interval]:
    """Busy intervals of a free-busy-query answer, in either shape servers send.

    RFC 4791 section 7.10: one VFREEBUSY with FREEBUSY periods (start/end or start/duration,
    several per line); FBTYPE=FREE periods are not busy. Radicale: one VFREEBUSY per busy
    occurrence, with DTSTART/DTEND and an FBTYPE property. Servers turn an all-day event (a
    DATE, which has no zone) into UTC midnights (seen on Radicale); such whole UTC days are
    read as the same dates in the business's zone, which is what the owner meant.
    """
    out: list[Interval] = []
    for component in calendar.walk("VFREEBUSY"):
        periods = component.get("FREEBUSY")
        if periods is not None:
            for prop in periods if isinstance(periods, list) else [periods]:
                if str(prop.params.get("FBTYPE", "BUSY")).upper() == "FREE":
                    continue
                out.append(_period(prop))
            continue
        # Without FREEBUSY lines, a VFREEBUSY is either the RFC's "nothing busy" (DTSTART and
        # DTEND are the range asked) or one of Radicale's per-occurrence blocks: those alone
        # carry FBTYPE as a property.
        fbtype = component.get("FBTYPE")
        if fbtype is None or str(fbtype).upper() == "FREE":
            continue
        if component.get("DTSTART") is not None and component.get("DTEND") is not None:
            out.append(
                (
                    _as_instant(component.decoded("DTSTART"), tz),
                    _as_instant(component.decoded("DTEND"), tz),
                )
            )
    return merge([_all_day_in(tz, s, e) for s, e in out])


def _period(prop: Any) -> Interval:
    """A vPeriod: (start, end) or (start, duration); a comma-separated line is split already."""
    value = getattr(prop, "dt", None)
    if not isinstance(value, tuple) or not isinstance(value[0], datetime):
        raise ValueError("unreadable FREEBUSY period")
    start, end_or_duration = value
    start_utc = start.astimezone(UTC)
    if isinstance(end_or_duration, timedelta):
        return start_utc, start_utc + end_or_duration
    return start_utc, end_or_duration.astimezone(UTC)


def _all_day_in(tz: ZoneInfo, start: datetime, end: datetime) -> Interval:
    if tz.key != "UTC" and _whole_utc_days(start, end):
        return _as_instant(start.date(), tz), _as_instant(end.date(), tz)
    return start, end


def event_intervals(calendars: Iterable[icalendar.Calendar], tz: ZoneInfo) -> list[Interval]:
    """Busy intervals of (expanded) events: transparent and cancelled ones are free."""
    out: list[Interval] = []
    for cal in calendars:
        for vevent in cal.walk("VEVENT"):
            if str(vevent.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
                continue
            if str(vevent.get("STATUS", "")).upper() == "CANCELLED":
                continue
            if vevent.get("DTSTART") is None:
                continue
            start_value = vevent.decoded("DTSTART")
            if vevent.get("DTEND") is not None:
                end_value = vevent.decoded("DTEND")
            elif vevent.get("DURATION") is not None:
                end_value = start_value + vevent.decoded("DURATION")
            elif isinstance(start_value, datetime):
                end_value = start_value  # RFC 5545 3.6.1: a moment, busy for no time
            else:
                end_value = start_value + timedelta(days=1)  # a DATE alone is one whole day
            start, end = _as_instant(start_value, tz), _as_instant(end_value, tz)
            if start < end:
                out.append((start, end))
    return merge(out)


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _unavailable(what: str, exc: BaseException) -> CalendarUnavailable:
    """A failure of the `caldav` library (or its HTTP library) as one of our kinds."""
    status = _status(exc)
    name = type(exc).__name__
    if isinstance(exc, dav_error.AuthorizationError) or status in (401, 403):
        if status == 403:
            return CalendarUnavailable(
                "rejected", f"the CalDAV server refused {what} (403): check the account's rights"
            )
        return CalendarUnavailable(
            "revoked", "the CalDAV server no longer accepts the user name and app password"
        )
    if isinstance(exc, dav_error.RateLimitError) or status == 429:
        return CalendarUnavailable("rate_limited", f"the CalDAV server is rate limiting {what}")
    if status is not None and status >= 500:
        return CalendarUnavailable(
            "server_error", f"the CalDAV server failed {what} ({status})", status=status
        )
    if isinstance(exc, dav_error.DAVError):
        return CalendarUnavailable(
            "rejected", f"the CalDAV server refused {what} ({status or name})", status=status
        )
    if "timeout" in name.lower() or "timed out" in str(exc).lower():
        return CalendarUnavailable("slow", f"the CalDAV server did not answer {what} in time")
    if isinstance(exc, (ValueError, KeyError)):
        return CalendarUnavailable(
            "bad_response", f"the CalDAV server's answer to {what} is unreadable"
        )
    return CalendarUnavailable("unreachable", f"the CalDAV server cannot be reached ({name})")


def _holds_events(calendar: Calendar) -> bool:
    components: Any = calendar.get_supported_components()
    return "VEVENT" in components


async def list_calendars(
    url: str, username: str, password: str, timeout: float
) -> list[tuple[str, str]]:
    """(URL, display name) of the calendars that hold events, for what the owner typed: a
    calendar's own address (then only it) or their server's. Raises CalendarUnavailable."""
    wanted = url if url.endswith("/") else url + "/"

    def discover() -> list[tuple[str, str]]:
        with DAVClient(
            url=wanted, username=username, password=password, timeout=max(1, round(timeout))
        ) as client:
            calendars = client.get_principal().get_calendars()
            assert isinstance(calendars, list)  # a sync client answers at once
            found = [
                (str(c.url), str(c.get_display_name() or c.url))
                for c in calendars
                if _holds_events(c)
            ]
            exact = [c for c in found if c[0] == wanted]
            if not (exact or found):
                raise CalendarUnavailable("rejected", "no calendar was found at that address")
            return exact or found

    # A few PROPFINDs: the principal, its calendars, their properties.
    return await _in_thread("a request for your calendars", discover, timeout * 3)


async def _in_thread(what: str, work: Callable[[], T], timeout: float) -> T:
    """Run the `caldav` library's blocking `work` in a thread, bounded by `timeout`; every
    failure is a CalendarUnavailable."""
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(work)
    except TimeoutError:
        raise CalendarUnavailable(
            "slow", f"the CalDAV server did not answer {what} within {timeout:g} s"
        ) from None
    except CalendarUnavailable:
        raise
    except Exception as exc:
        raise _unavailable(what, exc) from exc
