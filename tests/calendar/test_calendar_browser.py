"""The Calendar page in headless Chromium: link a real CalDAV calendar (Radicale) as an owner
would, see the next free slots around a busy block typed into it, disconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser

from app.staff.accounts import add_account
from tests.calendar.radicale import PASSWORD, USER, Radicale, busy_event
from tests.chromium import launched, need
from tests.doubles.harness import CallHarness

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
NY = ZoneInfo("America/New_York")
EMAIL, STAFF_PASSWORD = "owner@example.com", "a long staff password 1"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    need("chromium")
    async with launched() as chromium:
        yield chromium


async def test_an_owner_links_a_caldav_calendar_and_sees_the_free_slots(
    db_url: str, tmp_path: Path, radicale: Radicale, calendar_url: str, browser: Browser
) -> None:
    radicale.new_calendar()  # the owner keeps another calendar on the same server
    # Busy from two hours from now (rounded) for the rest of today, so the first free slots
    # are before it and after it; a person typed it into their calendar app.
    now = datetime.now(NY).replace(minute=0, second=0, microsecond=0)
    busy_from, busy_to = now + timedelta(hours=2), now + timedelta(hours=5)
    radicale.add(calendar_url, busy_event("school-run", busy_from, busy_to))
    async with CallHarness(
        db_url, tmp_path, business_profile=PROFILE, calendar="caldav", calendar_cache_seconds=0
    ) as h:
        await add_account(h.engine, EMAIL, STAFF_PASSWORD)
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{h.base_url}/staff/")
        await page.get_by_label("Email").fill(EMAIL)
        await page.get_by_label("Password").fill(STAFF_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{h.base_url}/staff/")
        assert await page.locator(".calendar-alert").is_visible()  # not linked yet

        await page.get_by_role("link", name="Calendar", exact=True).click()
        await page.get_by_label("Calendar or server address").fill(radicale.url)
        await page.get_by_label("User name").fill(USER)
        await page.get_by_label("App password").fill("not-the-password")
        await page.get_by_role("button", name="Link this calendar").click()
        assert "refused the user name or app password" in await page.locator(".error").inner_text()

        await page.get_by_label("App password").fill(PASSWORD)
        await page.get_by_role("button", name="Link this calendar").click()
        # The server holds more than one calendar (the owner's other ones): pick where
        # bookings go. The password came back sealed, never in the page.
        picker = page.get_by_label("Which calendar should bookings go to?")
        await picker.select_option(value=calendar_url)
        assert PASSWORD not in await page.content()
        await page.get_by_role("button", name="Link this calendar").click()
        await page.wait_for_url("**/staff/calendar?done=linked")
        assert await page.locator(".calendar-link .badge").inner_text() == "Linked"
        assert PASSWORD not in await page.content()

        await page.get_by_role("button", name="Show the next free slots").click()
        shown = await page.locator(".free-slots li").all_inner_texts()
        assert len(shown) == 6
        starts = [
            datetime.strptime(f"{busy_from.year} {text}", "%Y %A %d %B, %H:%M").replace(tzinfo=NY)
            for text in shown
        ]
        assert all(s + timedelta(hours=1) <= busy_from or s >= busy_to for s in starts), (
            starts,
            busy_from,
        )
        assert await page.locator(".last-read").inner_text() != "not yet"
        await page.screenshot(path=str(tmp_path / "calendar.png"), full_page=True)

        await page.get_by_role("button", name="Disconnect").click()
        await page.wait_for_url("**/staff/calendar?done=unlinked")
        assert await page.get_by_role("button", name="Link this calendar").is_visible()
        assert await h.fetch("SELECT * FROM calendar_links") == []
        assert errors == []
