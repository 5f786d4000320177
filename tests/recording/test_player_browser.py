"""The call page's recording player in a real browser (Debian's headless Chromium): it loads,
a click on a transcript line seeks there and highlights it, and "Delete recording" works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from app.db.embedded import EmbeddedPostgres
from tests.chromium import launched, need
from tests.doubles.twilio_api import FakeTwilioAPI
from tests.doubles.twilio_recordings import FakeRecording
from tests.recording.recording_kit import CALL, console_with_recording
from tests.staff.console_kit import EMAIL, PASSWORD, Console


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    need("chromium")
    async with launched() as chromium:
        yield chromium


async def _sign_in(page: Page, base: str, target: str) -> None:
    await page.goto(f"{base}{target}")
    assert "/staff/login" in page.url
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}{target}")


async def test_the_player_seeks_to_a_clicked_line_highlights_it_and_deletes(
    browser: Browser, postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    parts: tuple[Console, FakeTwilioAPI, FakeRecording]
    async with console_with_recording(postgres, tmp_path) as parts:
        console, twilio, made = parts
        context = await browser.new_context()
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda m: errors.append(m.text) if m.type in ("error", "warning") else None,
        )
        await _sign_in(page, console.base, f"/staff/calls/{CALL}")
        player = page.locator("#recording-player")
        await player.wait_for()
        await page.wait_for_function(
            "document.getElementById('recording-player').readyState >= 1", timeout=10_000
        )
        duration = await page.evaluate("document.getElementById('recording-player').duration")
        assert 2.9 < duration < 3.1
        # The caller's line said 1800 ms into the call; the recording started at 1500 ms.
        line = page.locator("li.turn", has_text="can I book a cleaning")
        await line.click()
        now = await page.evaluate("document.getElementById('recording-player').currentTime")
        assert abs(now - 0.3) < 0.05
        assert "playing" in (await line.get_attribute("class") or "")
        later = page.locator("li.turn", has_text="which day suits you")
        await later.click()
        now = await page.evaluate("document.getElementById('recording-player').currentTime")
        assert abs(now - 1.1) < 0.05
        assert "playing" in (await later.get_attribute("class") or "")
        assert "playing" not in (await line.get_attribute("class") or "")
        # A line said before the recording started plays from its beginning.
        # (the same tolerance as the seeks above: a click plays on from where it seeked to)
        await page.locator("li.turn", has_text="Thanks for calling").click()
        now = await page.evaluate("document.getElementById('recording-player').currentTime")
        assert 0 <= now < 0.05
        await page.evaluate("document.getElementById('recording-player').pause()")
        await page.get_by_role("button", name="Delete recording").click()
        await page.wait_for_url(f"{console.base}/staff/calls/{CALL}?recording=deleted")
        assert await page.locator("#recording-notice").inner_text() == "The recording was deleted."
        assert await page.locator("#recording-player").count() == 0
        assert made.deleted
        assert [r for r in twilio.requests if r.method == "DELETE"]
        await context.close()
    assert errors == []


async def test_twilio_unreachable_is_said_in_the_page(
    browser: Browser, postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    async with console_with_recording(postgres, tmp_path) as (console, twilio, _):
        await twilio.stop()
        context = await browser.new_context()
        page = await context.new_page()
        await _sign_in(page, console.base, f"/staff/calls/{CALL}")
        problem = page.locator("#recording-error")
        await problem.wait_for(state="visible", timeout=10_000)
        assert "Twilio could not be reached" in await problem.inner_text()
        await context.close()
