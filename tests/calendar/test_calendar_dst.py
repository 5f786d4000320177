"""The days the clocks change, with a real CalDAV calendar: busy time typed in across the
change blocks exactly the right slots, and bookings on those days land at the right instant."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.api import business_app
from app.business.calendar_view import CalendarView
from app.business.profile import load_profile
from app.calendar.links import LinkStore
from app.calendar.sealing import Sealer
from app.calendar.service import BusinessCalendar
from app.calendar.writer import CalendarWriter
from app.config import load_settings
from tests.calendar.console_kit import nobody
from tests.calendar.radicale import PASSWORD, USER, Radicale, busy_event
from tests.doubles.server import serve_app

PROFILE = load_profile(Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml")
NY = ZoneInfo("America/New_York")
TOKEN = "dst-test-token"
HOUR = timedelta(hours=1)


@contextlib.asynccontextmanager
async def linked_api(
    engine: AsyncEngine, calendar_url: str, now: datetime
) -> AsyncIterator[tuple[httpx.AsyncClient, CalendarWriter]]:
    settings = load_settings(calendar="caldav", calendar_cache_seconds=0, _env_file=None)
    links = LinkStore(engine, Sealer(b"k" * 32))
    details = {"calendar_url": calendar_url, "username": USER}
    await links.link("caldav", details, {"password": PASSWORD})
    async with httpx.AsyncClient() as http:
        calendar = BusinessCalendar(settings, links, NY, http, nobody)
        writer = CalendarWriter(engine, calendar, None)
        view = CalendarView(calendar, PROFILE, engine)
        app = business_app(PROFILE, engine, TOKEN, clock=lambda: now, calendar=view)
        async with (
            serve_app(app) as srv,
            httpx.AsyncClient(
                base_url=srv.http_url, headers={"Authorization": f"Bearer {TOKEN}"}
            ) as api,
        ):
            yield api, writer
        await calendar.aclose()


async def _starts(api: httpx.AsyncClient, day: str) -> list[datetime]:
    answer = await api.get("/availability", params={"date": day, "service": "Cleaning"})
    assert answer.status_code == 200, answer.text
    return [datetime.fromisoformat(s["start"]).astimezone(UTC) for s in answer.json()["slots"]]


async def test_spring_forward_busy_across_the_gap_and_a_booking_after_it(
    engine: AsyncEngine, radicale: Radicale, calendar_url: str
) -> None:
    # 01:30 EST to 03:30 EDT on 2027-03-14 is one real hour: 06:30Z to 07:30Z.
    busy = (datetime(2027, 3, 14, 1, 30, tzinfo=NY), datetime(2027, 3, 14, 3, 30, tzinfo=NY))
    radicale.add(calendar_url, busy_event("night-shift", *busy))
    async with linked_api(engine, calendar_url, datetime(2027, 3, 10, tzinfo=UTC)) as (api, writer):
        starts = await _starts(api, "2027-03-14")
        blocked = (busy[0].astimezone(UTC), busy[1].astimezone(UTC))
        assert blocked == (
            datetime(2027, 3, 14, 6, 30, tzinfo=UTC),
            datetime(2027, 3, 14, 7, 30, tzinfo=UTC),
        )
        overlapping = [s for s in starts if s < blocked[1] and s + HOUR > blocked[0]]
        assert overlapping == []
        assert blocked[1] in starts and blocked[0] - HOUR in starts
        ten = datetime(2027, 3, 14, 10, 0, tzinfo=NY)  # EDT: 14:00Z
        booked = await api.post("/appointments", json={
            "service": "Cleaning", "start": ten.isoformat(), "customer_name": "Ada",
        })  # fmt: skip
        assert booked.status_code == 201, booked.text
        assert await writer.write_due() == 1
    events = {str(e["UID"]): e for e in radicale.events(calendar_url)}
    ours = next(e for uid, e in events.items() if uid.startswith("rcp"))
    assert ours.decoded("DTSTART").astimezone(UTC) == datetime(2027, 3, 14, 14, 0, tzinfo=UTC)
    assert ours["DTSTART"].params["TZID"] == "America/New_York"


async def test_fall_back_the_second_half_past_one_is_written_unambiguously(
    engine: AsyncEngine, radicale: Radicale, calendar_url: str
) -> None:
    # On 2027-11-07 01:30 happens twice: 05:30Z (EDT) and 06:30Z (EST).
    second = datetime(2027, 11, 7, 6, 30, tzinfo=UTC)
    async with linked_api(engine, calendar_url, datetime(2027, 11, 1, tzinfo=UTC)) as (api, writer):
        starts = await _starts(api, "2027-11-07")
        assert datetime(2027, 11, 7, 5, 30, tzinfo=UTC) in starts and second in starts
        booked = await api.post("/appointments", json={
            "service": "Cleaning", "start": second.astimezone(NY).isoformat(), "customer_name": "Ada",
        })  # fmt: skip
        assert booked.status_code == 201, booked.text
        assert await writer.write_due() == 1
        # Our own event does not block the first 01:30 through free/busy: only our booking
        # does (capacity 1), for its own hour.
        after = await _starts(api, "2027-11-07")
        assert datetime(2027, 11, 7, 5, 0, tzinfo=UTC) in after
        assert second not in after and second - HOUR / 2 not in after
    (ours,) = radicale.events(calendar_url)
    assert ours.decoded("DTSTART").astimezone(UTC) == second
    assert ours.decoded("DTEND").astimezone(UTC) == second + HOUR


async def test_an_all_day_event_blocks_the_whole_local_day(
    engine: AsyncEngine, radicale: Radicale, calendar_url: str
) -> None:
    radicale.add(
        calendar_url,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//app//EN\r\nBEGIN:VEVENT\r\nUID:away\r\n"
        "DTSTAMP:20261201T000000Z\r\nDTSTART;VALUE=DATE:20270115\r\nDTEND;VALUE=DATE:20270116\r\n"
        "SUMMARY:Away\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    async with linked_api(engine, calendar_url, datetime(2027, 1, 10, tzinfo=UTC)) as (api, _):
        assert await _starts(api, "2027-01-15") == []
        assert len(await _starts(api, "2027-01-16")) > 40
        late_on_14th = await _starts(api, "2027-01-14")
        assert datetime(2027, 1, 15, 3, 0, tzinfo=UTC) in late_on_14th  # 22:00 local on the 14th
