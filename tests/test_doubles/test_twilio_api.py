"""Tests for tests/doubles/twilio_api.py, driven through the official `twilio` package.

The sync client (requests) blocks, and the fake runs in this test's event loop, so sync SDK calls
go through asyncio.to_thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from tests.doubles.twilio_api import FakeTwilioAPI

CALL_SID = "CA" + "1" * 32
HANGUP = "<Response><Hangup/></Response>"


@pytest.fixture(scope="module")
async def api_server() -> AsyncIterator[FakeTwilioAPI]:
    async with FakeTwilioAPI() as fake:
        yield fake


@pytest.fixture
def api(api_server: FakeTwilioAPI) -> FakeTwilioAPI:
    api_server.reset()
    return api_server


def sdk_client(
    api: FakeTwilioAPI, *, auth_token: str | None = None, timeout: float = 5.0
) -> Client:
    """The official client pointed at the fake: the Api domain's base_url is public."""
    client = Client(
        api.account_sid, auth_token or api.auth_token, http_client=TwilioHttpClient(timeout=timeout)
    )
    client.api.base_url = api.base_url
    return client


@pytest.fixture
def make_client(api: FakeTwilioAPI) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(**kwargs: Any) -> Client:
        made.append(sdk_client(api, **kwargs))
        return made[-1]

    yield make
    for client in made:
        client.http_client.session.close()  # or requests leaves sockets for the GC to warn about


async def test_update_with_twiml_through_the_official_client(
    api: FakeTwilioAPI, make_client: Callable[..., Client]
) -> None:
    client = make_client()
    twiml = (
        "<Response><Say>One moment.</Say><Redirect>https://example.com/next</Redirect></Response>"
    )
    call = await asyncio.to_thread(lambda: client.calls(CALL_SID).update(twiml=twiml))
    assert (call.sid, call.status, call.account_sid) == (CALL_SID, "in-progress", api.account_sid)
    assert call.date_created is not None  # RFC 2822 dates parse with the SDK's deserializer
    [request] = api.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{api.account_sid}/Calls/{CALL_SID}.json"
    assert (request.account_sid, request.call_sid) == (api.account_sid, CALL_SID)
    assert request.form == {"Twiml": twiml}
    assert request.auth_ok and request.status_code == 200
    assert api.problems == []


async def test_hang_up_completes_the_call_and_a_later_redirect_fails(
    api: FakeTwilioAPI, make_client: Callable[..., Client]
) -> None:
    client = make_client()
    call = await asyncio.to_thread(lambda: client.calls(CALL_SID).update(status="completed"))
    assert call.status == "completed" and call.end_time is not None
    assert api.requests[-1].form == {"Status": "completed"}
    assert api.call_status(CALL_SID) == "completed"
    with pytest.raises(TwilioRestException) as failed:
        await asyncio.to_thread(lambda: client.calls(CALL_SID).update(twiml=HANGUP))
    assert (failed.value.status, failed.value.code) == (400, 21220)


async def test_not_found_surfaces_as_twilio_rest_exception_20404(
    api: FakeTwilioAPI, make_client: Callable[..., Client]
) -> None:
    client = make_client()
    api.set_mode(CALL_SID, "not_found")
    with pytest.raises(TwilioRestException) as failed:
        await asyncio.to_thread(lambda: client.calls(CALL_SID).update(status="completed"))
    assert (failed.value.status, failed.value.code) == (404, 20404)
    assert "was not found" in failed.value.msg
    other = "CA" + "2" * 32  # the override is per call
    assert (await asyncio.to_thread(lambda: client.calls(other).update(twiml=HANGUP))).sid == other
    api.set_mode(CALL_SID, None)
    api.mode = "error"
    with pytest.raises(TwilioRestException) as broken:
        await asyncio.to_thread(lambda: client.calls(other).update(twiml=HANGUP))
    assert (broken.value.status, broken.value.code) == (500, 20500)


async def test_wrong_credentials_are_401_authenticate(
    api: FakeTwilioAPI, make_client: Callable[..., Client]
) -> None:
    client = make_client(auth_token="wrong")
    with pytest.raises(TwilioRestException) as failed:
        await asyncio.to_thread(lambda: client.calls(CALL_SID).update(twiml=HANGUP))
    assert (failed.value.status, failed.value.code) == (401, 20003)
    assert api.requests[-1].auth_ok is False
    async with httpx.AsyncClient() as http:
        url = f"{api.base_url}/2010-04-01/Accounts/{api.account_sid}/Calls/{CALL_SID}.json"
        raw = await http.post(url, data={"Twiml": HANGUP})
    assert raw.status_code == 401
    assert raw.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


async def test_stall_makes_the_client_time_out_and_does_not_hang_stop() -> None:
    api = await FakeTwilioAPI().start()
    client = sdk_client(api, timeout=0.3)
    try:
        api.mode = "stall"
        started = time.perf_counter()
        with pytest.raises(requests.exceptions.Timeout):
            await asyncio.to_thread(lambda: client.calls(CALL_SID).update(status="completed"))
        assert 0.25 <= time.perf_counter() - started < 2.0
        await api.wait_for_requests(1)
        assert api.requests[0].status_code is None  # never answered
    finally:
        client.http_client.session.close()
        stopping = time.perf_counter()
        await api.stop()
    assert time.perf_counter() - stopping < 2.0


# aiohttp >= 3.12 deprecates the BasicAuth that the SDK's async client passes on every request.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning")
async def test_the_async_client_works_but_ignores_its_own_timeout(api: FakeTwilioAPI) -> None:
    http_client = AsyncTwilioHttpClient(timeout=0.1)
    client = Client(api.account_sid, api.auth_token, http_client=http_client)
    client.api.base_url = api.base_url
    try:
        call = await client.calls(CALL_SID).update_async(twiml=HANGUP)
        assert call.status == "in-progress"
        api.set_mode(CALL_SID, "not_found")
        with pytest.raises(TwilioRestException) as failed:
            await client.calls(CALL_SID).update_async(status="completed")
        assert failed.value.code == 20404
        api.set_mode(CALL_SID, "stall")
        started = time.perf_counter()
        # the SDK passes timeout=None to aiohttp per request, which disables aiohttp's timeout too
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.calls(CALL_SID).update_async(status="completed"), 0.5)
        assert time.perf_counter() - started >= 0.45  # the 0.1 s client timeout did not fire
    finally:
        await http_client.close()


async def test_twiml_problems_twilio_would_reject_are_recorded(api: FakeTwilioAPI) -> None:
    url = f"{api.base_url}/2010-04-01/Accounts/{api.account_sid}/Calls/{CALL_SID}.json"
    bad = '<Response><Dial action="/transfer-done"><Number url="whisper">+15550001111</Number></Dial></Response>'
    async with httpx.AsyncClient(auth=(api.account_sid, api.auth_token)) as http:
        ok = await http.post(url, data={"Twiml": bad})
        broken = await http.post(url, data={"Twiml": "<Response><Say>"})
        fetched = await http.get(url)
        unknown = await http.post(
            f"{api.base_url}/2010-04-01/Accounts/{api.account_sid}/Queues.json"
        )
    assert ok.status_code == 200 and broken.status_code == 200
    assert fetched.json()["sid"] == CALL_SID and fetched.json()["status"] == "in-progress"
    assert unknown.status_code == 404 and unknown.json()["code"] == 20404
    assert len(api.problems) == 3, api.problems
    assert sum("relative URL" in problem for problem in api.problems) == 2
    assert "12100" in api.problems[2]
    assert [r.status_code for r in await api.wait_for_requests(4)] == [200, 200, 200, 404]
