"""The console in a real browser (Debian's headless Chromium, driven by Playwright).

A member of staff signs in, finds a call by a word said in it, reads it and its summary, marks
a message handled, cancels an appointment and signs out, with no console error on the way; a
form posted without its CSRF token is refused. The screenshots in docs/images come from this test
(`make screenshots` writes them there; otherwise they go to a temporary directory).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from console_kit import EMAIL, PASSWORD, Console, running_console
from playwright.async_api import Browser, ConsoleMessage, Error, Page
from sqlalchemy import text

from app.business.profile import load_profile
from app.db.embedded import EmbeddedPostgres
from app.db.engine import project_root
from app.staff.demo import fill_demo_data
from tests.chromium import launched, need

ROOT = Path(__file__).resolve().parents[2]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    need("chromium")
    async with launched() as chromium:
        yield chromium


@pytest.fixture(scope="module")
async def console(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Console]:
    async with running_console(postgres, tmp_path_factory.mktemp("data")) as running:
        profile = load_profile(project_root() / "prompts" / "business.toml")
        await fill_demo_data(running.engine, profile, calls=400, seed=5, days=30)
        now = datetime.now(UTC)
        async with running.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO calls (call_sid, from_number, from_city, from_state, started_at)"
                    " VALUES ('CAlivebrowser', '+16175550142', 'CAMBRIDGE', 'MA', :at)"
                ),
                {"at": now - timedelta(seconds=40)},
            )
            # Messages that wait whatever the demo data made of today.
            await conn.execute(
                text(
                    "INSERT INTO messages (id, caller_name, callback_number, message, urgency, "
                    "created_at) VALUES ('msg_b1', 'Nadia Brooks', '+16175550187', 'Please "
                    "call me about moving my cleaning to the afternoon.', 'normal', :at), "
                    "('msg_b2', 'Victor Hale', '+17815550164', 'My temporary crown feels "
                    "loose, is that normal?', 'urgent', :at)"
                ),
                {"at": now - timedelta(minutes=25)},
            )
            await conn.execute(
                text(
                    "INSERT INTO transcript_turns (call_sid, seq, speaker, text, offset_ms) "
                    "VALUES ('CAlivebrowser', 0, 'agent', 'Thanks for calling Maple Street "
                    "Dental, how can I help?', 300)"
                )
            )
        yield running


class Watched:
    """A page whose console errors and uncaught exceptions are collected."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")


def _shots_dir(tmp_path: Path) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS"):
        return ROOT / "docs" / "images"
    return tmp_path


async def _sign_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/staff/")
    assert "/staff/login" in page.url  # the console sends strangers to the sign-in page
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/staff/")


async def test_a_member_of_staff_works_through_the_console(
    browser: Browser, console: Console, tmp_path: Path
) -> None:
    shots = _shots_dir(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport=DESKTOP)
    watched = Watched(await context.new_page())
    page = watched.page
    base = console.base

    await _sign_in(page, base)
    assert await page.get_by_role("heading", name=re.compile(r"^Calls today: \d+")).is_visible()
    await page.screenshot(path=str(shots / "staff-console.png"), full_page=True)

    # Find a call by a word said in it, and read it.
    await page.get_by_role("link", name="Calls", exact=True).click()
    await page.get_by_label("Words said in the call").fill("crown")
    await page.get_by_role("button", name="Find calls").click()
    await page.wait_for_url("**/staff/calls?*q=crown*")
    await page.screenshot(path=str(shots / "staff-calls.png"))
    first = page.locator("ol.calls a.call").first
    assert "crown" in (await first.inner_text()).lower()
    await first.click()
    await page.wait_for_url("**/staff/calls/CA*")
    transcript = await page.locator("ol.transcript").inner_text()
    assert "crown" in transcript.lower() and "Receptionist" in transcript
    assert await page.locator("#summary-text").is_visible()  # the summary, above the words
    await page.locator("li.tool summary").first.click()  # a tool call opens to its result
    assert await page.locator("li.tool pre").first.is_visible()
    await page.screenshot(path=str(shots / "staff-call.png"), full_page=True)

    # Mark the first waiting message handled.
    await page.get_by_role("link", name="Messages").click()
    waiting = page.locator("ul.messages li.message")
    who = await waiting.first.locator("strong").inner_text()
    before = await waiting.count()
    await waiting.first.get_by_role("button", name="Mark handled").click()
    await page.get_by_text("Marked as handled.").wait_for()
    assert await page.locator("ul.messages li.message").count() == before - 1
    await page.get_by_role("link", name="Handled").click()
    assert f"by {EMAIL}" in await page.locator("ul.messages").inner_text()
    assert who in await page.locator("ul.messages").inner_text()

    # Cancel the first upcoming appointment.
    await page.get_by_role("link", name="Appointments").click()
    cancel = page.get_by_role("link", name="Cancel").first
    label = await cancel.get_attribute("aria-label")
    await cancel.click()
    await page.get_by_role("button", name="Yes, cancel it").click()
    await page.get_by_text("The appointment is cancelled").wait_for()
    assert label and await page.get_by_label(label).count() == 0

    # Sign out: the console is closed again.
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_text("You are signed out.").wait_for()
    await page.goto(f"{base}/staff/calls")
    assert "/staff/login" in page.url

    assert watched.errors == []
    await context.close()


