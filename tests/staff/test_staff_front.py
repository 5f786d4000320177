"""The front door (/): what the service is, what is set up, the next steps; no secret, no call."""

from __future__ import annotations

from pathlib import Path

import httpx
from console_kit import running_console
from sqlalchemy import text

from app.business.profile import load_profile
from app.config import load_settings
from app.db.embedded import EmbeddedPostgres
from app.db.engine import project_root
from app.front import setup_checks

PROFILE = load_profile(project_root() / "prompts" / "business.toml")


async def test_a_configured_service_says_it_is_ready_and_reveals_no_secret(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    secrets = {
        "openai_api_key": "sk-front-door-never-shown",
        "twilio_account_sid": "ACfrontdoornevershown",
        "twilio_auth_token": "twilio-token-never-shown",
        "twilio_phone_number": "+16175550100",
        "public_base_url": "https://desk.example.com",
    }
    async with running_console(postgres, tmp_path, **secrets) as console:
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
    assert "https://desk.example.com/twilio/incoming" in page.text  # the next step, spelled out
    for value in ("sk-front-door", "twilio-token", "ACfrontdoor", "CAsecretcall", "9876"):
        assert value not in page.text


async def test_an_empty_setup_names_each_gap_with_its_next_step(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    async with running_console(postgres, tmp_path) as console:
        async with console.engine.begin() as conn:
            await conn.execute(text("DELETE FROM staff_users"))
        async with httpx.AsyncClient(base_url=console.base) as http:
            page = (await http.get("/")).text
    assert "Set-up: what is still needed" in page
    assert "Set OPENAI_API_KEY" in page
    assert "Set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER" in page
    assert "Set PUBLIC_BASE_URL" in page
    assert "receptionist staff add you@example.com" in page


def test_an_unreachable_database_is_the_first_gap() -> None:
    settings = load_settings(_env_file=None)
    checks = setup_checks(settings, PROFILE, database_ok=False, staff_accounts=None)
    database = checks[0]
    assert (database.name, database.ok) == ("Database", False)
    assert "DATABASE_URL" in database.next_step
    assert not checks[-1].ok and "Unknown" in checks[-1].detail


def test_an_http_public_url_is_not_enough_for_twilio() -> None:
    settings = load_settings(public_base_url="http://desk.example.com", _env_file=None)
    public = next(c for c in setup_checks(settings, PROFILE, True, 1) if c.name == "Public URL")
    assert not public.ok and "https" in public.next_step
