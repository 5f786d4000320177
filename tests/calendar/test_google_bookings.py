"""A real receptionist linked to Google Calendar (the double of its API and OAuth): linking
from the console, what callers are offered, the booking's event, cancel, and failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.functions.business_client import BusinessError
from tests.calendar.console_kit import cancel, console, post_form
from tests.doubles.google_calendar import FakeGoogle
from tests.doubles.harness import CallHarness

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
NY = ZoneInfo("America/New_York")


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=NY)


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


def harness(db_url: str, tmp_path: Path, google: FakeGoogle, **extra: object) -> CallHarness:
    return CallHarness(
        db_url,
        tmp_path,
        business_profile=PROFILE,
        calendar="google",
        google_client_id=google.client_id,
        google_client_secret=google.client_secret,
        google_oauth_url=google.base_url + "/o/oauth2/v2/auth",
        google_token_url=google.token_url,
        google_calendar_api_base=google.api_base,
        **extra,
    )


async def link_through_consent(h: CallHarness, http: httpx.AsyncClient, google: FakeGoogle) -> None:
    """Connect on the Calendar page, 'consent' at Google, come back to the callback."""
    started = await post_form(http, "/staff/calendar", "/staff/calendar/google")
    assert started.status_code == 303
    consent = urlsplit(started.headers["location"])
    asked = parse_qs(consent.query)
    assert consent.netloc == urlsplit(google.base_url).netloc
    assert asked["access_type"] == ["offline"] and asked["prompt"] == ["consent"]
    assert set(asked["scope"][0].split()) == {
        "https://www.googleapis.com/auth/calendar.freebusy",
        "https://www.googleapis.com/auth/calendar.events.owned",
    }
    assert asked["redirect_uri"] == [f"{h.base_url}/staff/calendar/google/callback"]
    back = await http.get(
        "/staff/calendar/google/callback",
        params={"code": google.add_code(), "state": asked["state"][0]},
    )
    assert back.status_code == 303 and back.headers["location"].endswith("?done=linked")


async def test_linked_from_the_console_offers_and_books_into_google_and_cancel_deletes(
    db_url: str, tmp_path: Path, google: FakeGoogle
) -> None:
    day = (datetime.now(NY) + timedelta(days=2)).date()
    async with harness(db_url, tmp_path, google, calendar_cache_seconds=0) as h, console(h) as http:
        await link_through_consent(h, http, google)
        page = await http.get("/staff/calendar")
        assert "Linked" in page.text and "refresh" not in page.text.lower()
        google.add_busy(at(day, 9), at(day, 10))  # typed in by a person
        answer = await h.runtime.business.client.get_availability(day, "Cleaning")
        starts = [s.start.astimezone(UTC) for s in answer.slots]
        assert at(day, 9).astimezone(UTC) not in starts
        assert (
            at(
                day,
                8,
            ).astimezone(UTC)
            in starts
            and at(day, 10).astimezone(UTC) in starts
        )
        payload = {"service": "Cleaning", "start": at(day, 10).isoformat(),
                   "customer_name": "Jane Doe", "customer_phone": "+15551230000"}  # fmt: skip
        booked = await h.runtime.business.client.book(payload, "call_google_1")

        async def written() -> bool:
            return len(google.events()) == 1

        async with asyncio.timeout(10):
            while not await written():
                await asyncio.sleep(0.1)
        (event,) = google.events()
        assert event.start == at(day, 10).astimezone(UTC)
        assert event.end == at(day, 11).astimezone(UTC)
        assert event.body["summary"] == "Cleaning – Jane Doe"
        assert event.body["start"]["timeZone"] == "America/New_York"
        assert "+15551230000" in event.body["description"]
        # Our own event is busy in Google's free/busy too, but it does not block us twice:
        # capacity 1 is held by the booking itself, and 11:00 is still offered.
        again = await h.runtime.business.client.get_availability(day, "Cleaning")
        assert at(day, 11).astimezone(UTC) in [s.start.astimezone(UTC) for s in again.slots]

        assert booked.id is not None
        await cancel(http, booked.id)
        async with asyncio.timeout(10):
            while google.events():
                await asyncio.sleep(0.1)
        assert len(google.events(deleted=True)) == 1


@pytest.mark.parametrize("mode", ["rate_limited", "server_error", "stall"])
async def test_google_429_5xx_or_a_stall_offer_nothing_and_book_nothing(
    db_url: str, tmp_path: Path, google: FakeGoogle, mode: str
) -> None:
    day = (datetime.now(NY) + timedelta(days=2)).date()
    async with harness(db_url, tmp_path, google, calendar_cache_seconds=0) as h, console(h) as http:
        await link_through_consent(h, http, google)
        google.mode = mode  # type: ignore[assignment]
        with pytest.raises(BusinessError) as unavailable:
            await h.runtime.business.client.get_availability(day, "Cleaning")
        payload = {"service": "Cleaning", "start": at(day, 10).isoformat(),
                   "customer_name": "Jane Doe", "customer_phone": "+15551230000"}  # fmt: skip
        with pytest.raises(BusinessError) as refused:
            await h.runtime.business.client.book(payload, "call_google_2")
        google.mode = "ok"
        rows = await h.fetch("SELECT id FROM appointments")
        links = await h.fetch("SELECT status, last_error FROM calendar_links")
    assert unavailable.value.status == 503 and unavailable.value.code == "calendar_unavailable"
    assert refused.value.status == 503 and refused.value.code == "calendar_unavailable"
    assert rows == []  # never booked blind
    assert links[0]["status"] == "connected" and links[0]["last_error"]


async def test_a_revoked_google_grant_marks_the_calendar_disconnected(
    db_url: str, tmp_path: Path, google: FakeGoogle
) -> None:
    day = (datetime.now(NY) + timedelta(days=2)).date()
    async with harness(db_url, tmp_path, google, calendar_cache_seconds=0) as h, console(h) as http:
        await link_through_consent(h, http, google)
        google.revoke()  # the owner removed access in their Google Account
        with pytest.raises(BusinessError):
            await h.runtime.business.client.get_availability(day, "Cleaning")
        page = await http.get("/staff/calendar")
        today = await http.get("/staff/")
        links = await h.fetch("SELECT status FROM calendar_links")
    assert links == [{"status": "disconnected"}]
    assert "Disconnected" in page.text and "Connect Google Calendar" in page.text
    assert "Your calendar was disconnected" in today.text


async def test_a_consent_callback_with_a_forged_state_links_nothing(
    db_url: str, tmp_path: Path, google: FakeGoogle
) -> None:
    async with harness(db_url, tmp_path, google) as h, console(h) as http:
        await post_form(http, "/staff/calendar", "/staff/calendar/google")
        back = await http.get(
            "/staff/calendar/google/callback", params={"code": google.add_code(), "state": "forged"}
        )
        denied = await http.get(
            "/staff/calendar/google/callback", params={"error": "access_denied"}
        )
        links = await h.fetch("SELECT status FROM calendar_links")
    assert back.status_code == 400 and "expired" in back.text
    assert denied.status_code == 400 and "did not grant access" in denied.text
    assert links == []
