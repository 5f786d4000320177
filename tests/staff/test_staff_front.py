"""The front door (/) and the console's Checks page: the doctor's checks, one implementation;
no secret, no call data."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from console_kit import running_console, signed_in
from sqlalchemy import text

from app.db.embedded import EmbeddedPostgres
from app.doctor import CHECKS
from tests.doubles.openai_text import FakeOpenAIText
from tests.doubles.twilio_api import FakeTwilioAPI

ACCOUNT = "AC" + "7" * 32
TOKEN = "twilio-token-never-shown"
BASE = "https://desk.example.com"


def check_names(page: str) -> list[str]:
    return re.findall(r"<strong>([^<]+)</strong>:", page)


async def test_a_configured_service_says_it_is_ready_and_reveals_no_secret(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    async with FakeTwilioAPI(ACCOUNT, TOKEN) as twilio, FakeOpenAIText() as openai:
        twilio.numbers.add(
            "+16175550100",
            voice_url=f"{BASE}/twilio/incoming",
            status_callback=f"{BASE}/twilio/status",
        )
        settings = {
            "openai_api_key": openai.api_key,
            "openai_api_base": openai.base_url,
            "twilio_account_sid": ACCOUNT,
            "twilio_auth_token": TOKEN,
            "twilio_phone_number": "+16175550100",
            "twilio_api_base": twilio.base_url,
            "public_base_url": BASE,
        }
        async with running_console(postgres, tmp_path, **settings) as console:
            async with console.engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO calls (call_sid, from_number) VALUES ('CAsecretcall', "
                        "'+16175559876')"
                    )
                )
            async with httpx.AsyncClient(base_url=console.base) as http:
                page = await http.get("/")
    assert page.status_code == 200
    assert "Maple Street Dental" in page.text and "Set up and ready for calls" in page.text
    assert 'href="/staff/"' in page.text and "/staff/phone" in page.text
    assert check_names(page.text) == [c.name for c in CHECKS]
    for value in (openai.api_key, TOKEN, "CAsecretcall", "9876"):
        assert value not in page.text


async def test_an_empty_setup_names_each_gap_with_its_fix(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    async with running_console(postgres, tmp_path) as console:
        async with console.engine.begin() as conn:
            await conn.execute(text("DELETE FROM staff_users"))
        async with httpx.AsyncClient(base_url=console.base) as http:
            page = (await http.get("/")).text
    assert "Set-up: what is still needed" in page
    assert "Set OPENAI_API_KEY" in page
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set" in page
    assert "Set PUBLIC_BASE_URL" in page
    assert "receptionist staff add you@example.com" in page


async def test_the_console_shows_the_same_checks_behind_the_login(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    async with running_console(postgres, tmp_path) as console:
        async with console.client() as http:
            refused = await http.get("/staff/checks")
            front = (await http.get("/")).text
        async with signed_in(console) as http:
            checks = (await http.get("/staff/checks")).text
    assert refused.status_code in (302, 303) and "/staff/login" in refused.headers["location"]
    # One implementation: the same checks, in the same order, as the front door and the doctor.
    assert check_names(checks) == check_names(front) == [c.name for c in CHECKS]
    assert "Something needs fixing" in checks and "Set OPENAI_API_KEY" in checks
