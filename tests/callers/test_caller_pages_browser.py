"""The caller page in a real browser (headless Chromium): from the calls list to a number's
calls, messages and bookings; "Block this number", the webhook's `<Reject>`, Today's count, the
blocked list, and "Unblock" there; no console error on the way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page
from sqlalchemy import text

from app.staff.accounts import add_account
from tests.chromium import launched, need
from tests.doubles.harness import CallHarness
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.doubles.twilio_caller.config import CallerConfig

EMAIL = "desk@example.com"
PASSWORD = "a long enough password"
NUMBER = "+16175550142"
SHOWN = "+1 617-555-0142"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    need("chromium")
    async with launched() as chromium:
        yield chromium


async def seed(h: CallHarness) -> None:
    """Two earlier calls from the number: one left a message, one booked a cleaning."""
    now = datetime.now(UTC)
    async with h.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO calls (call_sid, from_number, started_at, ended_at, summary, "
                "summary_status) VALUES "
                "('CAcallerone', :n, :one, :one, 'Asked what a crown costs.', 'done'), "
                "('CAcallertwo', :n, :two, :two, 'Booked a cleaning.', 'done')"
            ),
            {"n": NUMBER, "one": now - timedelta(days=3), "two": now - timedelta(days=1)},
        )
        await conn.execute(
            text(
                "INSERT INTO messages (id, call_sid, caller_name, callback_number, message) "
                "VALUES ('msg_c1', 'CAcallerone', 'Ada Lovelace', :n, 'A quote for a crown.')"
            ),
            {"n": NUMBER},
        )
        await conn.execute(
            text(
                "INSERT INTO appointments (id, service, starts_at, ends_at, slot, "
                "customer_name, customer_phone, call_sid) VALUES ('apt_c1', 'Cleaning', :at, "
                ":end, 0, 'Ada Lovelace', :n, 'CAcallertwo')"
            ),
            {"n": NUMBER, "at": now + timedelta(days=2), "end": now + timedelta(days=2, hours=1)},
        )
    await add_account(h.engine, EMAIL, PASSWORD)


async def ring(h: CallHarness) -> str:
    async with h.caller(CallerConfig(from_number=NUMBER)) as caller:
        response = await caller.post_webhook()
    assert response.status_code == 200
    return response.text


async def test_caller_page_block_and_unblock(browser: Browser, db_url: str, tmp_path: Path) -> None:
    config = FakeRealtimeConfig(greeting=AudioReply("Hi, how can I help?", 400))
    async with CallHarness(db_url, tmp_path, model_config=config) as h:
        await seed(h)
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page: Page = await context.new_page()
        errors: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning"):
                errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        base = h.base_url
        await page.goto(f"{base}/staff/login")
        await page.get_by_label("Email").fill(EMAIL)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{base}/staff/")

        # The calls list links each call's number to its caller page.
        await page.goto(f"{base}/staff/calls")
        await page.get_by_role("link", name=f"Every call from {SHOWN}").first.click()
        await page.wait_for_url(f"{base}/staff/callers/**")
        assert await page.get_by_role("heading", name=f"Caller {SHOWN}").is_visible()
        assert await page.get_by_text("Asked what a crown costs.").is_visible()
        assert await page.get_by_text("Booked a cleaning.").is_visible()
        assert await page.get_by_text("A quote for a crown.").is_visible()
        assert await page.get_by_role("heading", name="Appointments: 1").is_visible()

        # The call page links back to it.
        await page.goto(f"{base}/staff/calls/CAcallerone")
        await page.locator("#caller-link").click()
        await page.wait_for_url(f"{base}/staff/callers/**")

        assert "<Connect " in await ring(h)
        await page.get_by_role("button", name="Block this number").click()
        await page.wait_for_url("**done=blocked")
        assert await page.locator("#blocked-badge").is_visible()
        assert '<Reject reason="busy" />' in await ring(h)
        await h.flush()

        await page.goto(f"{base}/staff/")
        assert "1 call blocked today" in await page.locator("#rejected-today").inner_text()
        await page.get_by_role("link", name="Blocked numbers").click()
        await page.wait_for_url(f"{base}/staff/callers/blocked")
        row = page.locator("#blocked-list li")
        assert await row.count() == 1
        assert "1 call turned away" in await row.inner_text()
        await row.get_by_role("button", name="Unblock").click()
        await page.wait_for_url("**done=unblocked")
        assert await page.get_by_text("No number is blocked.").is_visible()
        assert "<Connect " in await ring(h)
        await context.close()
        assert errors == []
