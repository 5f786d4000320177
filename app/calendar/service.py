"""The business's linked calendar as the rest of the service uses it, built once per process.

It finds what is linked (re-read at most every few seconds, so a link or disconnect made on
another Machine is seen), builds the provider's client for it, keeps free/busy for at most
CALENDAR_CACHE_SECONDS per range asked (concurrent asks for the same range share one request),
and records what happened: when it was last read, the last error, and a revoked grant, which
marks the link disconnected and tells the owner once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import httpx

from app.business.profile import BusinessProfile
from app.calendar.calcom import CalcomCalendar
from app.calendar.caldav_calendar import CalDavCalendar
from app.calendar.errors import CalendarUnavailable
from app.calendar.event import Interval
from app.calendar.google import GoogleCalendar
from app.calendar.links import Link, LinkStore, OnDisconnect
from app.calendar.ports import BookingCalendar, FreeBusyCalendar
from app.config import CalendarProvider, Settings
from app.logging import get_logger

log = get_logger(__name__)

LINK_TTL_SECONDS = 5.0
# How often a success or an error is written to the link's row (the console's "last read").
RECORD_EVERY_SECONDS = 10.0

Client = FreeBusyCalendar | BookingCalendar
T = TypeVar("T")


class BusinessCalendar:
    def __init__(
        self,
        settings: Settings,
        links: LinkStore,
        tz: ZoneInfo,
        http: httpx.AsyncClient,
        on_disconnect: OnDisconnect,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider: CalendarProvider | None = settings.calendar
        self.links = links
        self.tz = tz
        self._settings = settings
        self._http = http
        self._on_disconnect = on_disconnect
        self._clock = clock
        self._link: Link | None = None
        self._link_read_at = -1e9
        self._client: Client | None = None
        self._client_of: datetime | None = None  # the link's connected_at the client was built for
        self._cache: dict[tuple[datetime, datetime], tuple[float, list[Interval]]] = {}
        self._reading: dict[tuple[datetime, datetime], asyncio.Task[list[Interval]]] = {}
        self._recorded_at = -1e9

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    @property
    def is_authority(self) -> bool:
        """Cal.com holds the bookings itself; Google and CalDAV are read and written."""
        return self.provider is CalendarProvider.CALCOM

    # -- what is linked --------------------------------------------------------------------

    async def link(self, *, fresh: bool = False) -> Link | None:
        if fresh or self._clock() - self._link_read_at > LINK_TTL_SECONDS:
            self._link = await self.links.get()
            self._link_read_at = self._clock()
        return self._link

    async def forget(self) -> None:
        """Drop what this process knows of the link (after it was linked again or removed)."""
        self._link_read_at = -1e9
        self._cache.clear()
        await self._close_client()

    async def _client_for_link(self) -> Client:
        link = await self.link()
        if self.provider is None:
            raise CalendarUnavailable("not_connected", "no calendar is configured (CALENDAR)")
        if link is None or link.provider != self.provider.value:
            raise CalendarUnavailable(
                "not_connected", "the calendar is not linked yet: link it under Calendar"
            )
        if not link.usable:
            raise CalendarUnavailable(
                "not_connected", link.last_error or "the calendar was disconnected: link it again"
            )
        if self._client is None or self._client_of != link.connected_at:
            await self._close_client()
            assert link.secret is not None
            self._client = build_client(self._settings, self.tz, self._http, link)
            self._client_of = link.connected_at
        return self._client

    async def free_busy(self) -> FreeBusyCalendar:
        client = await self._client_for_link()
        if self.is_authority:
            raise CalendarUnavailable("rejected", "Cal.com offers slots, not free/busy")
        return client  # type: ignore[return-value]

    async def booking(self) -> BookingCalendar:
        client = await self._client_for_link()
        if not self.is_authority:
            raise CalendarUnavailable("rejected", "only Cal.com takes bookings itself")
        return client  # type: ignore[return-value]

    # -- reading ---------------------------------------------------------------------------

    async def busy(self, start: datetime, end: datetime, *, fresh: bool = False) -> list[Interval]:
        """The calendar's busy intervals in [start, end); at most CALENDAR_CACHE_SECONDS old
        unless `fresh` (a booking re-checks). Raises CalendarUnavailable."""
        key = (start, end)
        cached = self._cache.get(key)
        now = self._clock()
        if (
            not fresh
            and cached is not None
            and now - cached[0] <= self._settings.calendar_cache_seconds
        ):
            return cached[1]
        task = self._reading.get(key)
        if task is None or fresh:
            task = asyncio.create_task(self._read_busy(start, end))
            self._reading[key] = task
            task.add_done_callback(
                lambda t: self._reading.pop(key, None) if self._reading.get(key) is t else None
            )
        return await asyncio.shield(task)

    async def _read_busy(self, start: datetime, end: datetime) -> list[Interval]:
        began = self._clock()
        busy = await self.call(lambda: self._free_busy_read(start, end))
        self._cache[(start, end)] = (began, busy)
        if len(self._cache) > 512:  # ranges asked are days: keep the newest
            for old in sorted(self._cache, key=lambda k: self._cache[k][0])[:256]:
                self._cache.pop(old, None)
        return busy

    async def _free_busy_read(self, start: datetime, end: datetime) -> list[Interval]:
        calendar = await self.free_busy()
        return await calendar.busy(start, end)

    async def call(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run one request against the calendar and record how it went."""
        try:
            result = await work()
        except CalendarUnavailable as exc:
            await self.failed(exc)
            raise
        await self._record(None)
        return result

    async def failed(self, exc: CalendarUnavailable) -> None:
        """A request failed: remember why; a revoked grant disconnects the link (once)."""
        log.warning("calendar_unavailable", kind=exc.kind, reason=exc.message)
        if exc.kind == "not_connected":
            return
        if exc.revoked:
            await self.links.mark_disconnected(exc.message, self._on_disconnect)
            await self.forget()
            return
        await self._record(exc.message)

    async def _record(self, error: str | None) -> None:
        now = self._clock()
        if error is None and now - self._recorded_at < RECORD_EVERY_SECONDS:
            return
        self._recorded_at = now
        try:
            if error is None:
                await self.links.mark_read()
            else:
                await self.links.mark_error(error)
        except Exception as exc:  # the console's note must never fail a caller's request
            log.warning("calendar_record_failed", error=type(exc).__name__)

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def aclose(self) -> None:
        await self._close_client()


