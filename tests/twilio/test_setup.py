"""`receptionist twilio setup` against the Twilio REST double (IncomingPhoneNumbers)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from app.config import Settings, load_settings
from app.twilio.numbers import fallback_url
from app.twilio.setup import run_setup
from tests.doubles.twilio_api import FakeTwilioAPI

ACCOUNT = "AC" + "1" * 32
TOKEN = "a-test-auth-token-not-a-real-one"
NUMBER = "+15559870000"
BASE = "https://receptionist.example.com"


@pytest.fixture
async def api() -> AsyncIterator[FakeTwilioAPI]:
    async with FakeTwilioAPI(ACCOUNT, TOKEN) as api:
        yield api


def settings(api: FakeTwilioAPI, **values: Any) -> Settings:
    defaults: dict[str, Any] = {
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_phone_number": NUMBER,
        "twilio_api_base": api.base_url,
        "public_base_url": BASE,
        "human_transfer_number": "+15550001111",
        "_env_file": None,
    }
    return load_settings(**{**defaults, **values})


async def setup(s: Settings, **options: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_setup(s, out, **options)
    return code, out.getvalue()


async def test_points_the_number_here_and_prints_before_and_after(api: FakeTwilioAPI) -> None:
    # A similar number comes first: the API's filter is a partial match.
    api.numbers.add("+155598700001", voice_url="https://other.example/voice")
    number = api.numbers.add(
        NUMBER, voice_url="https://old.example/voice", voice_application_sid="AP" + "2" * 32
    )
    code, text = await setup(settings(api))
    assert code == 0, text
    assert number.voice_url == f"{BASE}/twilio/incoming" and number.voice_method == "POST"
    assert number.status_callback == f"{BASE}/twilio/status"
    assert number.status_callback_method == "POST"
    assert number.voice_application_sid is None  # it would override the voice URL
    assert number.voice_fallback_url == fallback_url(settings(api))
    assert api.numbers.find("+155598700001").voice_url == "https://other.example/voice"  # type: ignore[union-attr]
    before, after = text.split("After:")
    assert "https://old.example/voice" in before and f"{BASE}/twilio/incoming" in after
    assert TOKEN not in text and api.numbers.problems == []
    assert all(r.auth_ok for r in api.requests)


async def test_the_fallback_is_twilio_hosted_twiml_that_dials_the_human(api: FakeTwilioAPI) -> None:
    url = fallback_url(settings(api))
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == "twimlets.com"
    twiml = parse_qs(parts.query)["Twiml"][0]
    assert "<Dial" in twiml and "+15550001111" in twiml and "<Say>" in twiml
    # Without a human number the caller hears a goodbye instead of silence.
    alone = parse_qs(urlsplit(fallback_url(settings(api, human_transfer_number=""))).query)
    assert "<Dial" not in alone["Twiml"][0] and "<Say>" in alone["Twiml"][0]


async def test_dry_run_changes_nothing(api: FakeTwilioAPI) -> None:
    number = api.numbers.add(NUMBER, voice_url="https://old.example/voice")
    code, text = await setup(settings(api), dry_run=True)
    assert code == 0 and "Would change" in text and f"{BASE}/twilio/incoming" in text
    assert number.voice_url == "https://old.example/voice"
    assert [r.method for r in api.requests] == ["GET"]


async def test_a_number_already_pointing_here_is_left_alone(api: FakeTwilioAPI) -> None:
    api.numbers.add(NUMBER)
    assert (await setup(settings(api)))[0] == 0
    api.requests.clear()
    code, text = await setup(settings(api))
    assert code == 0 and "nothing to change" in text
    assert [r.method for r in api.requests] == ["GET"]


async def test_a_given_fallback_url_is_used(api: FakeTwilioAPI) -> None:
    number = api.numbers.add(NUMBER)
    bin_url = "https://handler.twilio.com/twiml/EH" + "3" * 32
    assert (await setup(settings(api), fallback=bin_url))[0] == 0
    assert number.voice_fallback_url == bin_url


@pytest.mark.parametrize(
    ("base", "reason"),
    [
        ("http://receptionist.example.com", "https"),
        ("https://localhost:5050", "localhost"),
        ("https://127.0.0.1", "127.0.0.1"),
        ("https://10.0.0.5", "10.0.0.5"),
        ("", "PUBLIC_BASE_URL is not set"),
    ],
)
async def test_refuses_a_base_twilio_cannot_reach(
    api: FakeTwilioAPI, base: str, reason: str
) -> None:
    api.numbers.add(NUMBER)
    code, text = await setup(settings(api, public_base_url=base))
    assert code == 2 and "refused" in text and reason in text
    assert api.requests == []  # nothing was even read


async def test_a_number_not_in_the_account_is_named(api: FakeTwilioAPI) -> None:
    api.numbers.add("+15550002222")
    code, text = await setup(settings(api))
    assert code == 1 and "is not a number of account" in text


async def test_wrong_credentials_are_reported_without_the_token(api: FakeTwilioAPI) -> None:
    api.numbers.add(NUMBER)
    code, text = await setup(settings(api, twilio_auth_token="wrong-token-value"))
    assert code == 1 and "401" in text and "20003" in text
    assert "wrong-token-value" not in text
