"""A real receptionist linked to a real CalDAV server (Radicale): what callers are offered,
what a booking writes into the calendar, and what a console cancel removes."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.functions.business_client import BusinessError
from app.staff.accounts import add_account
from tests.calendar.console_kit import link_caldav
from tests.calendar.radicale import Radicale, busy_event
from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.signin import csrf_of, sign_in

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
NY = ZoneInfo("America/New_York")
STAFF = ("owner@example.com", "a long staff password 1")


def day_after_tomorrow() -> date:
    return (datetime.now(NY) + timedelta(days=2)).date()


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=NY)


async def offered(h: CallHarness, day: date) -> list[datetime]:
    answer = await h.runtime.business.client.get_availability(day, "Cleaning")
    return [s.start.astimezone(UTC) for s in answer.slots]


async def wait_for(check: Any, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not await check():
            await asyncio.sleep(0.1)


async def test_a_call_books_and_the_event_lands_in_the_calendar_then_a_cancel_removes_it(
    db_url: str, tmp_path: Path, radicale: Radicale, calendar_url: str
) -> None:
    day = day_after_tomorrow()
    start = at(day, 10)
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["A cleaning on Friday at ten?", "Yes, Jane Doe."],
        replies=[
            FunctionCallReply("check_availability", {"service": "Cleaning", "date": day.isoformat()}),
            AudioReply("Ten is free. Shall I book it?", 600),
            FunctionCallReply(
                "book_appointment",
                {"service": "Cleaning", "start": start.isoformat(), "customer_name": "Jane Doe",
                 "caller_confirmed": True},
            ),
            AudioReply("You're booked.", 500),
        ],
    )  # fmt: skip
    async with CallHarness(
        db_url, tmp_path, model_config=config, business_profile=PROFILE, calendar="caldav"
    ) as h:
        await link_caldav(h, calendar_url)
        async with h.caller() as caller:
            await caller.call()
            await caller.wait_until_heard(400)
            await caller.say_and_wait(600)
            await until_quiet(caller)
            await caller.say_and_wait(600)
            await until_quiet(caller)
            await caller.hangup()
        await h.wait_call_ended(caller.call_sid)
        (appointment,) = await h.fetch("SELECT id, starts_at FROM appointments")
        assert appointment["starts_at"] == start

        async def written() -> bool:
            return len(radicale.events(calendar_url)) == 1

        await wait_for(written)
        (event,) = radicale.events(calendar_url)
        assert event["DTSTART"].params["TZID"] == "America/New_York"
        assert event.decoded("DTSTART") == start
        assert event.decoded("DTEND") == start + timedelta(hours=1)
        assert str(event["SUMMARY"]) == "Cleaning – Jane Doe"
        assert "+15551230000" in str(event["DESCRIPTION"])  # the caller's number
        assert f"{h.base_url}/staff/calls/{caller.call_sid}" in str(event["DESCRIPTION"])
        (row,) = await h.fetch("SELECT action, status, attempts FROM calendar_events")
        assert row == {"action": "create", "status": "done", "attempts": 1}

        # The console's cancel deletes the event.
        await add_account(h.engine, *STAFF)
        async with httpx.AsyncClient(base_url=h.base_url) as http:
            assert (await sign_in(http, *STAFF)).status_code == 303
            path = f"/staff/appointments/{appointment['id']}/cancel"
            page = await http.get(path)
            done = await http.post(path, data={"csrf_token": csrf_of(page.text)})
            assert done.status_code == 303

        async def deleted() -> bool:
            return radicale.events(calendar_url) == []

        await wait_for(deleted)
        rows = await h.fetch("SELECT action, status FROM calendar_events ORDER BY id")
        assert rows == [
            {"action": "create", "status": "done"},
            {"action": "delete", "status": "done"},
        ]


async def test_a_busy_block_typed_into_the_calendar_is_not_offered_and_is_refused(
    db_url: str, tmp_path: Path, radicale: Radicale, calendar_url: str
) -> None:
    day = day_after_tomorrow()
    async with CallHarness(
        db_url, tmp_path, business_profile=PROFILE, calendar="caldav", calendar_cache_seconds=0.5
    ) as h:
        await link_caldav(h, calendar_url)
        before = await offered(h, day)
        ten = at(day, 10).astimezone(UTC)
        assert ten in before
        busy = (at(day, 9).astimezone(UTC), at(day, 11).astimezone(UTC))
        radicale.add(calendar_url, busy_event("dentist-out", at(day, 9), at(day, 11)))
        await asyncio.sleep(0.6)  # older than the cache allows
        after = await offered(h, day)
        hour = timedelta(hours=1)
        assert after == [s for s in before if not (s < busy[1] and s + hour > busy[0])]
        assert ten not in after and at(day, 11).astimezone(UTC) in after

        # The caller heard ten o'clock before the block was typed in: the booking is refused.
        payload = {"service": "Cleaning", "start": at(day, 10).isoformat(),
                   "customer_name": "Ada", "customer_phone": "+15551230000"}  # fmt: skip
        with pytest.raises(BusinessError) as refused:
            await h.runtime.business.client.book(payload, "call_1")
        assert refused.value.status == 409 and refused.value.code == "slot_taken"
        alternatives = [
            datetime.fromisoformat(a["start"]).astimezone(UTC)
            for a in refused.value.body["alternatives"]
        ]
        assert alternatives and all(a in after for a in alternatives)
        assert await h.fetch("SELECT id FROM appointments") == []
