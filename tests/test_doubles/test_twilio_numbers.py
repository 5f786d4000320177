"""The numbers and account of the Twilio REST double, read and written with the official SDK,
and the OpenAI double's models endpoint with the official `openai` client."""

from __future__ import annotations

import httpx
import openai
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from app.twilio.rest import HttpxTwilioClient
from tests.doubles.openai_text import FakeOpenAIText
from tests.doubles.twilio_api import FakeTwilioAPI

ACCOUNT = "AC" + "9" * 32
TOKEN = "numbers-double-token-0123456789"


def client(api: FakeTwilioAPI, http: httpx.AsyncClient, token: str = TOKEN) -> Client:
    c = Client(ACCOUNT, token, http_client=HttpxTwilioClient(http, 5.0))
    c.api.base_url = api.base_url
    return c


async def test_numbers_list_partially_fetch_and_update_through_the_sdk() -> None:
    async with FakeTwilioAPI(ACCOUNT, TOKEN) as api, httpx.AsyncClient() as http:
        api.numbers.add("+15559870000", voice_application_sid="AP" + "1" * 32)
        api.numbers.add("+15559870001")
        twilio = client(api, http)
        found = await twilio.incoming_phone_numbers.list_async(phone_number="555987", limit=5)
        assert sorted(n.phone_number for n in found) == ["+15559870000", "+15559870001"]
        wildcard = await twilio.incoming_phone_numbers.list_async(phone_number="+1555*870001")
        assert [n.phone_number for n in wildcard] == ["+15559870001"]
        sid = api.numbers.find("+15559870000").sid  # type: ignore[union-attr]
        updated = await twilio.incoming_phone_numbers(sid).update_async(
            voice_url="https://x.example/twilio/incoming",
            voice_method="post",
            voice_application_sid="",
        )
        assert updated.voice_url == "https://x.example/twilio/incoming"
        assert updated.voice_method == "POST" and not updated.voice_application_sid
        fetched = await twilio.incoming_phone_numbers(sid).fetch_async()
        assert fetched.voice_url == updated.voice_url and fetched.capabilities["voice"] is True
        assert api.numbers.problems == []


async def test_numbers_refuse_what_twilio_refuses() -> None:
    async with FakeTwilioAPI(ACCOUNT, TOKEN) as api, httpx.AsyncClient() as http:
        number = api.numbers.add("+15559870000")
        twilio = client(api, http)
        with pytest.raises(TwilioRestException) as fallback_alone:
            await twilio.incoming_phone_numbers(number.sid).update_async(
                voice_fallback_url="https://fallback.example/"
            )
        assert fallback_alone.value.code == 21405
        with pytest.raises(TwilioRestException) as unknown:
            await twilio.incoming_phone_numbers("PN" + "0" * 32).fetch_async()
        assert unknown.value.code == 20404
        with pytest.raises(TwilioRestException) as refused:
            await client(api, http, "wrong").api.account.fetch_async()
        assert refused.value.status == 401 and refused.value.code == 20003


async def test_the_account_fetch_carries_status_type_and_the_token() -> None:
    async with FakeTwilioAPI(ACCOUNT, TOKEN) as api, httpx.AsyncClient() as http:
        account = await client(api, http).api.account.fetch_async()
        assert (account.sid, account.status, account.type) == (ACCOUNT, "active", "Full")
        assert account.auth_token == TOKEN  # as Twilio does: never print this resource
        api.numbers.account_status = "suspended"
        assert (await client(api, http).api.account.fetch_async()).status == "suspended"


async def test_the_models_endpoint_answers_the_openai_client() -> None:
    async with FakeOpenAIText() as api:
        sdk = openai.AsyncOpenAI(api_key=api.api_key, base_url=api.base_url, max_retries=0)
        listed = [m.id async for m in sdk.models.list()]
        assert "gpt-realtime-2" in listed
        assert (await sdk.models.retrieve("gpt-4.1-mini")).id == "gpt-4.1-mini"
        with pytest.raises(openai.NotFoundError):
            await sdk.models.retrieve("gpt-nonexistent")
        wrong = openai.AsyncOpenAI(api_key="sk-wrong", base_url=api.base_url, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await wrong.models.list()
        await sdk.close()
        await wrong.close()
