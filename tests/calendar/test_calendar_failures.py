"""When the calendar fails (down, hanging, revoked, never linked), callers are offered a
message, never a time nobody checked; a revoked grant disconnects it and tells the owner once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.functions.business_client import BusinessError
from app.staff.accounts import add_account
from tests.calendar.console_kit import link_caldav
from tests.calendar.radicale import Radicale
from tests.calendar.stall import closed_port_url, stalled_server
from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.signin import sign_in

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
NY = ZoneInfo("America/New_York")
OWNER = "+15557770000"


def tomorrow() -> str:
    return (datetime.now(NY) + timedelta(days=1)).date().isoformat()


async def check_in_a_call(h: CallHarness) -> dict[str, Any]:
    """A caller asks for a time; the tool's result, as the model got it."""
    async with h.caller() as caller:
        await caller.call()
        await caller.wait_until_heard(400)
        await caller.say_and_wait(600)
        async with asyncio.timeout(15):  # the tool's answer, then the agent's words about it
            while not await h.fetch(
                "SELECT 1 FROM tool_calls WHERE call_sid = :s", s=caller.call_sid
            ):
                await h.flush()
                await asyncio.sleep(0.1)
        await until_quiet(caller)
        await caller.hangup()
    await h.wait_call_ended(caller.call_sid)
    (row,) = await h.fetch(
        "SELECT ok, result FROM tool_calls WHERE call_sid = :s", s=caller.call_sid
    )
    return row


def script() -> FakeRealtimeConfig:
    return FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["Any cleaning tomorrow?"],
        replies=[
            FunctionCallReply("check_availability", {"service": "Cleaning", "date": tomorrow()}),
            AudioReply("I'm sorry, I can't see the diary right now. May I take a message?", 600),
        ],
    )


@pytest.mark.parametrize("how", ["down", "hanging"])
async def test_a_calendar_that_is_down_or_hangs_gets_a_message_offered_not_a_time(
    db_url: str, tmp_path: Path, how: str
) -> None:
    async with CallHarness(
        db_url, tmp_path, model_config=script(), business_profile=PROFILE, calendar="caldav"
    ) as h:
        if how == "down":
            await link_caldav(h, closed_port_url() + "owner/cal/")
            row = await check_in_a_call(h)
        else:
            with stalled_server() as url:
                await link_caldav(h, url + "owner/cal/")
                row = await check_in_a_call(h)
        assert h.model.violations == []
    assert row["ok"] is False
    assert row["result"]["error"] == "calendar_unavailable"
    assert "can't see the diary" in row["result"]["say"]
    assert "slots" not in row["result"]


async def test_availability_answers_503_fast_and_is_not_retried_when_the_calendar_hangs(
    db_url: str, tmp_path: Path
) -> None:
    async with CallHarness(db_url, tmp_path, business_profile=PROFILE, calendar="caldav") as h:
        with stalled_server() as url:
            await link_caldav(h, url + "owner/cal/")
            loop = asyncio.get_running_loop()
            began = loop.time()
            day = datetime.fromisoformat(tomorrow()).date()
            with pytest.raises(BusinessError) as caught:
                await h.runtime.business.client.get_availability(day, "Cleaning")
            took = loop.time() - began
    assert caught.value.status == 503 and caught.value.code == "calendar_unavailable"
    # One calendar timeout (2 s), not two: inside the tool's 3 s, so the agent can say why.
    assert 1.9 < took < 2.9


async def test_never_linked_means_no_booking_and_today_says_so(db_url: str, tmp_path: Path) -> None:
    async with CallHarness(
        db_url, tmp_path, model_config=script(), business_profile=PROFILE, calendar="caldav"
    ) as h:
        row = await check_in_a_call(h)
        await add_account(h.engine, "owner@example.com", "a long staff password 1")
        async with httpx.AsyncClient(base_url=h.base_url) as http:
            await sign_in(http, "owner@example.com", "a long staff password 1")
            today = await http.get("/staff/")
    assert row["result"]["error"] == "calendar_unavailable"
    assert "Your calendar is not linked yet" in today.text


async def test_a_revoked_password_disconnects_the_calendar_and_tells_the_owner_once(
    db_url: str, tmp_path: Path, radicale: Radicale, calendar_url: str
) -> None:
    async with CallHarness(
        db_url,
        tmp_path,
        business_profile=PROFILE,
        calendar="caldav",
        notify_sms_to=OWNER,
    ) as h:
        await link_caldav(h, calendar_url, password="revoked-app-password")
        day = datetime.fromisoformat(tomorrow()).date()
        for _ in range(3):  # three callers ask; the owner is told once
            with pytest.raises(BusinessError) as caught:
                await h.runtime.business.client.get_availability(day, "Cleaning")
            assert caught.value.code == "calendar_unavailable"
            await h.runtime.calendar.forget() if h.runtime.calendar else None
        links = await h.fetch("SELECT status, last_error FROM calendar_links")
        alerts = await h.fetch(
            "SELECT recipient, body FROM notifications WHERE kind = 'calendar_disconnected'"
        )
        async with asyncio.timeout(10):
            while len(h.twilio.messages.sent) < 1:
                await asyncio.sleep(0.1)
        await add_account(h.engine, "owner@example.com", "a long staff password 1")
        async with httpx.AsyncClient(base_url=h.base_url) as http:
            await sign_in(http, "owner@example.com", "a long staff password 1")
            today = await http.get("/staff/")
            page = await http.get("/staff/calendar")
    assert [link_row["status"] for link_row in links] == ["disconnected"]
    assert len(alerts) == 1 and alerts[0]["recipient"] == OWNER
    assert "lost access to your calendar" in alerts[0]["body"]
    assert [m.to for m in h.twilio.messages.sent] == [OWNER]
    assert "Your calendar was disconnected" in today.text
    assert "Disconnected" in page.text
    assert "revoked-app-password" not in page.text + today.text + alerts[0]["body"]
    assert datetime.now(UTC)  # the page rendered in the business's zone without error
