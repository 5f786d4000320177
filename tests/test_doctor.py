"""The doctor: every check passes on a good set-up, and each one's failure path gives its fix.

Against the Twilio REST double (IncomingPhoneNumbers, the account fetch), the OpenAI double's
models endpoint, a real PostgreSQL and a real SMTP server with a login (aiosmtpd).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy.ext.asyncio import AsyncEngine

from app import cli
from app.config import Settings, load_settings
from app.db.embedded import EmbeddedPostgres
from app.db.engine import make_engine, upgrade
from app.doctor import CHECKS, Check, CheckResult, Finding, Patient, run_checks
from app.staff.accounts import add_account
from tests.conftest import create_database
from tests.doubles.openai_text import FakeOpenAIText
from tests.doubles.server import free_port
from tests.doubles.twilio_api import FakeTwilioAPI

ACCOUNT = "AC" + "4" * 32
TOKEN = "doctor-test-auth-token-0123456789"
NUMBER = "+15559870000"
BASE = "https://receptionist.example.com"
SMTP_PASSWORD = "smtp-secret-password"


class _Mailbox:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 itself


@pytest.fixture
def smtp_port() -> Iterator[int]:
    port = free_port()
    controller = Controller(
        _Mailbox(),
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioAPI]:
    async with FakeTwilioAPI(ACCOUNT, TOKEN) as api:
        api.numbers.add(
            NUMBER,
            voice_url=f"{BASE}/twilio/incoming",
            status_callback=f"{BASE}/twilio/status",
        )
        yield api


@pytest.fixture
async def openai() -> AsyncIterator[FakeOpenAIText]:
    async with FakeOpenAIText() as api:
        yield api


@pytest.fixture
async def good(
    twilio: FakeTwilioAPI, openai: FakeOpenAIText, smtp_port: int, db_url: str
) -> dict[str, Any]:
    engine = make_engine(db_url, pool_size=1)
    await add_account(engine, "owner@example.com", "a long enough password")
    await engine.dispose()
    return {
        "database_url": db_url,
        "public_base_url": BASE,
        "openai_api_key": openai.api_key,
        "openai_api_base": openai.base_url,
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_phone_number": NUMBER,
        "twilio_api_base": twilio.base_url,
        "smtp_url": f"smtp://owner:{SMTP_PASSWORD}@127.0.0.1:{smtp_port}",
        "notify_from_email": "receptionist@example.com",
        "notify_email_to": "owner@example.com",
        "_env_file": None,
    }


async def examine(
    values: dict[str, Any], engine: AsyncEngine | None = None, environ: dict[str, str] | None = None
) -> dict[str, CheckResult]:
    settings: Settings = load_settings(**values)
    own = engine is None and settings.database_url is not None
    if own:
        assert settings.database_url is not None
        engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with httpx.AsyncClient(trust_env=False) as http:
            results = await run_checks(Patient(settings, http, engine, environ or {}))
    finally:
        if own and engine is not None:
            await engine.dispose()
    return {r.name: r for r in results}


async def test_a_good_set_up_passes_every_check(good: dict[str, Any]) -> None:
    results = await examine(good)
    assert [r.name for r in results.values()] == [c.name for c in CHECKS]
    assert all(r.ok for r in results.values()), [r for r in results.values() if not r.ok]
    text = " ".join(r.detail for r in results.values())
    assert TOKEN not in text and SMTP_PASSWORD not in text


def failed(results: dict[str, CheckResult], name: str) -> CheckResult:
    result = results[name]
    assert not result.ok and result.fix and "\n" not in result.fix, result
    return result


async def test_settings_refused_on_fly_without_a_database(good: dict[str, Any]) -> None:
    results = await examine({**good, "database_url": None}, environ={"FLY_APP_NAME": "x"})
    assert "DATABASE_URL" in failed(results, "Settings").detail


async def test_public_url_must_be_https(good: dict[str, Any]) -> None:
    results = await examine({**good, "public_base_url": "http://127.0.0.1:5050"})
    failed(results, "Public URL")


async def test_database_not_migrated_then_unreachable(
    good: dict[str, Any], empty_db_url: str
) -> None:
    results = await examine({**good, "database_url": empty_db_url})
    assert failed(results, "Database").fix == "Run: receptionist migrate"
    dead = "postgresql://postgres@127.0.0.1:1/none"
    results = await examine({**good, "database_url": dead})
    assert "does not answer" in failed(results, "Database").detail


async def test_openai_key_refused_and_model_missing(
    good: dict[str, Any], openai: FakeOpenAIText
) -> None:
    results = await examine({**good, "openai_api_key": "sk-wrong-key"})
    assert "refused the key" in failed(results, "OpenAI").detail
    assert "sk-wrong-key" not in str(results)
    # A model the service knows, but this key's project cannot use.
    results = await examine({**good, "openai_realtime_model": "gpt-realtime-1.5"})
    assert "OPENAI_REALTIME_MODEL=gpt-realtime-1.5" in failed(results, "OpenAI").detail
    results = await examine({**good, "openai_api_key": ""})
    assert "OPENAI_API_KEY" in failed(results, "OpenAI").fix


async def test_twilio_credentials_refused_or_account_suspended(
    good: dict[str, Any], twilio: FakeTwilioAPI
) -> None:
    results = await examine({**good, "twilio_auth_token": "not-the-token-at-all"})
    failed(results, "Twilio account")
    failed(results, "Twilio number")
    assert "not-the-token-at-all" not in str(results)
    twilio.numbers.account_status = "suspended"
    results = await examine(good)
    assert "suspended" in failed(results, "Twilio account").detail


async def test_the_number_must_point_here(good: dict[str, Any], twilio: FakeTwilioAPI) -> None:
    number = twilio.numbers.find(NUMBER)
    assert number is not None
    number.voice_url = "https://demo.twilio.com/welcome/voice/"
    result = failed(await examine(good), "Twilio number")
    assert result.fix == "Run: receptionist twilio setup" and "demo.twilio.com" in result.detail
    number.voice_url = f"{BASE}/twilio/incoming"
    number.voice_application_sid = "AP" + "5" * 32
    assert "TwiML App" in failed(await examine(good), "Twilio number").detail
    results = await examine({**good, "twilio_phone_number": "+15550009999"})
    assert "not a number of this account" in failed(results, "Twilio number").detail


async def test_a_broken_business_profile(good: dict[str, Any], tmp_path: Path) -> None:
    broken = tmp_path / "business.toml"
    broken.write_text("name = \n")
    results = await examine({**good, "business_profile": broken})
    assert "business.toml" in failed(results, "Business profile").detail


async def test_smtp_login_refused_or_unreachable(good: dict[str, Any], smtp_port: int) -> None:
    wrong = f"smtp://owner:not-the-password@127.0.0.1:{smtp_port}"
    result = failed(await examine({**good, "smtp_url": wrong}), "Email (SMTP)")
    assert "refused the login" in result.detail and "not-the-password" not in str(result)
    closed = f"smtp://owner:x@127.0.0.1:{free_port()}"
    assert (
        "cannot be reached"
        in failed(await examine({**good, "smtp_url": closed}), "Email (SMTP)").detail
    )
    off = {**good, "smtp_url": None, "notify_email_to": "", "notify_from_email": None}
    assert (await examine(off))["Email (SMTP)"].ok


async def test_a_check_appended_later_runs_and_a_crashing_one_is_a_failure(
    good: dict[str, Any],
) -> None:
    async def calendar(p: Patient) -> Finding:
        return Finding(False, "Calendar not reachable.", "Relink it in the console.")

    async def buggy(p: Patient) -> Finding:
        raise RuntimeError("bug")

    settings = load_settings(**{**good, "database_url": None})
    async with httpx.AsyncClient(trust_env=False) as http:
        checks = [*CHECKS[:2], Check("Calendar", calendar), Check("Buggy", buggy)]
        results = await run_checks(Patient(settings, http, None, {}), checks)
    assert [r.name for r in results][-2:] == ["Calendar", "Buggy"]
    assert not results[-1].ok and "RuntimeError" in results[-1].detail


async def test_the_command_exits_non_zero_on_a_failure_and_prints_fixes(
    good: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in good.items():
        if not name.startswith("_") and value is not None:
            monkeypatch.setenv(name.upper(), str(value))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-refused-by-the-double")
    # In a thread: the doubles answer on this test's event loop.
    assert await asyncio.to_thread(cli.main, ["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL OpenAI" in out and "fix: Set OPENAI_API_KEY" in out
    assert "ok   Twilio number" in out and f"1 of {len(CHECKS)} checks failed" in out
    for secret in ("sk-refused-by-the-double", TOKEN, SMTP_PASSWORD):
        assert secret not in out
    monkeypatch.setenv("PORT", "not-a-port")
    assert await asyncio.to_thread(cli.main, ["doctor"]) == 1
    assert "FAIL Settings: invalid PORT" in capsys.readouterr().out


async def test_no_staff_login_yet(good: dict[str, Any], postgres: EmbeddedPostgres) -> None:
    fresh = await create_database(postgres, "doctor")
    await upgrade(fresh)
    results = await examine({**good, "database_url": fresh})  # migrated, and no account
    assert "receptionist staff add" in failed(results, "Staff login").fix
