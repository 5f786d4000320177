"""The calendar writer: a booking's event goes out after the commit, retried while the calendar
is away, exactly once; a cancel before it was written writes nothing."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.business.appointments import cancel_appointment
from app.calendar import outbox
from app.calendar.links import LinkStore
from app.calendar.sealing import Sealer
from app.calendar.service import BusinessCalendar
from app.calendar.writer import CalendarWriter
from app.config import load_settings
from tests.calendar.console_kit import nobody
from tests.calendar.radicale import PASSWORD, USER, Radicale, running_radicale

NY = ZoneInfo("America/New_York")


async def add_booking(engine: AsyncEngine, start: datetime, provider: str = "caldav") -> str:
    """An appointment and its queued event, in one transaction, as the backend writes them."""
    appointment_id = "apt_" + secrets.token_hex(8)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO appointments (id, service, starts_at, ends_at, slot, customer_name,"
                " customer_phone, status) VALUES (:id, 'Cleaning', :s, :e, 0, 'Ada Lovelace',"
                " '+15551230000', 'booked')"
            ),
            {"id": appointment_id, "s": start, "e": start + timedelta(hours=1)},
        )
        await outbox.add(conn, appointment_id, "create", provider)
    return appointment_id


async def rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT action, status, attempts, last_error FROM calendar_events ORDER BY id")
        )
        return [dict(r) for r in result.mappings()]


async def writer_for(engine: AsyncEngine, http: httpx.AsyncClient, url: str) -> CalendarWriter:
    settings = load_settings(calendar="caldav", _env_file=None)
    links = LinkStore(engine, Sealer(b"w" * 32))
    await links.link("caldav", {"calendar_url": url, "username": USER}, {"password": PASSWORD})
    calendar = BusinessCalendar(settings, links, NY, http, nobody)
    return CalendarWriter(engine, calendar, None, backoff_initial=0.01, backoff_max=0.01)


async def test_an_event_waits_while_the_server_is_down_and_is_written_once_when_it_is_back(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    start = datetime(2027, 2, 3, 10, 0, tzinfo=NY)
    with running_radicale(tmp_path) as server:
        url = server.new_calendar()
        server.stop()
        async with httpx.AsyncClient() as http:
            writer = await writer_for(engine, http, url)
            await add_booking(engine, start)
            assert await writer.write_due() == 1
            (waiting,) = await rows(engine)
            assert waiting["status"] == "pending" and waiting["attempts"] == 1
            assert "cannot be reached" in str(waiting["last_error"])
            server.start()
            await asyncio.sleep(0.05)  # the backoff
            assert await writer.write_due() == 1
            assert await writer.write_due() == 0  # nothing left: written once
        (done,) = await rows(engine)
        assert done == {"action": "create", "status": "done", "attempts": 2, "last_error": None}
        (event,) = server.events(url)
        assert event.decoded("DTSTART").astimezone(UTC) == start.astimezone(UTC)


async def test_a_cancel_before_the_event_was_written_writes_nothing(
    engine: AsyncEngine, radicale: Radicale, calendar_url: str
) -> None:
    async with httpx.AsyncClient() as http:
        writer = await writer_for(engine, http, calendar_url)
        appointment_id = await add_booking(engine, datetime(2027, 2, 4, 9, 0, tzinfo=NY))
        async with engine.begin() as conn:
            assert await cancel_appointment(conn, appointment_id, "caldav")
        assert await writer.write_due() == 0
    assert await rows(engine) == [
        {"action": "create", "status": "done", "attempts": 0,
         "last_error": "cancelled before it was written"},
    ]  # fmt: skip
    assert radicale.events(calendar_url) == []


async def test_an_event_for_another_provider_fails_with_the_reason(
    engine: AsyncEngine, calendar_url: str
) -> None:
    async with httpx.AsyncClient() as http:
        writer = await writer_for(engine, http, calendar_url)
        await add_booking(engine, datetime(2027, 2, 5, 9, 0, tzinfo=NY), provider="google")
        assert await writer.write_due() == 1
    (row,) = await rows(engine)
    assert row["status"] == "failed"
    assert row["last_error"] == "the calendar was changed from google to caldav"
