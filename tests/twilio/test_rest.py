"""Twilio REST through the official client, against the local FakeTwilioAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.config import load_settings
from app.twilio.rest import TwilioCalls
from tests.doubles.twilio_api import FakeTwilioAPI

SID = "AC" + "1" * 32
TOKEN = "rest-token-0123456789"
CALL = "CA" + "2" * 32


@pytest.fixture
async def api() -> AsyncIterator[FakeTwilioAPI]:
    async with FakeTwilioAPI(account_sid=SID, auth_token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def calls(api: FakeTwilioAPI) -> AsyncIterator[TwilioCalls]:
    settings = load_settings(
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_api_base=api.base_url,
        _env_file=None,
    )
    async with httpx.AsyncClient() as http:
        yield TwilioCalls(settings, http, timeout=0.5)


async def test_redirect_sends_the_twiml_with_basic_auth(
    api: FakeTwilioAPI, calls: TwilioCalls
) -> None:
    twiml = "<Response><Say>Hi</Say></Response>"
    assert await calls.redirect(CALL, twiml)
    [request] = api.requests
    assert request.path.endswith(f"/Accounts/{SID}/Calls/{CALL}.json")
    assert request.auth_ok and request.form == {"Twiml": twiml}


async def test_hang_up_is_idempotent(api: FakeTwilioAPI, calls: TwilioCalls) -> None:
    assert await calls.hang_up(CALL)
    assert await calls.hang_up(CALL)
    assert [r.form for r in api.requests] == [{"Status": "completed"}]


async def test_hanging_up_a_call_that_already_ended_is_success(
    api: FakeTwilioAPI, calls: TwilioCalls
) -> None:
    api.mode = "not_found"  # Twilio error 20404
    assert await calls.hang_up(CALL)
    assert not await calls.redirect(CALL, "<Response/>")  # but a redirect did not happen


async def test_server_errors_and_stalls_are_failures_not_exceptions(
    api: FakeTwilioAPI, calls: TwilioCalls
) -> None:
    api.mode = "error"
    assert not await calls.hang_up(CALL)
    api.mode = "stall"
    assert not await calls.redirect(CALL, "<Response/>")


async def test_without_credentials_nothing_is_sent(api: FakeTwilioAPI) -> None:
    settings = load_settings(twilio_api_base=api.base_url, _env_file=None)
    async with httpx.AsyncClient() as http:
        assert not await TwilioCalls(settings, http).hang_up(CALL)
    assert api.requests == []