def build_client(settings: Settings, tz: ZoneInfo, http: httpx.AsyncClient, link: Link) -> Client:
    """The provider's client for a usable link."""
    secret = link.secret or {}
    timeout = settings.calendar_timeout_seconds
    if link.provider == CalendarProvider.CALDAV.value:
        return CalDavCalendar(
            link.details["calendar_url"], link.details["username"], secret["password"], tz, timeout
        )
    if link.provider == CalendarProvider.GOOGLE.value:
        if settings.google_client_id is None:
            raise CalendarUnavailable("not_connected", "GOOGLE_CLIENT_ID is not set any more")
        calendar_id = str(link.details.get("calendar_id") or "primary")
        return GoogleCalendar.from_settings(http, settings, secret["refresh_token"], calendar_id)
    return CalcomCalendar.from_settings(http, settings, secret["api_key"])


async def read_once(
    settings: Settings, profile: BusinessProfile, http: httpx.AsyncClient, link: Link
) -> None:
    """Prove a usable link answers now: a day of free/busy, or Cal.com's slots of every
    service's event type. Raises CalendarUnavailable."""
    client = build_client(settings, profile.tz, http, link)
    start = datetime.now(UTC)
    end = start + timedelta(days=1)
    try:
        if isinstance(client, CalcomCalendar):
            for service in profile.services:
                if service.calcom_event_type_id is not None:
                    await client.slots(service.calcom_event_type_id, start, end)
        elif isinstance(client, CalDavCalendar | GoogleCalendar):
            await client.busy(start, end)
    finally:
        await client.aclose()
