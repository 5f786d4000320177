"""Tests for tests/doubles/twilio_recordings.py, driven through the official `twilio` package
(async client) and plain HTTP for the media, as the service uses them."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from io import BytesIO

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from app.twilio.rest import HttpxTwilioClient
from tests.doubles.server import serve_app
from tests.doubles.twilio_api import FakeTwilioAPI

CALL_SID = "CA" + "3" * 32


@pytest.fixture
async def api() -> AsyncIterator[FakeTwilioAPI]:
    async with FakeTwilioAPI() as fake:
        yield fake


@pytest.fixture
async def sdk(api: FakeTwilioAPI) -> AsyncIterator[Client]:
    """The official client over httpx, as the service runs it (app/twilio/rest.py)."""
    async with httpx.AsyncClient(trust_env=False) as http:
        client = Client(api.account_sid, api.auth_token, http_client=HttpxTwilioClient(http, 5))
        client.api.base_url = api.base_url
        yield client


async def test_a_started_recording_completes_with_the_call_and_sends_a_signed_callback(
    api: FakeTwilioAPI, sdk: Client
) -> None:
    received: list[tuple[str, dict[str, str]]] = []

    async def hook(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        received.append((request.headers.get("x-twilio-signature", ""), form))
        return Response(status_code=204)

    async with serve_app(Starlette(routes=[Route("/rec", hook, methods=["POST"])])) as app:
        url = f"{app.http_url}/rec"
        client = sdk
        recording = await client.calls(CALL_SID).recordings.create_async(
            recording_channels="dual",
            recording_status_callback=url,
            recording_status_callback_event="in-progress completed",
        )
        assert recording.sid.startswith("RE") and recording.status == "in-progress"
        assert recording.channels == 2
        await client.calls(CALL_SID).update_async(status="completed")
        await api.recordings.settled()
        # A call that has ended cannot be recorded (21220).
        with pytest.raises(TwilioRestException) as refused:
            await client.calls(CALL_SID).recordings.create_async()
        assert refused.value.code == 21220
    assert [form["RecordingStatus"] for _, form in received] == ["in-progress", "completed"]
    validator = RequestValidator(api.auth_token)
    assert all(validator.validate(url, form, signature) for signature, form in received)
    fetched = await client.recordings(recording.sid).fetch_async()
    assert fetched.status == "completed" and int(fetched.duration) >= 1
    assert api.recordings.problems == []


async def test_media_is_a_real_wav_with_range_requests_and_delete_makes_it_gone(
    api: FakeTwilioAPI, sdk: Client
) -> None:
    made = api.recordings.add(CALL_SID, seconds=2)
    url = f"{api.base_url}/2010-04-01/Accounts/{api.account_sid}/Recordings/{made.sid}.wav"
    auth = (api.account_sid, api.auth_token)
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).status_code == 401
        whole = await http.get(url, auth=auth)
        assert whole.status_code == 200 and whole.headers["content-type"] == "audio/x-wav"
        with wave.open(BytesIO(whole.content)) as wav:
            assert wav.getnchannels() == 2 and wav.getframerate() == 8000
            assert wav.getnframes() == 16000
        part = await http.get(url, auth=auth, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == whole.content[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
        tail = await http.get(url, auth=auth, headers={"Range": "bytes=-10"})
        assert tail.content == whole.content[-10:]
        beyond = await http.get(url, auth=auth, headers={"Range": "bytes=99999999-"})
        assert beyond.status_code == 416
        mp3 = await http.get(url.replace(".wav", ".mp3"), auth=auth)
        assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
        # MPEG-2.5 Layer III frames of 72 ms (576 samples at 8 kHz): 2 s is 28 frames.
        assert mp3.content[:2] == b"\xff\xe3" and len(mp3.content) == 28 * 288
        head = await http.get(
            url.replace(".wav", ".mp3"), auth=auth, headers={"Range": "bytes=0-3"}
        )
        assert head.status_code == 206 and head.content == mp3.content[:4]
        await sdk.recordings(made.sid).delete_async()
        assert (await http.get(url, auth=auth)).status_code == 404
    with pytest.raises(TwilioRestException) as gone:
        await sdk.recordings(made.sid).delete_async()
    assert gone.value.code == 20404
