"""A real receptionist whose bookings Cal.com holds (the double of its API v2): linking with an
API key, Cal.com's slots offered, a booking made there and mirrored, a console cancel, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.config import load_settings
from app.functions.business_client import BusinessError
from app.main import create_app
from tests.calendar.console_kit import cancel, console, post_form
from tests.doubles.calcom import EventType, FakeCalcom
from tests.doubles.harness import CallHarness

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "calcom_salon.toml"
NY = ZoneInfo("America/New_York")


@pytest.fixture
async def cal() -> AsyncIterator[FakeCalcom]:
    async with FakeCalcom() as fake:
        fake.add_event_type(EventType(123, length_minutes=30, opens=time(9), closes=time(12)))
        yield fake


def harness(db_url: str, tmp_path: Path, cal: FakeCalcom) -> CallHarness:
    return CallHarness(
        db_url, tmp_path, business_profile=PROFILE, calendar="calcom", calcom_api_base=cal.base_url
    )


def later(days: int, hour: int, minute: int = 0) -> datetime:
    day = (datetime.now(NY) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


async def test_calcom_offers_its_slots_takes_the_booking_and_the_console_cancels_it(
    db_url: str, tmp_path: Path, cal: FakeCalcom
) -> None:
    async with harness(db_url, tmp_path, cal) as h, console(h) as http:
        wrong = await post_form(
            http, "/staff/calendar", "/staff/calendar/calcom", api_key="cal_live_nope"
        )
        assert wrong.status_code == 400
        linked = await post_form(
            http, "/staff/calendar", "/staff/calendar/calcom", api_key=cal.api_key
        )
        assert linked.status_code == 303
        page = await http.get("/staff/calendar")
        assert f"API key ending {cal.api_key[-4:]}" in page.text and cal.api_key not in page.text

        ten = later(2, 10)
        answer = await h.runtime.business.client.get_availability(ten.date(), "Haircut")
        starts = [s.start for s in answer.slots]
        assert starts[0] == later(2, 9) and starts[-1] == later(2, 11, 30)  # Cal.com's hours
        payload = {"service": "Haircut", "start": ten.isoformat(), "customer_name": "Jane Doe",
                   "customer_phone": "+12125550123", "call_sid": "CA_salon_1"}  # fmt: skip
        booked = await h.runtime.business.client.book(payload, "call_calcom_1")
        (remote,) = cal.active()
        assert remote.start == ten.astimezone(UTC)
        assert remote.body["attendee"]["phoneNumber"] == "+12125550123"
        assert remote.body["metadata"]["callSid"] == "CA_salon_1"
        (row,) = await h.fetch("SELECT id, starts_at, external_uid, status FROM appointments")
        assert row["external_uid"] == remote.uid and row["starts_at"] == ten
        assert booked.id == row["id"]

        # Another caller wants ten too: Cal.com says taken, the receptionist offers others.
        payload |= {"customer_name": "Ada", "call_sid": "CA_salon_2"}
        with pytest.raises(BusinessError) as taken:
            await h.runtime.business.client.book(payload, "call_calcom_2")
        assert taken.value.status == 409 and taken.value.code == "slot_taken"
        assert taken.value.body["alternatives"]

        await cancel(http, row["id"])
        async with asyncio.timeout(10):
            while cal.active():
                await asyncio.sleep(0.1)
        assert cal.bookings[remote.uid].status == "cancelled"


@pytest.mark.parametrize("mode", ["rate_limited", "stall", "revoked"])
async def test_calcom_failures_offer_and_book_nothing(
    db_url: str, tmp_path: Path, cal: FakeCalcom, mode: str
) -> None:
    async with harness(db_url, tmp_path, cal) as h, console(h) as http:
        await post_form(http, "/staff/calendar", "/staff/calendar/calcom", api_key=cal.api_key)
        if mode == "revoked":
            cal.revoke()
        else:
            cal.mode = mode  # type: ignore[assignment]
        day = later(2, 10).date()
        with pytest.raises(BusinessError) as unavailable:
            await h.runtime.business.client.get_availability(day, "Haircut")
        links = await h.fetch("SELECT status FROM calendar_links")
        rows = await h.fetch("SELECT id FROM appointments")
        cal.mode = "ok"
    assert unavailable.value.status == 503 and unavailable.value.code == "calendar_unavailable"
    assert rows == [] and cal.active() == []
    assert links == [{"status": "disconnected" if mode == "revoked" else "connected"}]


def test_calcom_needs_an_event_type_for_every_service(tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE.read_text().replace("calcom_event_type_id = 123\n", ""))
    settings = load_settings(business_profile=profile, calendar="calcom", _env_file=None)
    with pytest.raises(ValueError, match=r"calcom_event_type_id .* missing for: Haircut"):
        create_app(settings)