async def test_a_call_in_progress_updates_itself(browser: Browser, console: Console) -> None:
    context = await browser.new_context(viewport=DESKTOP)
    watched = Watched(await context.new_page())
    page = watched.page
    await _sign_in(page, console.base)
    await page.goto(f"{console.base}/staff/calls/CAlivebrowser")
    assert await page.locator("#live-badge").inner_text() == "Live"
    async with console.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO transcript_turns (call_sid, seq, speaker, text, offset_ms) VALUES "
                "('CAlivebrowser', 1, 'caller', 'Hi, my filling fell out <b>again</b>', 4200)"
            )
        )
    new_line = page.locator("li.turn.caller .text")
    await new_line.wait_for(timeout=10_000)  # the page polls every 2 s
    assert await new_line.inner_text() == "Hi, my filling fell out <b>again</b>"  # as text
    assert watched.errors == []
    await context.close()


async def test_the_console_reads_well_at_phone_width(
    browser: Browser, console: Console, tmp_path: Path
) -> None:
    shots = _shots_dir(tmp_path)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    watched = Watched(await context.new_page())
    page = watched.page
    await _sign_in(page, console.base)
    pages = ("/staff/", "/staff/calls", "/staff/messages", "/staff/appointments", "/staff/checks")
    for path in (*pages, "/"):
        await page.goto(console.base + path)
        # Nothing wider than the screen: no sideways scrolling on a phone.
        scroll_width = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= PHONE["width"], path
    await page.goto(console.base + "/staff/")
    await page.screenshot(path=str(shots / "staff-console-phone.png"), full_page=False)
    assert watched.errors == []
    await context.close()


async def test_the_checks_page_lists_what_needs_fixing(browser: Browser, console: Console) -> None:
    context = await browser.new_context(viewport=DESKTOP)
    watched = Watched(await context.new_page())
    page = watched.page
    await _sign_in(page, console.base)
    await page.get_by_role("link", name="Checks").click()
    await page.get_by_role("heading", name="Something needs fixing").wait_for()
    # The console's test service has no OpenAI key: that check fails and says how to fix it.
    openai = page.locator("li.todo", has_text="OpenAI")
    assert "Set OPENAI_API_KEY" in await openai.inner_text()
    assert await page.locator("li.ok", has_text="Business profile").count() == 1
    assert watched.errors == []
    await context.close()


async def test_a_form_posted_without_its_csrf_token_is_refused(
    browser: Browser, console: Console
) -> None:
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await _sign_in(page, console.base)
    await page.goto(f"{console.base}/staff/messages")
    form = page.locator("ul.messages li.message form").first
    await form.locator('input[name="csrf_token"]').evaluate("input => input.remove()")
    async with page.expect_navigation():
        await form.get_by_role("button", name="Mark handled").click()
    body = await page.locator("body").inner_text()
    assert "did not come from this site" in body
    await page.goto(f"{console.base}/staff/messages")
    assert await page.locator("ul.messages li.message").count() > 0  # nothing was changed
    await context.close()


async def test_no_inline_script_or_style_is_allowed(browser: Browser, console: Console) -> None:
    """The Content-Security-Policy really binds: an injected inline script does not run."""
    context = await browser.new_context(viewport=DESKTOP)
    watched = Watched(await context.new_page())
    page = watched.page
    await page.goto(f"{console.base}/staff/login")
    with contextlib.suppress(Error):  # Playwright may report the refused script: the point
        await page.add_script_tag(content="window.injected = true;")
    assert await page.evaluate("window.injected === undefined")
    assert any("Content Security Policy" in e for e in watched.errors)
    await context.close()
